// tickrt keygen: a CURVE key pair for the engine or one of its clients (feeds/curve_keys.h).
#include <fmt/core.h>

#include <memory>

#include "feeds/curve_keys.h"
#include "tools/command_registry.h"

namespace {

struct KeygenOptions {
  std::string prefix;
  bool force = false;
};

int run_keygen(const KeygenOptions& o) {
  const tickrt::feeds::CurveKeyPair keys = tickrt::feeds::generate_curve_keypair();
  const tickrt::feeds::CurveKeyFiles files = tickrt::feeds::write_curve_key_files(o.prefix, keys, o.force);
  fmt::print("keygen: secret key {} (mode 0600, keep it), public key {}: {}\n", files.secret_file.string(),
             files.public_file.string(), keys.public_key);
  return 0;
}

tickrt::cli::Registration reg("keygen", "make a CURVE key pair: PREFIX.key (secret, 0600) and PREFIX.pub", [](CLI::App& app) {
  auto o = std::make_shared<KeygenOptions>();
  app.add_option("--out", o->prefix, "PREFIX of the two files written")->required();
  app.add_flag("--force", o->force, "replace existing files (default: refuse)");
  app.footer(
      "Example (an engine, one feed publisher, one subscriber):\n"
      "  tickrt keygen --out keys/engine && mkdir -p keys/clients\n"
      "  tickrt keygen --out keys/feed && cp keys/feed.pub keys/clients/\n"
      "  tickrt keygen --out keys/desk && cp keys/desk.pub keys/clients/\n"
      "  tickrt run ... --curve-key keys/engine.key --curve-clients keys/clients\n"
      "  tickrt gen --pub @tcp://0.0.0.0:5555 ... --curve-key keys/feed.key --curve-server keys/engine.pub\n"
      "  tickrt subscribe --sub tcp://engine:5556 --curve-key keys/desk.key --curve-server keys/engine.pub\n"
      "The files are CZMQ zcert text; hand out .pub files only.");
  return [o] { return run_keygen(*o); };
});

}  // namespace
