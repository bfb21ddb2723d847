// The live engine over real sockets (tcp and ipc): every tick gets exactly one signal, in order per
// instrument; live signals equal `tickrt infer` on the same ticks' features (inline refreshes and refresh_lag 2
// with the wait policy); hostile input changes no state and shows in the metrics; the hot path allocates
// nothing after warm-up; SIGTERM, snapshot, restart and continue equals an uninterrupted run.
#include <catch2/catch.hpp>
#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <random>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine/engine.h"
#include "engine/feature_spec.h"
#include "engine/model_init.h"
#include "engine/npy.h"
#include "engine/tick_adapter.h"
#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/generator.h"
#include "feeds/zmq_sink.h"
#include "tests/alloc_counter.h"
#include "tests/test_feed_util.h"
#include "tests/test_inproc_engine.h"
#include "tests/test_util.h"

using namespace tickrt;
using namespace std::chrono_literals;

namespace {

// A small model with every layer type; attention refreshes every 3 ticks with the given lag.
std::string make_model(const test::TempDir& dir, int lag) {
  nlohmann::json c = {
      {"format", "tickrt-model/1"},
      {"n_features", kFeatureCount},
      {"d_model", 16},
      {"outputs", {"a", "b"}},
      {"layers",
       {{{"type", "mamba"}, {"ffn", "mlp"}}, {{"type", "attention"}, {"ffn", "moe"}}, {{"type", "megalodon"}}}},
      {"attention", {{"n_heads", 2}, {"window", 32}, {"refresh_every", 3}, {"refresh_lag", lag}}},
      {"moe", {{"n_experts", 4}, {"top_k", 2}}},
      {"megalodon", {{"chunk_size", 8}, {"cema_ndim", 4}}}};
  const std::string out = dir / fmt::format("model_l{}", lag);
  Model m = init_model(ModelConfig::from_json(c, "test"), 7);
  perturb_weights(m, 7, 0.02f);
  m.save(out);
  FeatureSpec spec = FeatureSpec::untrained(kFeatureCount, {"a", "b"});
  for (auto& f : spec.features) f.clip = 8.0f;  // raw features span orders of magnitude; keep inputs bounded
  for (auto& f : spec.features) f.std = 4.0f;
  spec.save(std::filesystem::path(out) / "features.json");
  return out;
}

struct Received {
  std::map<std::string, std::vector<uint64_t>> seqs;              // per symbol, in arrival order
  std::map<std::string, std::vector<std::vector<float>>> preds;   // per symbol
  size_t total = 0;
};

// A subscriber on its own thread that collects signals until `expected` arrived or the deadline passed.
class Collector {
 public:
  Collector(zmq::context_t& ctx, const std::string& endpoint) : sub_(ctx, zmq::socket_type::sub) {
    sub_.set(zmq::sockopt::subscribe, "");
    sub_.set(zmq::sockopt::rcvhwm, 0);
    sub_.set(zmq::sockopt::rcvtimeo, 100);
    sub_.connect(endpoint);
  }
  // Collects until `expected` signals (probe signals aside) arrived or the time limit passed.
  void collect(size_t expected, std::chrono::milliseconds limit) {
    feeds::MessageDecoder dec;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (got.total < expected && std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(sub_, std::back_inserter(parts))) continue;
      REQUIRE(parts.size() == 2);
      auto d = dec.decode(parts[0].to_string_view(),
                          {static_cast<const uint8_t*>(parts[1].data()), parts[1].size()});
      REQUIRE(d.ok);
      REQUIRE(d.kind == feeds::PayloadKind::Signal);
      const std::string sym(d.signal.symbol);
      if (sym == "PROBE") {  // connection probes (see probe_until_connected), not part of the feed
        probe_seen = true;
        continue;
      }
      got.seqs[sym].push_back(d.signal.seq);
      got.preds[sym].emplace_back(d.signal.prediction, d.signal.prediction + d.signal.prediction_count);
      ++got.total;
    }
  }
  Received got;
  bool probe_seen = false;

 private:
  zmq::socket_t sub_;
};

using test::Feed;
using test::make_feed;

void publish(feeds::ZmqSink& sink, const Feed& f, size_t begin, size_t end) {
  feeds::MessageBuilder b;
  for (size_t i = begin; i < end; ++i) {
    feeds::TickEvent e = f.ticks[i];
    e.send_time_ns = feeds::realtime_ns();
    REQUIRE(sink.publish(e.symbol, b.build_tick(e), 0));
    if (i % 64 == 0) std::this_thread::sleep_for(200us);  // a paced feed, not one burst
  }
}

// What `tickrt infer` gives for each instrument's ticks (features computed by the engine's own code).
std::map<std::string, std::vector<std::vector<float>>> offline(const std::string& model_dir, const Feed& f,
                                                               const test::TempDir& dir) {
  const FeatureSpec spec = FeatureSpec::load(model_dir + "/features.json");
  std::map<std::string, std::vector<float>> xs;
  std::map<std::string, FeatureState> states;
  float raw[kFeatureCount];
  std::vector<float> x(spec.n_features());
  for (const auto& e : f.ticks) {
    const std::string sym(e.symbol);
    if (compute_features(states[sym], to_market_tick(e), 0, raw).reject != FeatureReject::none) continue;
    spec.normalise(raw, x.data());
    xs[sym].insert(xs[sym].end(), x.begin(), x.end());
  }
  std::map<std::string, std::vector<std::vector<float>>> out;
  for (auto& [sym, v] : xs) {
    const int64_t T = static_cast<int64_t>(v.size()) / spec.n_features();
    write_npy_f32(dir / ("x_" + sym + ".npy"), v.data(), {T, spec.n_features()});
    auto r = test::run_command(fmt::format("{} infer --model {} --features {} --out {}", test::tickrt_binary(),
                                           model_dir, dir / ("x_" + sym + ".npy"), dir / ("y_" + sym + ".npy")));
    REQUIRE(r.exit_code == 0);
    const NpyArray y = read_npy_f32(dir / ("y_" + sym + ".npy"));
    for (int64_t t = 0; t < T; ++t)
      out[sym].emplace_back(y.data.begin() + t * y.shape[1], y.data.begin() + (t + 1) * y.shape[1]);
  }
  return out;
}

float max_diff(const std::map<std::string, std::vector<std::vector<float>>>& a,
               const std::map<std::string, std::vector<std::vector<float>>>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0;
  for (const auto& [sym, rows] : a) {
    const auto& other = b.at(sym);
    REQUIRE(rows.size() == other.size());
    for (size_t t = 0; t < rows.size(); ++t)
      for (size_t h = 0; h < rows[t].size(); ++h) m = std::max(m, std::fabs(rows[t][h] - other[t][h]));
  }
  return m;
}

struct LiveRun {
  Received got;
  PipelineCounters counters;
  std::string metrics;
};

// Starts an engine on `transport`, publishes the feed (optionally with hostile messages mixed in), collects.
LiveRun run_live(const std::string& model_dir, const std::string& transport, const Feed& feed, size_t expected,
                 int max_instruments, const std::function<void(zmq::socket_t&, size_t)>& hostile = {}) {
  test::TempDir ipc_dir;
  zmq::context_t ctx(1);
  const std::string tick_ep =
      transport == "tcp" ? "tcp://127.0.0.1:*" : "ipc://" + (ipc_dir / "ticks");
  const std::string sig_ep = transport == "tcp" ? "tcp://127.0.0.1:*" : "ipc://" + (ipc_dir / "signals");
  feeds::ZmqSinkOptions so;
  so.endpoints = feeds::parse_endpoints({"@" + tick_ep}, feeds::SocketRole::Publisher);
  so.send_hwm = 0;
  feeds::ZmqSink ticks(ctx, so);

  EngineOptions eo;
  eo.model_dir = model_dir;
  eo.sub = {">" + ticks.endpoints().at(0)};
  eo.pub = {"@" + sig_ep};
  eo.max_instruments = max_instruments;
  eo.max_batch = 64;
  eo.handle_signals = false;
  eo.quiet = true;
  eo.zmq_context = &ctx;
  Engine engine(eo);
  Collector collector(ctx, engine.pub_endpoints().at(0));
  REQUIRE(engine.wait_for_subscribers(1, 5s));
  REQUIRE(ticks.wait_for_subscriptions(1, 5s));
  std::thread loop([&] { engine.run(); });

  if (hostile) {
    zmq::socket_t raw(ctx, zmq::socket_type::pub);  // a second, hostile publisher on the same SUB socket
    // The engine connects to one endpoint; hostile frames go out through the tick socket itself instead.
    for (size_t i = 0; i < feed.ticks.size(); ++i) {
      publish(ticks, feed, i, i + 1);
      hostile(ticks.socket(), i);
    }
  } else {
    publish(ticks, feed, 0, feed.ticks.size());
  }
  collector.collect(expected, 60s);
  LiveRun r;
  r.got = collector.got;
  engine.request_stop();
  loop.join();
  r.counters = engine.counters();
  r.metrics = engine.metrics().render_prometheus();
  return r;
}

