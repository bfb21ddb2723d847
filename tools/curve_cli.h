// The CURVE client options every ZeroMQ client subcommand shares (gen/replay --pub, subscribe, record, proxy):
// --curve-key FILE.key (own key pair, from `tickrt keygen`) and --curve-server FILE.pub (the engine's public
// key). Both or neither.
#pragma once
#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

#include "feeds/curve_keys.h"

namespace tickrt::cli {

struct CurveClientFiles {
  std::string key;     // own secret key file
  std::string server;  // the server's public key file
};

inline void add_curve_client_options(CLI::App& app, CurveClientFiles& files) {
  const std::string group = "CURVE (encrypted, authenticated; see tickrt keygen)";
  app.add_option("--curve-key", files.key, "own key pair FILE.key: connect as a CURVE client")
      ->check(CLI::ExistingFile)
      ->group(group);
  app.add_option("--curve-server", files.server, "the server's public key FILE.pub (with --curve-key)")
      ->check(CLI::ExistingFile)
      ->group(group);
}

// Off when neither file is given. Throws naming the file at fault, or the missing option.
inline feeds::CurveOptions curve_client_options(const CurveClientFiles& files) {
  if (files.key.empty() && files.server.empty()) return {};
  if (files.key.empty() || files.server.empty())
    throw std::runtime_error("--curve-key and --curve-server go together (own key pair, the server's public key)");
  return feeds::curve_client_options(files.key, files.server);
}

}  // namespace tickrt::cli
