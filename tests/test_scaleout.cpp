// Scale-out: shard ownership (a stable hash that partitions any symbol set), --symbols with exact matching
// behind ZeroMQ's prefix filter, and n real `tickrt run` processes behind one in-process proxy: every tick
// answered exactly once, one engine killed (its instruments pause, the others continue), restarted from its
// snapshot (its instruments resume with the state it wrote).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine/engine.h"
#include "engine/feature_spec.h"
#include "engine/model_init.h"
#include "engine/shard.h"
#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/generator.h"
#include "feeds/proxy.h"
#include "feeds/zmq_sink.h"
#include "tests/test_feed_util.h"
#include "tests/test_inproc_engine.h"
#include "tests/test_util.h"

using namespace tickrt;
using namespace std::chrono_literals;

namespace {

// The smallest useful model: d_model 8, one mamba layer; untrained features with bounded inputs.
std::string make_tiny_model(const test::TempDir& dir) {
  nlohmann::json c = {{"format", "tickrt-model/1"},
                      {"n_features", kFeatureCount},
                      {"d_model", 8},
                      {"outputs", {"a"}},
                      {"layers", {{{"type", "mamba"}}}}};
  const std::string out = dir / "tiny";
  init_model(ModelConfig::from_json(c, "test"), 3).save(out);
  FeatureSpec spec = FeatureSpec::untrained(kFeatureCount, {"a"});
  for (auto& f : spec.features) f.clip = 8.0f;
  spec.save(std::filesystem::path(out) / "features.json");
  return out;
}

// A symbol named PROBE_<shard>_<j> that shard `index` of `count` owns: one per engine, to learn when its
// subscriptions are joined end to end (ticks in, signals out through the proxy) without sleeping.
std::string probe_symbol(int index, int count) {
  for (int j = 0;; ++j) {
    std::string s = fmt::format("PROBE_{}_{}", index, j);
    if (shard_of(s, count) == index) return s;
  }
}

bool is_probe(std::string_view s) { return s.rfind("PROBE_", 0) == 0; }

// Signals from the proxy's backend, read on the test's thread.
class Collector {
 public:
  Collector(zmq::context_t& ctx, const std::string& endpoint) : sub_(ctx, zmq::socket_type::sub) {
    sub_.set(zmq::sockopt::subscribe, "");
    sub_.set(zmq::sockopt::rcvhwm, 0);
    sub_.set(zmq::sockopt::rcvtimeo, 20);
    sub_.connect(endpoint);
  }
  // Reads for up to `limit`.
  void poll(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(sub_, std::back_inserter(parts))) continue;
      REQUIRE(parts.size() == 2);
      auto d = dec_.decode(parts[0].to_string_view(),
                           {static_cast<const uint8_t*>(parts[1].data()), parts[1].size()});
      REQUIRE(d.ok);
      REQUIRE(d.kind == feeds::PayloadKind::Signal);
      const std::string sym(d.signal.symbol);
      if (is_probe(sym))
        probes.insert({sym, d.signal.seq});
      else
        seqs[sym].push_back(d.signal.seq);
    }
  }
  std::map<std::string, std::vector<uint64_t>> seqs;  // per symbol, in arrival order (probes aside)
  std::set<std::pair<std::string, uint64_t>> probes;  // (probe symbol, seq) answered

 private:
  zmq::socket_t sub_;
  feeds::MessageDecoder dec_;
};

using test::Feed;
using test::make_feed;

pid_t start_tickrt(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = test::spawn_tickrt(args, log);
  REQUIRE(pid > 0);
  return pid;
}

int stop_engine(pid_t pid) {
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// N from the engine's log line "<verb> N instruments"; -1 when absent.
long instruments_in_log(const std::string& log, const std::string& verb) {
  std::smatch m;
  const std::string text = read_file(log);
  if (!std::regex_search(text, m, std::regex(verb + " (\\d+) instruments"))) return -1;
  return std::stol(m[1]);
}

}  // namespace

