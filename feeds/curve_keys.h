// CURVE (CurveZMQ) keys and how a socket is made a CURVE server or client.
//
// Key files are CZMQ's zcert text format, so `tickrt keygen` files and CZMQ/zcert certificates are
// interchangeable:
//
//   #   tickrt CURVE secret key ...          comments start with '#'
//   metadata                                 section names, ignored
//   curve
//       public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//       secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//
// PREFIX.pub holds the public key only and may be shared; PREFIX.key holds both and must be readable by its
// owner alone (mode 0600; a group- or world-accessible secret file is refused). Keys are Z85 text: 40
// characters that decode to 32 bytes. Readers treat the files as untrusted input: size-limited, every line
// checked, every error names the file (and line).
//
// Roles: the engine is the CURVE server on both its sockets (ticks in, signals out), whatever the
// bind/connect direction; feed publishers and signal subscribers are clients that know the server's public
// key. Which client keys a server admits is decided by a ZAP handler (feeds/zap_authenticator.h), which must
// be running in the same zmq context before the server socket binds or connects: without one, libzmq admits
// every CURVE client.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

namespace tickrt::feeds {

inline constexpr std::size_t kCurveKeyBytes = 32;  // a raw Curve25519 key
inline constexpr std::size_t kCurveKeyText = 40;   // its Z85 spelling
using CurveKeyBytes = std::array<std::uint8_t, kCurveKeyBytes>;

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; empty when read from a .pub file
};

// A fresh key pair (zmq_curve_keypair). Throws when libzmq was built without CURVE.
CurveKeyPair generate_curve_keypair();

// Writes PREFIX.key (both keys, mode 0600) and PREFIX.pub (public key). Refuses to replace either file
// unless `overwrite`. Returns the two paths written. Throws naming the file at fault.
struct CurveKeyFiles {
  std::filesystem::path secret_file, public_file;
};
CurveKeyFiles write_curve_key_files(const std::string& prefix, const CurveKeyPair& keys, bool overwrite);

// Reads a secret key file: both keys present and valid, the public key the one the secret key implies, and
// the file not accessible by group or others. Throws naming the file.
CurveKeyPair read_curve_secret_file(const std::filesystem::path& file);
// Reads a public key file (a secret key file works too; only its public key is taken). Throws naming the file.
std::string read_curve_public_file(const std::filesystem::path& file);
// The public keys a server admits: `path` is one key file or a directory whose *.pub files are read (other
// files are ignored; an empty directory is an error: it would admit nobody). Throws naming the file.
std::vector<CurveKeyBytes> read_curve_public_keys(const std::filesystem::path& path);

// Throws, naming `where`, unless `key` is 40 Z85 characters that decode to 32 bytes; returns the bytes.
CurveKeyBytes decode_curve_key(std::string_view key, std::string_view where);

// How one socket takes part in CURVE. Default: off (ZeroMQ's NULL mechanism, no encryption).
struct CurveOptions {
  enum class Role { off, server, client };
  Role role = Role::off;
  std::string public_key;  // own public key (Z85)
  std::string secret_key;  // own secret key (Z85)
  std::string server_key;  // client: the server's public key (Z85)
  std::string zap_domain = "tickrt";  // server: the ZAP domain its handshakes are authorised under

  bool enabled() const noexcept { return role != Role::off; }
};

// From the files of the command line: `--curve-key FILE.key` (server), and `--curve-server FILE.pub` too
// (client). Throw naming the file at fault.
CurveOptions curve_server_options(const std::filesystem::path& secret_file);
CurveOptions curve_client_options(const std::filesystem::path& secret_file, const std::filesystem::path& server_public_file);

// Sets the CURVE socket options; call before bind/connect. Does nothing when off. Throws naming the option.
void apply_curve(zmq::socket_t& socket, const CurveOptions& curve);

}  // namespace tickrt::feeds
