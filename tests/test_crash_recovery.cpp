// Crash safety of `tickrt run --journal F --snapshot D --snapshot-every N` (engine/crash_journal.h): real engine
// processes killed with SIGKILL at random points while an in-process publisher streams ticks and an in-process
// subscriber collects signals; then the journal, the signals and the final snapshot are checked against each
// other and against an offline pipeline fed the whole journal.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine/engine.h"
#include "engine/feature_spec.h"
#include "engine/model_init.h"
#include "engine/pipeline_snapshot.h"
#include "engine/snapshot.h"
#include "engine/tick_adapter.h"
#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/generator.h"
#include "feeds/journal.h"
#include "feeds/zmq_sink.h"
#include "tests/alloc_counter.h"
#include "tests/test_feed_util.h"
#include "tests/test_inproc_engine.h"
#include "tests/test_model_util.h"
#include "tests/test_util.h"

using namespace tickrt;
using namespace std::chrono_literals;

namespace {

constexpr int kMaxBatch = 32;

// Every layer type (mamba, attention with a deferred refresh, MoE, megalodon) so the state compared at the end
// covers all of them; untrained features with bounded inputs.
std::string make_hybrid_model(const test::TempDir& dir) {
  nlohmann::json c = test::small_hybrid_config();
  c["n_features"] = kFeatureCount;
  c["outputs"] = {"a"};
  const std::string out = dir / "hybrid";
  init_model(ModelConfig::from_json(c, "test"), 5).save(out);
  FeatureSpec spec = FeatureSpec::untrained(kFeatureCount, {"a"});
  for (auto& f : spec.features) f.clip = 8.0f;
  spec.save(std::filesystem::path(out) / "features.json");
  return out;
}

using Key = std::pair<std::string, uint64_t>;  // (symbol, seq)

pid_t spawn_tickrt(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = test::spawn_tickrt(args, log);
  REQUIRE(pid > 0);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The tick publisher (XPUB, sees each engine's subscription) and the signal subscriber (bound; each engine's
// PUB connects to it), both on the test's thread.
struct Harness {
  zmq::context_t ctx{1};
  feeds::ZmqSink ticks;
  zmq::socket_t signals{ctx, zmq::socket_type::sub};
  std::string signal_endpoint;
  feeds::MessageBuilder builder;
  feeds::MessageDecoder decoder;
  std::map<Key, int> received;  // signals seen, by (symbol, seq)
  std::set<Key> probes_answered;
  uint64_t probe_seq = 0;

  static feeds::ZmqSinkOptions sink_options() {
    feeds::ZmqSinkOptions o;
    o.endpoints = feeds::parse_endpoints({"@tcp://127.0.0.1:*"}, feeds::SocketRole::Publisher);
    o.send_hwm = 0;
    o.linger_ms = 0;
    o.count_drops = false;  // with no engine connected, ticks are dropped like any PUB does
    return o;
  }
  Harness() : ticks(ctx, sink_options()) {
    signals.set(zmq::sockopt::subscribe, "");
    signals.set(zmq::sockopt::rcvhwm, 0);
    signals.set(zmq::sockopt::linger, 0);
    signals.bind("tcp://127.0.0.1:*");
    signal_endpoint = signals.get(zmq::sockopt::last_endpoint);
  }
  std::vector<std::string> engine_args(const std::string& model, const std::string& journal,
                                       const std::string& snap_dir, int snapshot_every) const {
    std::vector<std::string> a = {"run",       "--model",         model,
                                  "--sub",     ticks.endpoints().at(0), "--pub", ">" + signal_endpoint,
                                  "--journal", journal,           "--max-batch", std::to_string(kMaxBatch),
                                  "--log-every", "0"};
    if (!snap_dir.empty()) {
      a.insert(a.end(), {"--snapshot", snap_dir});
      if (snapshot_every > 0) a.insert(a.end(), {"--snapshot-every", std::to_string(snapshot_every)});
    }
    return a;
  }
  void send(const feeds::TickEvent& e) {
    feeds::TickEvent t = e;
    t.send_time_ns = feeds::realtime_ns();
    ticks.publish(t.symbol, builder.build_tick(t), t.send_time_ns);
  }
  // Reads every signal already here.
  void collect() {
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(signals, std::back_inserter(parts), zmq::recv_flags::dontwait)) return;
      REQUIRE(parts.size() == 2);
      const auto d = decoder.decode(parts[0].to_string_view(),
                                    {static_cast<const uint8_t*>(parts[1].data()), parts[1].size()});
      REQUIRE(d.ok);
      REQUIRE(d.kind == feeds::PayloadKind::Signal);
      Key k{std::string(d.signal.symbol), d.signal.seq};
      if (k.first == "PROBE") probes_answered.insert(k);
      ++received[k];
    }
  }
  // Ticks in, signals out, end to end: sends PROBE ticks until one is answered (the engine's PUB has our
  // subscription). Probe ticks are real ticks of their own instrument: journaled and in the state like any.
  bool wait_live(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const uint64_t first = probe_seq + 1;
    while (std::chrono::steady_clock::now() < deadline) {
      feeds::TickEvent p;
      p.symbol = "PROBE";
      p.seq = ++probe_seq;
      p.event_time_ns = feeds::realtime_ns();
      p.bid_price = 100, p.ask_price = 100.5, p.bid_size = 1, p.ask_size = 1;
      send(p);
      std::this_thread::sleep_for(5ms);
      collect();
      if (probes_answered.lower_bound({"PROBE", first}) != probes_answered.end()) return true;
    }
    return false;
  }
};

struct JournalContents {
  std::vector<Key> keys;  // in journal order
  uint64_t end_offset = 0;
  bool clean = false;
};

JournalContents read_journal(const std::string& file) {
  journal::JournalReader reader(file, {.skip_corrupt = false, .expect_schema = journal::kTickSchema});
  feeds::MessageDecoder dec;
  JournalContents j;
  journal::RecordView rec;
  while (reader.next(rec)) {
    const auto d = dec.decode(rec.topic, rec.payload);
    REQUIRE(d.ok);
    j.keys.emplace_back(std::string(d.tick.symbol), d.tick.seq);
  }
  j.end_offset = reader.stats().end_offset;
  j.clean = reader.stats().clean();
  return j;
}

struct NoSignals final : SignalSink {
  void on_signal(const SignalOut&) override {}
};

// A fresh pipeline fed the whole journal offline (no sockets, no engine), snapshotted to `out`.
void offline_snapshot(const std::string& model_dir, const std::string& journal_file, const std::string& out) {
  const Model model = Model::load(model_dir);
  const FeatureSpec spec = FeatureSpec::load(std::filesystem::path(model_dir) / "features.json");
  auto backend = make_backend("cpu", model, 1024, kMaxBatch);
  PipelineOptions po;
  po.max_batch = kMaxBatch;
  po.session_gap_s = model.config.session_gap_s.value_or(0.0);
  Pipeline pipeline(model, spec, *backend, po);
  backend->set_refresh_mode(RefreshMode::deferred_wait);  // as the engine runs refresh_lag >= 1 models
  RefreshWorker worker(*backend, kMaxBatch * 8);
  pipeline.set_refresh_worker(&worker);
  journal::JournalReader reader(journal_file, {.skip_corrupt = false, .expect_schema = journal::kTickSchema});
  feeds::MessageDecoder dec;
  NoSignals none;
  journal::RecordView rec;
  // A different batching than the engine's drains (7 vs up to 32): the state must not depend on it.
  int queued = 0;
  while (reader.next(rec)) {
    const auto d = dec.decode(rec.topic, rec.payload);
    REQUIRE(d.ok);
    pipeline.submit(to_tick_in(d.tick, rec.recv_ns));
    if (++queued == 7) {
      pipeline.flush(none);
      queued = 0;
    }
  }
  pipeline.flush(none);
  worker.drain();
  save_pipeline_snapshot(out, pipeline, model.hash);
}

// Instruments, slots, model state and feature state byte for byte. Returns the instrument count.
size_t require_same_state(const std::string& engine_snap, const std::string& offline_snap) {
  const Snapshot a = read_snapshot(engine_snap), b = read_snapshot(offline_snap);
  REQUIRE(a.model_hash == b.model_hash);
  REQUIRE(a.instruments.size() == b.instruments.size());
  for (size_t i = 0; i < a.instruments.size(); ++i) {
    INFO("instrument " << a.instruments[i].symbol);
    REQUIRE(a.instruments[i].symbol == b.instruments[i].symbol);
    REQUIRE(a.instruments[i].slot == b.instruments[i].slot);
    REQUIRE(a.instruments[i].state == b.instruments[i].state);
    REQUIRE(a.instruments[i].engine_state == b.instruments[i].engine_state);
  }
  return a.instruments.size();
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

}  // namespace

TEST_CASE("crash: kill -9 at random points, 20 times: no journaled tick lost, no signal twice", "[crash][slow]") {
  test::TempDir dir;
  const std::string model = make_hybrid_model(dir);
  const std::string journal_file = dir / "in.ticks", snap_dir = dir / "snap", log = dir / "engine.log";
  Harness h;
  feeds::GeneratorConfig gc;
  gc.instruments = 6;
  gc.seed = 2026;
  feeds::TickGenerator gen(gc);
  std::mt19937_64 rng(20261129);
  std::set<Key> sent;
  std::map<Key, int> round_of;  // feed tick -> the round that sent it
  int kills = 0, kills_in_startup = 0;
  const int kRounds = 20;

  for (int round = 0; round < kRounds; ++round) {
    const uint64_t subs_before = h.ticks.poll_subscriptions();
    const pid_t pid = spawn_tickrt(h.engine_args(model, journal_file, snap_dir, 50), log);
    if (round % 5 == 4) {
      // Killed while starting: restoring, replaying the journal, or just opening its sockets.
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 60));
      ++kills_in_startup;
    } else {
      REQUIRE(h.ticks.wait_for_subscriptions(subs_before + 1, 20s));
      REQUIRE(h.wait_live(20s));
      // A steady ~2000 ticks/s, in half the rounds ending in a burst as fast as the socket takes it (the engine
      // busy at the kill); killed a random moment after a random tick: mid-drain, mid-wave, mid-snapshot, idle.
      const int n = 20 + static_cast<int>(rng() % 800);
      const int burst_from = rng() % 2 ? n - static_cast<int>(rng() % 400) : n;
      for (int i = 0; i < n; ++i) {
        feeds::TickEvent e;
        gen.next(e);
        h.send(e);
        sent.emplace(std::string(e.symbol), e.seq);
        round_of[{std::string(e.symbol), e.seq}] = round;
        if (i % 4 == 3 && i < burst_from) {
          std::this_thread::sleep_for(2ms);
          h.collect();
        }
      }
      // The last ticks still in transit, being read, stepped, published or snapshotted.
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    }
    REQUIRE(kill(pid, SIGKILL) == 0);
    REQUIRE(wait_exit(pid) == 128 + SIGKILL);
    ++kills;
    std::this_thread::sleep_for(30ms);
    h.collect();  // signals already on their way
  }

  // The last start: recover, take a few more ticks, stop cleanly (SIGTERM writes the final snapshot).
  const uint64_t subs_before = h.ticks.poll_subscriptions();
  const pid_t pid = spawn_tickrt(h.engine_args(model, journal_file, snap_dir, 50), log);
  REQUIRE(h.ticks.wait_for_subscriptions(subs_before + 1, 20s));
  REQUIRE(h.wait_live(20s));
  std::vector<Key> last;
  for (int i = 0; i < 100; ++i) {
    feeds::TickEvent e;
    gen.next(e);
    h.send(e);
    sent.emplace(std::string(e.symbol), e.seq);
    last.emplace_back(std::string(e.symbol), e.seq);
  }
  // A clean stop loses nothing: wait for every signal of these ticks before stopping.
  REQUIRE(wait_until([&] {
    h.collect();
    for (const auto& k : last)
      if (!h.received.count(k)) return false;
    return true;
  }, 20s));
  REQUIRE(kill(pid, SIGTERM) == 0);
  const int rc = wait_exit(pid);
  INFO(read_text(log));
  REQUIRE(rc == 0);
  h.collect();

  const JournalContents j = read_journal(journal_file);
  REQUIRE(j.clean);  // every torn tail the kills left was cut before appending
  // (3) no tick journaled twice
  std::set<Key> journaled(j.keys.begin(), j.keys.end());
  REQUIRE(journaled.size() == j.keys.size());
  // (1) no signal published twice for one (symbol, seq), across every engine process
  uint64_t duplicates = 0, signals = 0;
  for (const auto& [k, n] : h.received) {
    signals += n;
    if (n > 1) duplicates += n - 1;
  }
  REQUIRE(duplicates == 0);
  // Every signal that left answers a journaled tick: nothing was published ahead of the journal.
  for (const auto& [k, n] : h.received) {
    INFO(k.first << " " << k.second);
    REQUIRE(journaled.count(k) == 1);
  }
  // (2) ticks lost to the model 0: the final state is that of a fresh pipeline fed the whole journal once.
  const std::string engine_snap = snap_dir + "/state.snap";
  const Snapshot final_snap = read_snapshot(engine_snap);
  REQUIRE(!final_snap.instruments.empty());
  REQUIRE(final_snap.instruments[0].journal_position == j.end_offset);
  offline_snapshot(model, journal_file, dir / "offline.snap");
  const size_t instruments = require_same_state(engine_snap, dir / "offline.snap");
  REQUIRE(instruments == static_cast<size_t>(gc.instruments) + 1);  // + PROBE
  // (4) signals <= journaled ticks; journaled ticks without a signal: at most one drain per kill (the wave in
  // flight), probes aside (the first probes of each start may go out before the subscription reaches the engine).
  uint64_t journaled_feed = 0, missing = 0;
  std::map<int, uint64_t> missing_by_round;
  for (const auto& k : j.keys) {
    if (k.first == "PROBE") continue;
    ++journaled_feed;
    if (!h.received.count(k)) {
      ++missing;
      ++missing_by_round[round_of.at(k)];
    }
  }
  uint64_t most_missing_in_a_kill = 0;
  for (const auto& [r, n] : missing_by_round) most_missing_in_a_kill = std::max(most_missing_in_a_kill, n);
  REQUIRE(signals <= j.keys.size());
  REQUIRE(missing <= static_cast<uint64_t>(kills) * kMaxBatch);
  uint64_t sent_not_journaled = 0;
  for (const auto& k : sent) sent_not_journaled += journaled.count(k) == 0;
  const std::string text = read_text(log);
  size_t replay_lines = 0;
  for (size_t at = text.find("replayed "); at != std::string::npos; at = text.find("replayed ", at + 1)) ++replay_lines;
  fmt::print(
      "crash recovery: {} kills ({} during start-up) + 1 clean stop; feed ticks sent {}, journaled {} ({} lost in "
      "transit: in socket buffers or the drain cut by a kill); journal records {} (probes included), {} bytes; "
      "signals received {}, duplicates {}, journaled feed ticks without a signal {} (bound {} = kills x "
      "max-batch; most in one kill {}); ticks lost to the model 0 (final state of {} instruments == offline "
      "replay of the journal); {} starts logged a replay\n",
      kills, kills_in_startup, sent.size(), journaled_feed, sent_not_journaled, j.keys.size(), j.end_offset, signals,
      duplicates, missing, kills * kMaxBatch, most_missing_in_a_kill, instruments, replay_lines);
}

TEST_CASE("crash: a torn journal tail is cut on restart and the rest replayed", "[crash]") {
  test::TempDir dir;
  const std::string model = make_hybrid_model(dir);
  const std::string journal_file = dir / "in.ticks", snap_dir = dir / "snap", log = dir / "engine.log";
  Harness h;
  feeds::GeneratorConfig gc;
  gc.instruments = 4;
  gc.seed = 7;
  feeds::TickGenerator gen(gc);

  // A run without snapshots, killed once its journal holds every tick sent.
  uint64_t subs = h.ticks.poll_subscriptions();
  pid_t pid = spawn_tickrt(h.engine_args(model, journal_file, "", 0), log);
  REQUIRE(h.ticks.wait_for_subscriptions(subs + 1, 20s));
  for (int i = 0; i < 300; ++i) {
    feeds::TickEvent e;
    gen.next(e);
    h.send(e);
  }
  REQUIRE(wait_until([&] { return read_journal(journal_file).keys.size() == 300; }, 20s));
  REQUIRE(kill(pid, SIGKILL) == 0);
  wait_exit(pid);

  // Tear the last record, as a write cut short by the crash would.
  const auto size = std::filesystem::file_size(journal_file);
  std::filesystem::resize_file(journal_file, size - 5);
  const JournalContents torn = read_journal(journal_file);
  REQUIRE(torn.keys.size() == 299);
  REQUIRE(!torn.clean);

  subs = h.ticks.poll_subscriptions();
  pid = spawn_tickrt(h.engine_args(model, journal_file, snap_dir, 0), log);
  REQUIRE(h.ticks.wait_for_subscriptions(subs + 1, 20s));
  REQUIRE(h.wait_live(20s));  // also: the engine's SIGTERM handler is installed
  REQUIRE(kill(pid, SIGTERM) == 0);
  REQUIRE(wait_exit(pid) == 0);
  const std::string text = read_text(log);
  INFO(text);
  REQUIRE(text.find(fmt::format("replayed 299 ticks from {} at offset 32", journal_file)) != std::string::npos);
  REQUIRE(text.find("cut a torn tail of") != std::string::npos);

  const JournalContents after = read_journal(journal_file);
  REQUIRE(after.clean);
  // The torn record is gone, nothing before it changed, and the live probes were appended after it.
  REQUIRE(after.keys.size() > torn.keys.size());
  REQUIRE(std::equal(torn.keys.begin(), torn.keys.end(), after.keys.begin()));
  for (size_t i = torn.keys.size(); i < after.keys.size(); ++i) REQUIRE(after.keys[i].first == "PROBE");
  offline_snapshot(model, journal_file, dir / "offline.snap");
  REQUIRE(require_same_state(snap_dir + "/state.snap", dir / "offline.snap") == 5);  // 4 + PROBE
  REQUIRE(read_snapshot(snap_dir + "/state.snap").instruments[0].journal_position == after.end_offset);
}

TEST_CASE("crash: a snapshot that does not fit the journal is refused, naming the journal", "[crash]") {
  test::TempDir dir;
  const std::string model = make_hybrid_model(dir);
  const std::string journal_file = dir / "in.ticks";
  zmq::context_t ctx(1);
  EngineOptions o;
  o.model_dir = model;
  o.sub = {fmt::format("@{}", test::ipc_endpoint("crash-fit-sub"))};
  o.pub = {fmt::format("@{}", test::ipc_endpoint("crash-fit-pub"))};
  o.snapshot_dir = dir.path / "snap";
  o.journal_file = journal_file;
  o.handle_signals = false;
  o.quiet = true;
  o.zmq_context = &ctx;

  // A journal of 40 ticks and a snapshot covering all of it, as a clean stop leaves them.
  {
    journal::JournalWriter w(journal_file);
    feeds::MessageBuilder b;
    feeds::GeneratorConfig gc;
    gc.instruments = 2;
    feeds::TickGenerator gen(gc);
    for (int i = 0; i < 40; ++i) {
      feeds::TickEvent e;
      gen.next(e);
      w.append(e.event_time_ns, e.symbol, b.build_tick(e));
    }
    w.close();
  }
  {
    Engine first(o);  // replays 40 ticks
    first.request_stop();
    REQUIRE(first.run() == 0);  // snapshot at journal position = its end
  }
  REQUIRE(read_snapshot(dir.path / "snap" / "state.snap").instruments.size() == 2);

  // The journal replaced by a shorter one that still holds ticks: which of them the state has seen is unknown.
  std::filesystem::remove(journal_file);
  {
    journal::JournalWriter w(journal_file);
    feeds::MessageBuilder b;
    feeds::GeneratorConfig gc;
    gc.instruments = 2;
    feeds::TickGenerator gen(gc);
    feeds::TickEvent e;
    gen.next(e);
    w.append(e.event_time_ns, e.symbol, b.build_tick(e));
    w.close();
  }
  REQUIRE_THROWS_WITH(Engine(o), Catch::Contains(journal_file) && Catch::Contains("holds only"));

  // A journal as long as the old one whose records lie elsewhere: the position falls inside a record.
  const uint64_t covered = *read_snapshot(dir.path / "snap" / "state.snap").instruments[0].journal_position;
  std::filesystem::remove(journal_file);
  {
    journal::JournalWriter w(journal_file);
    const std::vector<uint8_t> big(covered * 2, 0);  // one record spanning the snapshot's position
    w.append(1, "BIG", big);
    w.close();
  }
  REQUIRE_THROWS_WITH(Engine(o), Catch::Contains(journal_file) && Catch::Contains("not a record boundary"));

  // An empty journal (moved away after a clean stop) is fine: nothing to replay, the snapshot's state stands.
  std::filesystem::remove(journal_file);
  Engine fresh(o);
  fresh.request_stop();
  REQUIRE(fresh.run() == 0);
  REQUIRE(read_snapshot(dir.path / "snap" / "state.snap").instruments.size() == 2);
}

TEST_CASE("crash: with --journal the hot path still allocates nothing after warm-up", "[crash][sockets]") {
  test::TempDir dir;
  EngineOptions eo;
  eo.model_dir = make_hybrid_model(dir);
  eo.max_instruments = 32;
  eo.max_batch = kMaxBatch;
  eo.journal_file = dir / "in.ticks";  // every tick appended, the buffer written before each wave's signals
  test::InprocEngine e(eo);
  CHECK(test::hot_path_allocations(e, test::make_feed(20, 6000, 33)) == 0);
  CHECK(read_journal(dir / "in.ticks").keys.size() == 6000);
}
