// The live engine (`tickrt run`): ZeroMQ SUB -> verify -> pipeline (slot, features, batched model step) ->
// Signal -> ZeroMQ PUB, on one Boost.Asio io_context on one (optionally pinned) thread. Timers (metrics log,
// housekeeping), the /metrics endpoint and SIGINT/SIGTERM handling live on the same loop, so nothing the
// hot path touches is shared with another thread.
//
// On each wake-up the source drains up to --max-batch messages; the engine queues their ticks in the
// pipeline and steps them when the drain ends (or the batch is full), one batched step per wave.
#pragma once
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/latency.h"
#include "engine/metrics.h"
#include "engine/pipeline.h"
#include "engine/publisher.h"
#include "feeds/journal_writer.h"
#include "feeds/zap_authenticator.h"

namespace tickrt {

enum class LatePolicy { wait, stale };

struct EngineOptions {
  std::filesystem::path model_dir;
  std::vector<std::string> sub;     // endpoints (CZMQ notation; default connect)
  std::vector<std::string> pub;     // endpoints (default bind)
  std::vector<std::string> topics;  // subscription prefixes; empty: all (or `symbols` when that is set)
  // Scale-out (engine/shard.h): this engine owns the symbols whose fnv1a64(symbol) % shard_count ==
  // shard_index; with `symbols` it owns exactly those (and, with a shard too, only the listed ones of its
  // shard) and subscribes to them alone. Ticks of other symbols are dropped before they touch any state and
  // counted in tickrt_not_owned_total.
  int shard_index = 0;
  int shard_count = 1;
  std::vector<std::string> symbols;
  std::string backend = "cpu";
  int max_instruments = 1024;
  int max_batch = 256;
  int cpu = -1;                     // pin the engine thread to this CPU (-1: no pinning)
  int refresh_cpu = -1;             // pin the refresh thread (refresh_lag >= 1) to this CPU
  bool busy_poll = false;
  std::string metrics;              // HOST:PORT for /metrics; empty: not served
  double log_every_s = 10;          // metrics log line period; 0: never
  std::filesystem::path snapshot_dir;  // restore at start, write at shutdown; empty: none
  // Crash safety (engine/crash_journal.h): journal every owned tick to this file before its signal goes out,
  // and on start replay what the snapshot does not cover. Empty: no journal.
  std::filesystem::path journal_file;
  journal::FsyncPolicy journal_fsync = journal::FsyncPolicy::None;  // none survives kill -9, not power loss
  uint64_t snapshot_every = 0;      // write the snapshot every N accepted ticks (needs snapshot_dir); 0: never
  LatePolicy late_refresh = LatePolicy::wait;
  int receive_hwm = 1'000'000;
  int send_hwm = 1'000'000;
  // false (default): PUB semantics, a stalled signal subscriber loses signals alone, uncounted. true:
  // ZMQ_XPUB_NODROP, a full subscriber queue refuses the signal for every subscriber and counts it in
  // tickrt_signals_dropped_total: only right when there is exactly one subscriber (the profiler).
  bool count_signal_drops = false;
  bool handle_signals = true;       // SIGINT/SIGTERM stop the engine (tests running in-process turn it off)
  bool quiet = false;               // no log lines (tests)
  void* zmq_context = nullptr;      // a zmq::context_t to share (inproc transport); null: the engine's own
  // CURVE (feeds/curve_keys.h): with a secret key file both sockets are CURVE servers and only clients whose
  // public key is in `curve_clients` (a *.pub directory or one .pub file) get in; plain peers are refused.
  // The engine then runs the ZAP handler of its zmq context (one per context).
  std::filesystem::path curve_key;
  std::filesystem::path curve_clients;
};

// Stage stamps of every signal: recv -> decoded -> features -> model -> sent (engine internal), and the
// publisher's send time -> recv (the wire in), all CLOCK_REALTIME ns.
inline const std::vector<std::string> kEngineStages = {"decode", "features", "model", "publish"};

class Engine {
 public:
  // Setup: loads the model and features.json, makes the backend, opens the sockets, restores the snapshot.
  // Throws std::runtime_error naming the file, field or endpoint at fault.
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs the loop on the calling thread until SIGINT/SIGTERM or request_stop(): then stops intake, steps what
  // is queued, writes the snapshot (when configured) and returns 0. Returns 1 when the journal failed: the
  // engine then stopped at once, publishing nothing the journal does not hold and writing no snapshot.
  int run();
  // Asks a running engine to stop as a signal would. Any thread.
  void request_stop();

  // Before run(): waits until n subscriptions reached the signal socket (ZeroMQ's slow joiner). False on timeout.
  bool wait_for_subscribers(uint64_t n, std::chrono::milliseconds timeout);

  // Endpoints as bound/connected (a bind to port * shows the port the system chose).
  std::vector<std::string> sub_endpoints() const;
  std::vector<std::string> pub_endpoints() const;
  uint16_t metrics_port() const;
  const MetricsRegistry& metrics() const;
  const PipelineCounters& counters() const;
  // Handshakes admitted and refused (all zero when CURVE is off).
  const feeds::AuthCounters& auth_counters() const;
  // Latency histograms, read on the engine's thread or after run() returned.
  const StageLatencies& latencies() const;
  const HdrHistogram& wire_in_latency() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickrt
