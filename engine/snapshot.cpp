// Snapshot files (format in snapshot.h).
#include "engine/snapshot.h"

#include <fmt/core.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "engine/hash.h"

namespace tickrt {
namespace {

constexpr char kMagic[8] = {'T', 'I', 'C', 'K', 'S', 'N', 'A', 'P'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kNoJournal = std::numeric_limits<uint64_t>::max();

template <class T>
void put(std::string& out, T v) {
  unsigned char b[sizeof(T)];
  for (std::size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<unsigned char>(static_cast<uint64_t>(v) >> (8 * i));
  out.append(reinterpret_cast<const char*>(b), sizeof(T));
}

// Reads little-endian values from a byte string, failing with the file's name when it runs out.
class Reader {
 public:
  Reader(const std::string& bytes, std::size_t end, std::string file) : b_(bytes), end_(end), file_(std::move(file)) {}
  template <class T>
  T get() {
    need(sizeof(T));
    uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    pos_ += sizeof(T);
    return static_cast<T>(v);
  }
  void bytes(void* out, std::size_t n) {
    need(n);
    if (n == 0) return;  // `out` may be an empty vector's null data()
    std::memcpy(out, b_.data() + pos_, n);
    pos_ += n;
  }
  std::size_t pos() const { return pos_; }

 private:
  void need(std::size_t n) const {
    if (n > end_ - pos_) throw std::runtime_error(fmt::format("{}: snapshot is truncated at byte {}", file_, pos_));
  }
  const std::string& b_;
  std::size_t end_;
  std::string file_;
  std::size_t pos_ = 0;
};

}  // namespace

void write_snapshot(const std::filesystem::path& file, const Snapshot& s) {
  std::string out;
  out.append(kMagic, 8);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, s.model_hash);
  put<uint64_t>(out, s.state_bytes);
  put<uint64_t>(out, s.instruments.size());
  for (const auto& in : s.instruments) {
    if (in.state.size() != s.state_bytes)
      throw std::runtime_error(fmt::format("{}: instrument in slot {} has {} state bytes, snapshot says {}",
                                           file.string(), in.slot, in.state.size(), s.state_bytes));
    put<int32_t>(out, in.slot);
    put<uint32_t>(out, static_cast<uint32_t>(in.symbol.size()));
    out += in.symbol;
    put<uint64_t>(out, in.journal_position.value_or(kNoJournal));
    out.append(reinterpret_cast<const char*>(in.state.data()), in.state.size());
    put<uint32_t>(out, static_cast<uint32_t>(in.engine_state.size()));
    if (!in.engine_state.empty())
      out.append(reinterpret_cast<const char*>(in.engine_state.data()), in.engine_state.size());
  }
  Fnv1a64 h;
  h.update(out.data(), out.size());
  put<uint64_t>(out, h.value());
  const std::filesystem::path tmp = file.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error(fmt::format("{}: cannot open for writing", tmp.string()));
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!f.flush()) throw std::runtime_error(fmt::format("{}: write failed", tmp.string()));
  }
  std::filesystem::rename(tmp, file);
}

Snapshot read_snapshot(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::ifstream f(file, std::ios::binary);
  if (!f) throw std::runtime_error(fmt::format("{}: cannot open snapshot", name));
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8 + 8 + 24 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw std::runtime_error(fmt::format("{}: not a tickrt snapshot (bad magic or too short)", name));
  const std::size_t body = bytes.size() - 8;
  Fnv1a64 h;
  h.update(bytes.data(), body);
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= uint64_t(static_cast<unsigned char>(bytes[body + i])) << (8 * i);
  if (stored != h.value()) throw std::runtime_error(fmt::format("{}: snapshot content hash mismatch (corrupt file)", name));
  Reader r(bytes, body, name);
  char magic[8];
  r.bytes(magic, 8);
  const uint32_t version = r.get<uint32_t>();
  if (version != kVersion)
    throw std::runtime_error(fmt::format("{}: snapshot version {} is not supported (expected {})", name, version, kVersion));
  (void)r.get<uint32_t>();
  Snapshot s;
  s.model_hash = r.get<uint64_t>();
  s.state_bytes = r.get<uint64_t>();
  const uint64_t n = r.get<uint64_t>();
  if (s.state_bytes == 0 || n > body / s.state_bytes)
    throw std::runtime_error(fmt::format("{}: snapshot header is inconsistent ({} instruments of {} bytes)", name, n,
                                         s.state_bytes));
  for (uint64_t i = 0; i < n; ++i) {
    SnapshotInstrument in;
    in.slot = r.get<int32_t>();
    const uint32_t symbol_len = r.get<uint32_t>();
    if (symbol_len > body - r.pos())  // checked before resizing: a corrupt length must not allocate 4 GB
      throw std::runtime_error(fmt::format("{}: snapshot symbol length {} at byte {} runs past the end", name,
                                           symbol_len, r.pos() - 4));
    in.symbol.resize(symbol_len);
    r.bytes(in.symbol.data(), in.symbol.size());
    const uint64_t jp = r.get<uint64_t>();
    if (jp != kNoJournal) in.journal_position = jp;
    in.state.resize(s.state_bytes);
    r.bytes(in.state.data(), in.state.size());
    const uint32_t m = r.get<uint32_t>();
    if (m > body - r.pos())
      throw std::runtime_error(fmt::format("{}: snapshot is truncated at byte {}", name, r.pos()));
    in.engine_state.resize(m);
    r.bytes(in.engine_state.data(), m);
    s.instruments.push_back(std::move(in));
  }
  if (r.pos() != body) throw std::runtime_error(fmt::format("{}: snapshot has trailing bytes", name));
  return s;
}

Snapshot capture_snapshot(const Backend& backend, uint64_t model_hash, const std::vector<int32_t>& slots) {
  Snapshot s;
  s.model_hash = model_hash;
  s.state_bytes = backend.state_bytes();
  for (int32_t slot : slots) {
    SnapshotInstrument in;
    in.slot = slot;
    in.state.resize(s.state_bytes);
    backend.read_state(slot, in.state.data());
    s.instruments.push_back(std::move(in));
  }
  return s;
}

void restore_snapshot(const Snapshot& s, Backend& backend, uint64_t model_hash, const std::string& source) {
  if (s.model_hash != model_hash)
    throw std::runtime_error(fmt::format("{}: snapshot was taken with model hash {:016x}, the loaded model is {:016x}",
                                         source, s.model_hash, model_hash));
  if (s.state_bytes != backend.state_bytes())
    throw std::runtime_error(fmt::format("{}: snapshot state is {} bytes per instrument, the backend's is {}", source,
                                         s.state_bytes, backend.state_bytes()));
  for (const auto& in : s.instruments)
    if (in.slot < 0 || in.slot >= backend.max_instruments())
      throw std::runtime_error(fmt::format("{}: snapshot slot {} is outside the backend's {} slots", source, in.slot,
                                           backend.max_instruments()));
  for (const auto& in : s.instruments) backend.write_state(in.slot, in.state.data());
}

}  // namespace tickrt
