#include "feeds/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>

namespace tickrt::feeds {

namespace fs = std::filesystem;

namespace {

// A key file is a few hundred bytes; anything much larger is not one, and is not read into memory.
constexpr std::uintmax_t kMaxKeyFileBytes = 64 * 1024;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct ParsedKeyFile {
  std::optional<std::string> public_key, secret_key;
};

// zcert text: comments, section names (a bare word), and `name = "value"` lines; only the two keys matter.
ParsedKeyFile parse_key_file(const fs::path& file) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot read key file: {}", file.string(), ec.message()));
  if (size > kMaxKeyFileBytes)
    throw std::runtime_error(fmt::format("{}: {} bytes is too large for a key file (at most {})", file.string(),
                                         size, kMaxKeyFileBytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open key file", file.string()));
  ParsedKeyFile out;
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      // A section name ("metadata", "curve"): letters, digits, '-' and '_' only.
      const bool word = std::all_of(line.begin(), line.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      });
      if (!word) throw std::runtime_error(fmt::format("{}:{}: not a key file line", file.string(), line_no));
      continue;
    }
    const std::string_view name = trim(line.substr(0, eq));
    std::string_view value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    std::optional<std::string>* slot = name == "public-key" ? &out.public_key
                                       : name == "secret-key" ? &out.secret_key
                                                              : nullptr;
    if (!slot) continue;  // metadata entries
    if (slot->has_value())
      throw std::runtime_error(fmt::format("{}:{}: {} given twice", file.string(), line_no, name));
    decode_curve_key(value, fmt::format("{}:{}: {}", file.string(), line_no, name));
    *slot = std::string(value);
  }
  if (in.bad()) throw std::runtime_error(fmt::format("{}: read error", file.string()));
  return out;
}

// Creates (or, with `overwrite`, replaces) `file` with `mode` and writes `text`. O_EXCL makes "refuse to
// overwrite" race-free; fchmod makes a replaced file's mode the one asked for, whatever it was before.
void write_file(const fs::path& file, const std::string& text, mode_t mode, bool overwrite) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(file.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      throw std::runtime_error(fmt::format("{}: exists; keygen --force replaces it", file.string()));
    throw std::runtime_error(fmt::format("{}: cannot create: {}", file.string(), std::strerror(errno)));
  }
  bool ok = ::fchmod(fd, mode) == 0;
  for (std::size_t done = 0; ok && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ::fsync(fd) == 0 && ok;
  const int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) throw std::runtime_error(fmt::format("{}: cannot write: {}", file.string(), std::strerror(saved)));
}

std::string key_file_text(const CurveKeyPair& keys, bool with_secret) {
  std::string text = with_secret ? "#   tickrt CURVE secret key (zcert format): keep it private, mode 0600.\n"
                                   "#   Give the .pub file, never this one, to the other side.\n"
                                 : "#   tickrt CURVE public key (zcert format): safe to share.\n";
  text += "metadata\ncurve\n";
  text += fmt::format("    public-key = \"{}\"\n", keys.public_key);
  if (with_secret) text += fmt::format("    secret-key = \"{}\"\n", keys.secret_key);
  return text;
}

void require_curve() {
  if (!zmq_has("curve"))
    throw std::runtime_error("this libzmq was built without CURVE support (zmq_has(\"curve\") is false)");
}

}  // namespace

CurveKeyBytes decode_curve_key(std::string_view key, std::string_view where) {
  if (key.size() != kCurveKeyText)
    throw std::runtime_error(
        fmt::format("{}: a CURVE key is {} Z85 characters, this one has {}", where, kCurveKeyText, key.size()));
  for (std::size_t i = 0; i < key.size(); ++i)  // by position: never echo key material
    if (kZ85Alphabet.find(key[i]) == std::string_view::npos)
      throw std::runtime_error(fmt::format("{}: character {} is not Z85", where, i + 1));
  const std::string z(key);  // zmq_z85_decode wants a terminated string
  CurveKeyBytes bytes{};
  if (zmq_z85_decode(bytes.data(), z.c_str()) == nullptr)
    throw std::runtime_error(fmt::format("{}: not a valid Z85 key", where));
  return bytes;
}

CurveKeyPair generate_curve_keypair() {
  require_curve();
  char pub[kCurveKeyText + 1], sec[kCurveKeyText + 1];
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(fmt::format("zmq_curve_keypair: {}", zmq_strerror(zmq_errno())));
  return {pub, sec};
}