void check_one_signal_per_tick_in_order(const Feed& feed, const Received& got) {
  std::map<std::string, std::vector<uint64_t>> want;
  for (const auto& e : feed.ticks) want[std::string(e.symbol)].push_back(e.seq);
  CHECK(got.total == feed.ticks.size());
  CHECK(got.seqs == want);
}

}  // namespace

TEST_CASE("engine: every tick gets one signal, in order, equal to tickrt infer (tcp and ipc, lag 0 and 2)",
          "[engine][sockets]") {
  test::TempDir dir;
  const Feed feed = make_feed(12, 3000, 11);
  for (int lag : {0, 2}) {
    const std::string model = make_model(dir, lag);
    const auto want = offline(model, feed, dir);
    for (const std::string transport : {"tcp", "ipc"}) {
      INFO("transport " << transport << ", refresh_lag " << lag);
      const LiveRun r = run_live(model, transport, feed, feed.ticks.size(), 64);
      check_one_signal_per_tick_in_order(feed, r.got);
      // Batched live steps and one-instrument offline steps are one computation: equal to the last bit.
      CHECK(max_diff(r.got.preds, want) == 0.0f);
      CHECK(r.counters.signals == feed.ticks.size());
      if (lag > 0) CHECK(r.metrics.find("tickrt_refreshes_deferred_total 0\n") == std::string::npos);
    }
  }
}

TEST_CASE("engine: hostile input never crashes, changes no state and shows in the metrics", "[engine][sockets]") {
  test::TempDir dir;
  const std::string model = make_model(dir, 0);
  const Feed feed = make_feed(6, 1200, 21);
  const LiveRun clean = run_live(model, "ipc", feed, feed.ticks.size(), 6);

  std::mt19937_64 rng(5);
  feeds::MessageBuilder b;
  uint64_t hostile_sent = 0, backwards = 0, over_capacity = 0;
  // Ticks that need a known instrument (time going backwards) or a full table (a symbol past capacity) are sent
  // once every instrument of the feed has its slot.
  size_t all_seen = 0;
  {
    std::set<std::string> seen;
    for (; all_seen < feed.ticks.size() && seen.size() < 6; ++all_seen) seen.insert(std::string(feed.ticks[all_seen].symbol));
  }
  auto hostile = [&](zmq::socket_t& s, size_t i) {
    auto send2 = [&](std::string_view topic, const void* data, size_t n) {
      s.send(zmq::buffer(topic), zmq::send_flags::sndmore);
      s.send(zmq::const_buffer(data, n), zmq::send_flags::none);
      ++hostile_sent;
    };
    feeds::TickEvent e = feed.ticks[i];
    const size_t kind = i % 7;
    if ((kind == 3 || kind == 4) && i < all_seen) return;
    switch (kind) {
      case 0: {  // random bytes
        std::vector<uint8_t> junk(8 + rng() % 200);
        for (auto& c : junk) c = static_cast<uint8_t>(rng());
        send2(e.symbol, junk.data(), junk.size());
        break;
      }
      case 1: {  // truncated buffer
        auto buf = b.build_tick(e);
        send2(e.symbol, buf.data(), buf.size() / 2);
        break;
      }
      case 2: {  // NaN and negative prices
        e.bid_price = std::numeric_limits<double>::quiet_NaN();
        auto buf = b.build_tick(e);
        send2(e.symbol, buf.data(), buf.size());
        e = feed.ticks[i];
        e.kind = feeds::TickKind::Trade;
        e.price = -1;
        e.size = 1;
        buf = b.build_tick(e);
        send2(e.symbol, buf.data(), buf.size());
        break;
      }
      case 3: {  // event time going backwards for a known instrument
        e.event_time_ns -= 3'600'000'000'000;
        e.symbol_seq = 0;  // unnumbered, so the time check (not the duplicate-sequence check) refuses it
        auto buf = b.build_tick(e);
        send2(e.symbol, buf.data(), buf.size());
        ++backwards;
        break;
      }
      case 4: {  // a symbol past capacity
        e.symbol = "ZZZ_OVER";
        auto buf = b.build_tick(e);
        send2("ZZZ_OVER", buf.data(), buf.size());
        ++over_capacity;
        break;
      }
      case 5: {  // one frame only
        s.send(zmq::buffer(std::string_view("lonely")), zmq::send_flags::none);
        ++hostile_sent;
        break;
      }
      default: {  // a wrong file identifier
        auto buf = b.build_tick(e);
        std::vector<uint8_t> bad(buf.begin(), buf.end());
        std::memcpy(bad.data() + 4, "XXXX", 4);
        send2(e.symbol, bad.data(), bad.size());
      }
    }
  };
  const LiveRun dirty = run_live(model, "ipc", feed, feed.ticks.size(), 6, hostile);
  check_one_signal_per_tick_in_order(feed, dirty.got);
  CHECK(max_diff(dirty.got.preds, clean.got.preds) == 0.0f);  // no instrument's state was touched
  CHECK(dirty.counters.rejects[size_t(PipelineReject::time_backwards)] == backwards);
  CHECK(dirty.counters.rejects[size_t(PipelineReject::over_capacity)] == over_capacity);
  for (const char* reason : {"frame_count", "verify_failed", "non_finite", "non_positive_price", "unknown_identifier"})
    CHECK(dirty.metrics.find(fmt::format("tickrt_decode_rejects_total{{reason=\"{}\"}} 0\n", reason)) ==
          std::string::npos);
  CHECK(hostile_sent > 1000);
}

