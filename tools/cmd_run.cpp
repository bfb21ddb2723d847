// tickrt run: the live engine.
#include <fmt/core.h>

#include "engine/engine.h"
#include "engine/shard.h"
#include "tools/command_registry.h"

namespace {

tickrt::cli::Registration reg("run", "the live engine: ticks in over ZeroMQ, one model step per tick, signals out",
                              [](CLI::App& app) {
  auto o = std::make_shared<tickrt::EngineOptions>();
  auto late = std::make_shared<std::string>("wait");
  auto shard = std::make_shared<std::string>();
  auto symbols_file = std::make_shared<std::string>();
  auto journal_fsync = std::make_shared<std::string>("none");
  app.add_option("--model", o->model_dir, "model directory (config.json, model.safetensors, features.json)")
      ->required();
  app.add_option("--sub", o->sub, "tick endpoint(s) to subscribe to (default connect; @ binds)")->required();
  app.add_option("--pub", o->pub, "signal endpoint(s) to publish on (default bind; > connects)")->required();
  auto* topic = app.add_option("--topic", o->topics, "instrument symbol prefix(es) to subscribe to (default: all)");
  app.add_option("--shard", *shard,
                 "i/n: own the instruments whose FNV-1a 64 hash of the symbol mod n is i (scale-out; others are "
                 "dropped and counted in tickrt_not_owned_total)");
  app.add_option("--symbols", *symbols_file,
                 "FILE: own exactly these symbols (one per line) and subscribe to them alone")
      ->check(CLI::ExistingFile)
      ->excludes(topic);
  app.add_option("--backend", o->backend, "cpu or cuda")->capture_default_str();
  app.add_option("--max-instruments", o->max_instruments, "instrument slots (fixed at start)")
      ->capture_default_str();
  app.add_option("--max-batch", o->max_batch, "most ticks drained and stepped per wake-up")->capture_default_str();
  app.add_option("--cpu", o->cpu, "pin the engine thread to this CPU");
  app.add_option("--refresh-cpu", o->refresh_cpu, "pin the attention refresh thread (refresh_lag >= 1) to this CPU");
  app.add_flag("--busy-poll", o->busy_poll, "spin on the socket instead of sleeping (lowest latency, one core)");
  app.add_option("--metrics", o->metrics,
                 "serve Prometheus metrics at PORT (on 127.0.0.1) or HOST:PORT (another host: a warning is printed)");
  auto* curve_key = app.add_option("--curve-key", o->curve_key,
                                   "own key pair FILE.key (tickrt keygen): both sockets become CURVE servers")
                        ->check(CLI::ExistingFile)
                        ->group("CURVE (encrypted, authenticated; see tickrt keygen)");
  app.add_option("--curve-clients", o->curve_clients,
                 "DIR of client *.pub keys (or one .pub FILE) to admit; everyone else, plain peers too, is refused")
      ->check(CLI::ExistingPath)
      ->needs(curve_key)
      ->group("CURVE (encrypted, authenticated; see tickrt keygen)");
  app.add_option("--log-every", o->log_every_s, "seconds between metrics log lines (0: never)")
      ->capture_default_str();
  auto* snapshot = app.add_option("--snapshot", o->snapshot_dir,
                                  "restore state from DIR at start, write it there at shutdown");
  auto* journal_opt = app.add_option("--journal", o->journal_file,
                                 "crash safety: journal every tick taken in to FILE before its signal goes out; at "
                                 "start replay what the snapshot does not cover (engine/README.md, Crash safety)");
  app.add_option("--journal-fsync", *journal_fsync,
                 "none (survives kill -9), interval (1 s), every-batch (survives power loss) or every-record")
      ->check(CLI::IsMember({"none", "interval", "every-batch", "every-record"}))
      ->needs(journal_opt)
      ->capture_default_str();
  app.add_option("--snapshot-every", o->snapshot_every,
                 "write the snapshot every N accepted ticks too (with --journal: restart replays only what "
                 "came after it)")
      ->needs(snapshot);
  app.add_option("--late-refresh", *late, "attention refresh past its deadline: wait (exact) or stale")
      ->check(CLI::IsMember({"wait", "stale"}))
      ->capture_default_str();
  app.add_option("--rcvhwm", o->receive_hwm, "ZeroMQ receive high-water mark (messages)")->capture_default_str();
  app.add_option("--sndhwm", o->send_hwm, "ZeroMQ send high-water mark (messages)")->capture_default_str();
  app.footer(
      "Example:\n  tickrt run --model models/default --sub '>tcp://127.0.0.1:5555' --pub '@tcp://127.0.0.1:5556' \\\n"
      "      --metrics 127.0.0.1:9100 --snapshot /var/lib/tickrt/snap\n"
      "Scale-out (engine 1 of 3, publishing into `tickrt proxy`'s frontend):\n"
      "  tickrt run --model models/default --sub tcp://127.0.0.1:5555 --pub '>tcp://127.0.0.1:5560' --shard 1/3 \\\n"
      "      --snapshot /var/lib/tickrt/shard1 --metrics 127.0.0.1:9101\n"
      "Crash-safe (after kill -9 a restart replays the journal past the last snapshot; no signal twice):\n"
      "  tickrt run --model models/default --sub tcp://127.0.0.1:5555 --pub '@tcp://127.0.0.1:5556' \\\n"
      "      --journal /var/lib/tickrt/in.ticks --snapshot /var/lib/tickrt/snap --snapshot-every 10000\n"
      "With CURVE (keys from tickrt keygen; publishers and subscribers give --curve-key and --curve-server):\n"
      "  tickrt run --model models/default --sub tcp://10.0.0.5:5555 --pub @tcp://0.0.0.0:5556 \\\n"
      "      --curve-key keys/engine.key --curve-clients keys/clients --metrics 9100");
  return [o, late, shard, symbols_file, journal_fsync] {
    if (!shard->empty()) {
      const tickrt::ShardSpec s = tickrt::parse_shard(*shard);
      o->shard_index = s.index;
      o->shard_count = s.count;
    }
    if (!symbols_file->empty()) o->symbols = tickrt::read_symbols_file(*symbols_file);
    o->journal_fsync = tickrt::journal::parse_fsync_policy(*journal_fsync);
    o->late_refresh = *late == "stale" ? tickrt::LatePolicy::stale : tickrt::LatePolicy::wait;
    tickrt::Engine engine(*o);
    return engine.run();
  };
});

}  // namespace