CurveKeyFiles write_curve_key_files(const std::string& prefix, const CurveKeyPair& keys, bool overwrite) {
  if (prefix.empty()) throw std::runtime_error("keygen: empty output prefix");
  decode_curve_key(keys.public_key, "public key");
  decode_curve_key(keys.secret_key, "secret key");
  CurveKeyFiles files{prefix + ".key", prefix + ".pub"};
  if (!overwrite)  // check both before writing either, so a refusal leaves nothing half-made
    for (const auto& f : {files.secret_file, files.public_file})
      if (fs::exists(f)) throw std::runtime_error(fmt::format("{}: exists; keygen --force replaces it", f.string()));
  write_file(files.secret_file, key_file_text(keys, true), 0600, overwrite);
  write_file(files.public_file, key_file_text(keys, false), 0644, overwrite);
  return files;
}

CurveKeyPair read_curve_secret_file(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw std::runtime_error(fmt::format("{}: cannot read secret key file: {}", file.string(), std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(fmt::format("{}: not a regular file", file.string()));
  if ((st.st_mode & 077) != 0)
    throw std::runtime_error(fmt::format("{}: secret key file is accessible by group or others (mode {:04o}); "
                                         "chmod 600 it",
                                         file.string(), st.st_mode & 07777));
  const ParsedKeyFile p = parse_key_file(file);
  if (!p.secret_key)
    throw std::runtime_error(fmt::format("{}: no secret-key (is this the .pub file? give the .key file)", file.string()));
  if (!p.public_key) throw std::runtime_error(fmt::format("{}: no public-key", file.string()));
  require_curve();
  char derived[kCurveKeyText + 1];
  if (zmq_curve_public(derived, p.secret_key->c_str()) != 0 || *p.public_key != derived)
    throw std::runtime_error(fmt::format("{}: public-key is not the secret-key's public key", file.string()));
  return {*p.public_key, *p.secret_key};
}

std::string read_curve_public_file(const fs::path& file) {
  const ParsedKeyFile p = parse_key_file(file);
  if (!p.public_key) throw std::runtime_error(fmt::format("{}: no public-key", file.string()));
  return *p.public_key;
}

std::vector<CurveKeyBytes> read_curve_public_keys(const fs::path& path) {
  std::vector<CurveKeyBytes> keys;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path))
      if (entry.path().extension() == ".pub" && entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) keys.push_back(decode_curve_key(read_curve_public_file(f), f.string()));
    if (keys.empty())
      throw std::runtime_error(fmt::format("{}: no *.pub client key files (nobody could connect)", path.string()));
  } else {
    keys.push_back(decode_curve_key(read_curve_public_file(path), path.string()));
  }
  return keys;
}

CurveOptions curve_server_options(const fs::path& secret_file) {
  const CurveKeyPair own = read_curve_secret_file(secret_file);
  CurveOptions c;
  c.role = CurveOptions::Role::server;
  c.public_key = own.public_key;
  c.secret_key = own.secret_key;
  return c;
}

CurveOptions curve_client_options(const fs::path& secret_file, const fs::path& server_public_file) {
  const CurveKeyPair own = read_curve_secret_file(secret_file);
  CurveOptions c;
  c.role = CurveOptions::Role::client;
  c.public_key = own.public_key;
  c.secret_key = own.secret_key;
  c.server_key = read_curve_public_file(server_public_file);
  return c;
}

void apply_curve(zmq::socket_t& socket, const CurveOptions& curve) {
  if (!curve.enabled()) return;
  require_curve();
  auto set = [&](int option, const std::string& value, std::string_view name) {
    if (zmq_setsockopt(socket.handle(), option, value.data(), value.size()) != 0)
      throw std::runtime_error(fmt::format("{}: {}", name, zmq_strerror(zmq_errno())));
  };
  decode_curve_key(curve.public_key, "CURVE public key");
  decode_curve_key(curve.secret_key, "CURVE secret key");
  if (curve.role == CurveOptions::Role::server) {
    const int on = 1;
    if (zmq_setsockopt(socket.handle(), ZMQ_CURVE_SERVER, &on, sizeof on) != 0)
      throw std::runtime_error(fmt::format("ZMQ_CURVE_SERVER: {}", zmq_strerror(zmq_errno())));
    set(ZMQ_CURVE_SECRETKEY, curve.secret_key, "ZMQ_CURVE_SECRETKEY");
    set(ZMQ_ZAP_DOMAIN, curve.zap_domain, "ZMQ_ZAP_DOMAIN");
  } else {
    decode_curve_key(curve.server_key, "CURVE server key");
    set(ZMQ_CURVE_SERVERKEY, curve.server_key, "ZMQ_CURVE_SERVERKEY");
    set(ZMQ_CURVE_PUBLICKEY, curve.public_key, "ZMQ_CURVE_PUBLICKEY");
    set(ZMQ_CURVE_SECRETKEY, curve.secret_key, "ZMQ_CURVE_SECRETKEY");
  }
}

}  // namespace tickrt::feeds