TEST_CASE("scaleout: shard ownership is a stable FNV-1a partition", "[scaleout]") {
  // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector): the hash every host agrees on.
  CHECK(shard_of("a", 1 << 30) == static_cast<int>(0xaf63dc4c8601ec8cULL % (1 << 30)));
  for (int n : {1, 2, 3, 7}) {
    std::vector<int> per_shard(n, 0);
    for (int s = 0; s < 3000; ++s) {
      const std::string sym = fmt::format("SYM{:03}", s);
      int owners = 0;
      for (int i = 0; i < n; ++i) owners += owns(sym, i, n) ? 1 : 0;
      REQUIRE(owners == 1);  // exactly one engine owns every symbol
      ++per_shard[shard_of(sym, n)];
    }
    for (int c : per_shard) CHECK(c > 3000 / n / 2);  // no shard starves (a hash, not a range split)
  }
  CHECK(parse_shard("2/3").index == 2);
  CHECK(parse_shard("2/3").count == 3);
  for (const char* bad : {"3/3", "-1/3", "1/0", "1", "a/b", "1/3x", ""}) CHECK_THROWS_AS(parse_shard(bad), std::runtime_error);

  test::TempDir dir;
  std::ofstream(dir / "syms") << "# majors\nEURUSD\n  USDJPY \n\nGBPUSD\n";
  CHECK(read_symbols_file(dir / "syms") == std::vector<std::string>{"EURUSD", "USDJPY", "GBPUSD"});
  std::ofstream(dir / "dup") << "EURUSD\nEURUSD\n";
  CHECK_THROWS_WITH(read_symbols_file(dir / "dup"), Catch::Contains("listed twice"));
  CHECK_THROWS_WITH(read_symbols_file(dir / "missing"), Catch::Contains("missing"));
  const SymbolSet set({"EUR", "EURUSD"});
  CHECK(set.contains("EUR"));
  CHECK(set.contains("EURUSD"));
  CHECK_FALSE(set.contains("EURUS"));
  CHECK_FALSE(set.contains("EURUSDX"));
}

