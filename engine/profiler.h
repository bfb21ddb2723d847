// `tickrt profile`: end-to-end latency of the live engine under open-loop load, in one process.
//
//   generator thread ──tick──► engine thread (Engine::run) ──signal──► subscriber thread
//   (TickGenerator, paced      (the same engine as `tickrt run`,      (plain SUB socket, stamps
//    at a fixed mean rate,      its stage histograms)                  CLOCK_REALTIME on receipt)
//    stamps send time)
//
// All three share one zmq::context_t, so the inproc transport works as well as tcp (127.0.0.1, ports the
// system picks) and ipc (a temporary directory). Every stamp is CLOCK_REALTIME on one host, so differences
// between threads share one clock; across hosts they would depend on clock synchronisation.
//
// The run: the engine and the subscriber join first; a few probe ticks (symbol "PROBE", not counted as sent)
// go through until one comes back as a signal, so no measured tick is lost to ZeroMQ's slow-joiner window; then
// rate x duration ticks are sent open loop; the tail drains (bounded by drain_timeout_s); the engine stops.
// Afterwards, with no engine running, the transport floor is measured: a REQ/REP ping-pong over the same
// transport with a Tick-sized request and a Signal-sized reply (one way = round trip / 2).
//
// Series (ns, HdrHistogram 1 ns .. 60 s, 3 digits):
//   wire_in        publisher send -> engine receive (Engine::wire_in_latency)
//   decode, features, model, publish   engine stages (Engine::latencies)
//   engine_total   engine receive -> engine send
//   wire_out       engine send (Signal.publish_time_ns) -> subscriber receive
//   e2e            publisher send -> subscriber receive, corrected for coordinated omission with the expected
//                  interval 1/rate (a stalled tick also delays the ticks queued behind it)
//   e2e_uncorrected  the same without the correction
//   floor_one_way, floor_round_trip   the ping-pong; e2e crosses the transport twice (tick in, signal out), so
//                  it compares with the round trip
// The engine's histograms include the probe ticks (a handful, reported in counts.probes).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/hdr_histogram.h"
#include "feeds/pacer.h"

namespace tickrt {

enum class ProfileTransport { tcp, ipc, inproc };
ProfileTransport parse_profile_transport(const std::string& name);  // throws naming the value
const char* to_string(ProfileTransport t);

struct ProfileOptions {
  std::filesystem::path model_dir;  // empty: resolve_profile_model() picks one
  int instruments = 100;
  double rate = 20'000;             // mean ticks per second, all instruments together
  double duration_s = 10;           // rate * duration ticks are sent
  ProfileTransport transport = ProfileTransport::tcp;
  std::string backend = "cpu";
  int max_batch = 256;
  int cpu_engine = -1, cpu_gen = -1, cpu_sub = -1;  // pin the threads (-1: no pinning)
  uint64_t seed = 1;                // generator seed
  double drain_timeout_s = 5;       // most time to wait for the last signals after the last tick was sent
  int floor_round_trips = 20'000;   // ping-pong round trips timed for the floor (after 500 unmeasured)
  std::function<void(const std::string&)> log;  // progress lines; null: silent
};

struct ProfileSeries {
  std::string name;   // file stem of its .hgrm, key in summary.json
  std::string what;   // one line: from which stamp to which
  bool floor = false; // a transport floor (dashed in the plot)
  HdrHistogram hist{1, 60'000'000'000, 3};
};

struct ProfileCounts {
  uint64_t attempted = 0;          // ticks the generator produced
  uint64_t sent = 0;               // accepted by the publisher's socket
  uint64_t dropped_at_publisher = 0;  // refused at the publisher's send high-water mark
  uint64_t probes = 0;             // warm-up probe ticks (not in sent)
  uint64_t engine_received = 0;    // messages the engine read, probes excluded
  uint64_t engine_decode_rejects = 0;
  uint64_t engine_pipeline_rejects = 0;
  uint64_t engine_signals_dropped = 0;  // at the engine's send high-water mark
  uint64_t signals_received = 0;   // distinct measured ticks answered at the subscriber
  uint64_t duplicate_signals = 0;
  uint64_t unknown_signals = 0;    // seq outside the run or undecodable
  uint64_t missing = 0;            // sent - signals_received
  std::string missing_reason;      // empty when nothing is missing
};

struct ProfileResult {
  ProfileOptions options;
  std::string model_dir;
  std::string model_source;        // how the model was chosen
  std::string tick_endpoint, signal_endpoint;
  std::vector<ProfileSeries> series;  // in the order listed above
  ProfileCounts counts;
  size_t tick_bytes = 0, signal_bytes = 0;  // FlatBuffer payload sizes (the floor's message sizes)
  feeds::PacingStats pacing;
  double send_elapsed_s = 0, achieved_rate = 0, drain_s = 0;
  bool drained = false;            // every sent tick was answered before drain_timeout_s

  const ProfileSeries& at(const std::string& name) const;  // throws naming an unknown series
};

// The model a profile runs: options.model_dir when set; else models/default from the working directory or the
// source tree when it holds a model; else a random model of the built-in default architecture written to
// scratch_dir/model (config, weights of seed 1, identity features.json). `source` says which.
std::filesystem::path resolve_profile_model(const std::filesystem::path& model_dir,
                                            const std::filesystem::path& scratch_dir, std::string& source);
// The built-in default architecture: models/default.config.json's (without its comment).
nlohmann::json builtin_default_model_config();

// Runs the profile. Throws std::runtime_error naming the endpoint, model or thread at fault.
ProfileResult run_profile(const ProfileOptions& options);

// The table: one row per series (count, p50, p90, p99, p99.9, max in us), counts, goals (printed, never asserted).
std::string format_profile_report(const ProfileResult& r);
// summary.json: every number of the report, the command line and the machine (nproc, CPU, kernel, load, commit).
nlohmann::json profile_summary(const ProfileResult& r, const std::string& command_line);
// Writes DIR/<series>.hgrm (values in us) and DIR/summary.json; returns the paths written.
std::vector<std::string> write_profile_files(const ProfileResult& r, const std::filesystem::path& dir,
                                             const std::string& command_line);
// Runs tools/plot_latency.py (found beside the source tree or given) to draw DIR/latency.png from DIR's
// summary.json and .hgrm files. Returns "" on success, else why no plot was drawn.
std::string plot_profile(const std::filesystem::path& dir, const std::filesystem::path& script = {});

}  // namespace tickrt