TEST_CASE("engine: after warm-up the hot path allocates nothing", "[engine][sockets]") {
  test::TempDir dir;
  EngineOptions eo;
  eo.model_dir = make_model(dir, 2);
  eo.max_instruments = 32;
  eo.max_batch = 64;
  test::InprocEngine e(eo);
  CHECK(test::hot_path_allocations(e, make_feed(20, 6000, 31)) == 0);
  CHECK(e.engine.counters().signals == 6000);
}

TEST_CASE("engine: SIGTERM, snapshot, restart and continue equals an uninterrupted run", "[engine][sockets]") {
  test::TempDir dir;
  const std::string model = make_model(dir, 2);
  const Feed feed = make_feed(8, 2000, 41);
  const LiveRun whole = run_live(model, "ipc", feed, feed.ticks.size(), 16);

  zmq::context_t ctx(1);
  feeds::ZmqSinkOptions so;
  so.endpoints = feeds::parse_endpoints({"@ipc://" + (dir / "t")}, feeds::SocketRole::Publisher);
  so.send_hwm = 0;
  feeds::ZmqSink ticks(ctx, so);
  Collector collector(ctx, "ipc://" + (dir / "s"));
  Received all;
  int64_t probes = 0;  // probe event times keep increasing across restarts (the snapshot holds PROBE's state)
  const std::string snap = dir / "snap";
  auto run_part = [&](size_t begin, size_t end) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const std::string bin = test::tickrt_binary();
      execl(bin.c_str(), bin.c_str(), "run", "--model", model.c_str(), "--sub", (">ipc://" + (dir / "t")).c_str(),
            "--pub", ("@ipc://" + (dir / "s")).c_str(), "--snapshot", snap.c_str(), "--max-instruments", "16",
            "--log-every", "0", static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(ticks.wait_for_subscriptions(ticks.poll_subscriptions() + 1, 10s));
    // The collector reconnects to the new engine's signal socket: probe until a probe's signal comes back.
    feeds::MessageBuilder b;
    collector.probe_seen = false;
    for (int i = 0; i < 200 && !collector.probe_seen; ++i) {
      feeds::TickEvent probe = feed.ticks[0];
      probe.symbol = "PROBE";
      probe.symbol_seq = 0;  // resent until answered: unnumbered, so a resend is not refused as a repeat
      probe.event_time_ns += ++probes;
      REQUIRE(ticks.publish("PROBE", b.build_tick(probe), 0));
      collector.collect(all.total + 1, 50ms);
    }
    REQUIRE(collector.probe_seen);
    publish(ticks, feed, begin, end);
    collector.collect(all.total + (end - begin), 30s);
    REQUIRE(kill(pid, SIGTERM) == 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    all = collector.got;
  };
  run_part(0, 1000);
  REQUIRE(std::filesystem::exists(snap + "/state.snap"));
  run_part(1000, 2000);
  check_one_signal_per_tick_in_order(feed, all);
  CHECK(max_diff(all.preds, whole.got.preds) == 0.0f);
}