TEST_CASE("scaleout: an engine steps only what it owns (--symbols exact, --shard) and counts the rest",
          "[scaleout][sockets]") {
  test::TempDir dir;
  const std::string model = make_tiny_model(dir);
  const Feed feed = make_feed(40, 2000, 5);
  for (const bool by_list : {true, false}) {
    INFO((by_list ? "--symbols" : "--shard 1/3"));
    EngineOptions eo;
    eo.model_dir = model;
    eo.max_instruments = 64;
    eo.max_batch = 64;
    // SYM001 is listed; SYM0010 passes ZeroMQ's prefix filter "SYM001" but is not listed: the engine drops it.
    if (by_list) eo.symbols = {"SYM001", "SYM002"};
    else eo.shard_index = 1, eo.shard_count = 3;
    auto mine = [&](std::string_view s) { return by_list ? (s == "SYM001" || s == "SYM002") : owns(s, 1, 3); };
    test::InprocEngine inproc(eo, by_list ? 2 : 1);  // --symbols subscribes to each listed symbol
    feeds::ZmqSink& ticks = inproc.ticks;
    Engine& engine = inproc.engine;
    zmq::socket_t& sub = inproc.sub;
    sub.set(zmq::sockopt::rcvtimeo, 10'000);
    std::thread loop([&] { engine.run(); });

    feeds::MessageBuilder b;
    uint64_t owned = 0, prefix_only = 0, filtered = 0;
    std::map<std::string, std::vector<uint64_t>> want;
    std::vector<feeds::TickEvent> sent(feed.ticks.begin(), feed.ticks.end());
    feeds::TickEvent extra = feed.ticks[0];
    extra.symbol = "SYM0010";  // a prefix of a listed symbol's name, with its own (increasing) times
    for (size_t i = 0; i < sent.size(); ++i) {
      const feeds::TickEvent& e = sent[i];
      REQUIRE(ticks.publish(e.symbol, b.build_tick(e), 0));
      if (mine(e.symbol)) {
        ++owned;
        want[std::string(e.symbol)].push_back(e.seq);
      } else if (by_list) {
        ++filtered;  // ZeroMQ never delivers it
      }
      if (by_list && i % 10 == 0 && i + 1 < sent.size()) {
        extra.seq = i;
        extra.event_time_ns = e.event_time_ns;
        REQUIRE(ticks.publish(extra.symbol, b.build_tick(extra), 0));
        ++prefix_only;
      }
    }
    std::map<std::string, std::vector<uint64_t>> got;
    feeds::MessageDecoder dec;
    for (uint64_t n = 0; n < owned; ++n) {
      std::vector<zmq::message_t> parts;
      REQUIRE(zmq::recv_multipart(sub, std::back_inserter(parts)));
      auto d = dec.decode(parts[0].to_string_view(), {static_cast<const uint8_t*>(parts[1].data()), parts[1].size()});
      REQUIRE(d.ok);
      got[std::string(d.signal.symbol)].push_back(d.signal.seq);
    }
    // The last tick of the feed is what the engine steps last only if it owns it; send one more owned tick
    // so that its signal proves every earlier tick was handled.
    feeds::TickEvent last = sent.back();
    for (const auto& e : sent)
      if (mine(e.symbol)) last = e;
    last.seq = 999'999;
    last.symbol_seq += 1;  // the next tick of that instrument, not a repeat (a repeat would be refused)
    last.event_time_ns = sent.back().event_time_ns + 1;
    REQUIRE(ticks.publish(last.symbol, b.build_tick(last), 0));
    std::vector<zmq::message_t> parts;
    REQUIRE(zmq::recv_multipart(sub, std::back_inserter(parts)));
    engine.request_stop();
    loop.join();
    CHECK(got == want);
    CHECK(owned > 0);
    const std::string metrics = engine.metrics().render_prometheus();
    const uint64_t not_owned = by_list ? prefix_only : sent.size() - owned;
    CHECK(metrics.find(fmt::format("tickrt_not_owned_total {}\n", not_owned)) != std::string::npos);
    CHECK(engine.counters().submitted == owned + 1);
    CHECK(engine.counters().signals == owned + 1);
    if (by_list) CHECK(filtered > 0);
  }
}

TEST_CASE("scaleout: 3 engines behind a proxy answer every tick once, one dies and the rest continue, it resumes",
          "[scaleout][sockets][slow]") {
  constexpr int kShards = 3;
  test::TempDir dir;
  const std::string model = make_tiny_model(dir);
  const Feed feed = make_feed(1000, 21'000, 17);
  zmq::context_t ctx(1);

  feeds::ProxyOptions po;
  po.frontend = feeds::parse_endpoints({"tcp://127.0.0.1:*"}, feeds::SocketRole::Publisher);
  po.backend = feeds::parse_endpoints({"tcp://127.0.0.1:*"}, feeds::SocketRole::Publisher);
  feeds::Proxy proxy(ctx, po);
  std::thread proxy_thread([&] { proxy.run(); });
  struct JoinProxy {
    feeds::Proxy& p;
    std::thread& t;
    ~JoinProxy() { p.stop(); t.join(); }
  } join_proxy{proxy, proxy_thread};

  feeds::ZmqSinkOptions so;
  so.endpoints = feeds::parse_endpoints({"@tcp://127.0.0.1:*"}, feeds::SocketRole::Publisher);
  so.send_hwm = 0;
  feeds::ZmqSink ticks(ctx, so);
  Collector collector(ctx, proxy.backend_endpoints().at(0));

  auto engine_args = [&](int k) {
    return std::vector<std::string>{"run", "--model", model, "--sub", ">" + ticks.endpoints().at(0), "--pub",
                                    ">" + proxy.frontend_endpoints().at(0), "--shard", fmt::format("{}/{}", k, kShards),
                                    "--snapshot", dir / fmt::format("snap{}", k), "--max-instruments", "1024",
                                    "--log-every", "0"};
  };
  std::vector<pid_t> pids(kShards);
  for (int k = 0; k < kShards; ++k) pids[k] = start_tickrt(engine_args(k), dir / fmt::format("engine{}.log", k));
  struct KillLeft {
    std::vector<pid_t>& pids;
    ~KillLeft() {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL), waitpid(p, nullptr, 0);
    }
  } kill_left{pids};

  // Probe every live shard until each answers: subscriptions joined (first round) and, later, every signal
  // that engine produced before the probe has come through (one engine's signals stay in order end to end).
  std::vector<std::string> probe(kShards);
  for (int k = 0; k < kShards; ++k) probe[k] = probe_symbol(k, kShards);
  feeds::MessageBuilder b;
  int64_t probe_clock = 0;
  uint64_t round = 0;
  auto barrier = [&](const std::set<int>& live) {
    const uint64_t seq = 1'000'000'000 + ++round;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      std::set<int> missing;
      for (int k : live)
        if (!collector.probes.count({probe[k], seq})) missing.insert(k);
      if (missing.empty()) return;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      for (int k : missing) {
        feeds::TickEvent p = feed.ticks[0];
        p.symbol = probe[k];
        p.seq = seq;
        p.symbol_seq = 0;  // probes are resent until answered: unnumbered, so no repeat is refused
        p.event_time_ns += ++probe_clock;
        REQUIRE(ticks.publish(p.symbol, b.build_tick(p), 0));
      }
      collector.poll(50ms);
    }
  };
  std::map<std::string, std::vector<uint64_t>> want;
  auto publish = [&](size_t begin, size_t end, int dead) {
    for (size_t i = begin; i < end; ++i) {
      feeds::TickEvent e = feed.ticks[i];
      e.send_time_ns = feeds::realtime_ns();
      REQUIRE(ticks.publish(e.symbol, b.build_tick(e), 0));
      if (shard_of(e.symbol, kShards) != dead) want[std::string(e.symbol)].push_back(e.seq);
      if (i % 32 == 0) collector.poll(1ms);  // a paced feed (a few thousand ticks/s), read as it comes
    }
  };
  const std::set<int> all{0, 1, 2}, survivors{0, 2};

  barrier(all);
  publish(0, 8000, -1);
  barrier(all);
  CHECK(collector.seqs == want);  // every tick answered exactly once, per-symbol order kept

  REQUIRE(stop_engine(pids[1]) == 0);  // SIGTERM: it writes its snapshot and exits
  pids[1] = -1;
  const long wrote = instruments_in_log(dir / "engine1.log", "wrote");
  CHECK(wrote > 300);  // about a third of 1,000 instruments, plus its probe
  publish(8000, 14'000, 1);
  barrier(survivors);
  CHECK(collector.seqs == want);  // the survivors answered all of theirs; shard 1's ticks got nothing
  size_t dead_ticks = 0;
  for (size_t i = 8000; i < 14'000; ++i) dead_ticks += shard_of(feed.ticks[i].symbol, kShards) == 1;
  CHECK(dead_ticks > 1000);

  pids[1] = start_tickrt(engine_args(1), dir / "engine1-restart.log");
  barrier(all);  // the restarted engine has joined both sockets
  CHECK(instruments_in_log(dir / "engine1-restart.log", "restored") == wrote);
  publish(14'000, 21'000, -1);
  barrier(all);
  CHECK(collector.seqs == want);
  for (int k = 0; k < kShards; ++k) {
    CHECK(stop_engine(pids[k]) == 0);
    pids[k] = -1;
  }
}

TEST_CASE("scaleout: the tickrt proxy binary forwards publishers to subscribers and stops cleanly on SIGTERM",
          "[scaleout][sockets]") {
  test::TempDir dir;
  const std::string log = dir / "proxy.log";
  const pid_t pid = start_tickrt({"proxy", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"}, log);
  // The proxy logs the ports it bound: "frontend (XSUB) tcp://127.0.0.1:P, backend (XPUB) tcp://127.0.0.1:Q".
  std::smatch m;
  std::string text;
  const std::regex line("frontend \\(XSUB\\) (tcp://[0-9.:]+), backend \\(XPUB\\) (tcp://[0-9.:]+)");
  for (int i = 0; i < 500 && !std::regex_search(text, m, line); ++i) {
    std::this_thread::sleep_for(10ms);
    text = read_file(log);
  }
  REQUIRE(m.size() == 3);
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub), sub(ctx, zmq::socket_type::sub);
  pub.connect(m[1].str());
  sub.set(zmq::sockopt::subscribe, "SIG");
  sub.set(zmq::sockopt::rcvtimeo, 20);
  sub.connect(m[2].str());
  // Subscriptions travel sub -> XPUB -> XSUB -> pub: publish until one arrives (bounded), then check a topic
  // nobody subscribed to is not forwarded while one that is subscribed arrives after it.
  bool arrived = false;
  zmq::message_t msg;
  for (int i = 0; i < 500 && !arrived; ++i) {
    pub.send(zmq::str_buffer("SIG-probe"), zmq::send_flags::none);
    arrived = sub.recv(msg).has_value();
  }
  REQUIRE(arrived);
  while (sub.recv(msg)) {}  // the other probes still in flight
  pub.send(zmq::str_buffer("OTHER"), zmq::send_flags::none);
  pub.send(zmq::str_buffer("SIG-last"), zmq::send_flags::none);
  sub.set(zmq::sockopt::rcvtimeo, 5000);
  REQUIRE(sub.recv(msg));
  CHECK(msg.to_string() == "SIG-last");
  CHECK(stop_engine(pid) == 0);
  CHECK(read_file(log).find("tickrt proxy: stopped") != std::string::npos);
}
