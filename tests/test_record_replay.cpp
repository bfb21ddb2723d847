// Record and replay: JournalSink (rotation), replay_journal in process, and the real binary end to end
// (`tickrt gen`, `tickrt record`, `tickrt replay` as processes on ipc endpoints).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <thread>

#include <zmq.hpp>

#include "feeds/clock.h"
#include "feeds/generator.h"
#include "feeds/journal.h"
#include "feeds/journal_sink.h"
#include "feeds/replay.h"
#include "feeds/tick_codec.h"
#include "tests/test_util.h"

using namespace tickrt;

namespace {

struct Record {
  std::int64_t recv_ns = 0;
  std::string topic;
  std::vector<std::uint8_t> payload;
};

struct Journal {
  std::vector<Record> records;
  journal::ReadStats stats;
};

Journal read_journal(const std::string& path) {
  journal::JournalReader reader(path);
  Journal j;
  journal::RecordView rec;
  while (reader.next(rec))
    j.records.push_back({rec.recv_ns, std::string(rec.topic), {rec.payload.begin(), rec.payload.end()}});
  j.stats = reader.stats();
  return j;
}

feeds::GeneratorConfig small_config(std::uint64_t seed) {
  feeds::GeneratorConfig gc;
  gc.instruments = 8;
  gc.rate = 1000;
  gc.seed = seed;
  return gc;
}

// Decodes a recorded payload, failing the test when it does not verify.
feeds::TickEvent decode_tick(feeds::MessageDecoder& decoder, const Record& r) {
  feeds::Decoded d = decoder.decode(r.topic, r.payload);
  REQUIRE(d.ok);
  REQUIRE(d.kind == feeds::PayloadKind::Tick);
  return d.tick;
}

// A sink that keeps what it gets.
struct VectorSink final : feeds::MessageSink {
  std::vector<Record> got;
  bool publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t time_ns) noexcept override {
    got.push_back({time_ns, std::string(topic), {payload.begin(), payload.end()}});
    return true;
  }
};

// Writes `n` generator ticks whose receive times are the event times, spanning `span_s` seconds.
void write_generated(const std::string& path, std::uint64_t n, double rate, std::uint64_t seed = 5) {
  auto gc = small_config(seed);
  gc.rate = rate;
  feeds::TickGenerator gen(gc);
  feeds::MessageBuilder builder;
  journal::JournalWriter writer(path, {.truncate = true});
  feeds::TickEvent t;
  for (std::uint64_t i = 0; i < n; ++i) {
    gen.next(t);
    REQUIRE(writer.append(t.event_time_ns, t.symbol, builder.build_tick(t)) == journal::AppendResult::Ok);
  }
  writer.close();
}

feeds::JournalSinkOptions rotating(const std::string& path, std::uint64_t bytes, std::int64_t ns) {
  feeds::JournalSinkOptions o;
  o.path = path;
  o.rotate_bytes = bytes;
  o.rotate_ns = ns;
  return o;
}

std::string endpoint(const std::string& tag) { return test::ipc_endpoint("rr-" + tag); }

}  // namespace

TEST_CASE("record: gen --out writes the in-process generator's ticks with receive time = event time", "[record][cli]") {
  test::TempDir dir;
  const std::string file = dir / "gen.ticks";
  auto r = test::run_command(fmt::format("timeout 60 {} gen --out {} --instruments 8 --rate 1000 --count 2500 --seed 11",
                                         test::tickrt_binary(), file));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("gen: wrote 2500 ticks") != std::string::npos);

  Journal j = read_journal(file);
  CHECK(j.stats.clean());
  REQUIRE(j.records.size() == 2500);
  feeds::TickGenerator reference(small_config(11));
  feeds::MessageBuilder builder;
  feeds::TickEvent e;
  for (const auto& rec : j.records) {
    reference.next(e);
    REQUIRE(rec.topic == e.symbol);
    CHECK(rec.recv_ns == e.event_time_ns);
    auto bytes = builder.build_tick(e);  // send_time_ns 0, as gen --out leaves it
    REQUIRE(std::equal(rec.payload.begin(), rec.payload.end(), bytes.begin(), bytes.end()));
  }

  // Same seed again: the same file, byte for byte (the writer truncates).
  REQUIRE(test::run_command(fmt::format("{} gen --out {} --instruments 8 --rate 1000 --count 2500 --seed 11",
                                        test::tickrt_binary(), dir / "again.ticks")).exit_code == 0);
  CHECK(std::filesystem::file_size(file) == std::filesystem::file_size(dir / "again.ticks"));
  Journal again = read_journal(dir / "again.ticks");
  REQUIRE(again.records.size() == j.records.size());
  CHECK(again.records.back().payload == j.records.back().payload);
}

TEST_CASE("record: JournalSink rotates by size and by message time into parts named FILE.000001.ticks", "[record]") {
  CHECK(feeds::JournalSink::part_path("/d/cap.ticks", 1) == "/d/cap.000001.ticks");
  CHECK(feeds::JournalSink::part_path("/d/cap", 12) == "/d/cap.000012.ticks");

  test::TempDir dir;
  const std::string src = dir / "src.ticks";
  write_generated(src, 600, 200);  // ~3 s of receive time
  Journal in = read_journal(src);
  REQUIRE(in.records.size() == 600);

  auto write_through = [&](feeds::JournalSinkOptions o) {
    feeds::JournalSink sink(o);
    for (const auto& r : in.records) REQUIRE(sink.publish(r.topic, r.payload, r.recv_ns));
    sink.close();
    CHECK_FALSE(std::filesystem::exists(o.path));  // rotating: FILE itself is never written
    return sink.files();
  };
  auto concat = [](const std::vector<std::string>& files) {
    std::vector<Record> all;
    for (const auto& f : files) {
      Journal j = read_journal(f);
      CHECK(j.stats.clean());
      CHECK_FALSE(j.records.empty());
      all.insert(all.end(), j.records.begin(), j.records.end());
    }
    return all;
  };
  auto same = [](const std::vector<Record>& a, const std::vector<Record>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i].recv_ns != b[i].recv_ns || a[i].topic != b[i].topic || a[i].payload != b[i].payload) return false;
    return true;
  };

  SECTION("by size") {
    const std::uint64_t limit = 16 * 1024;
    auto files = write_through(rotating(dir / "size.ticks", limit, 0));
    CHECK(files.size() >= 5);
    for (const auto& f : files) CHECK(std::filesystem::file_size(f) <= limit);
    CHECK(same(concat(files), in.records));
    // A second run keeps the parts and continues the numbering.
    auto more = write_through(rotating(dir / "size.ticks", limit, 0));
    CHECK(more.front() == feeds::JournalSink::part_path(dir / "size.ticks", files.size() + 1));
  }
  SECTION("by time") {
    auto files = write_through(rotating(dir / "time.ticks", 0, 500'000'000));
    CHECK(files.size() >= 4);
    for (const auto& f : files) {
      Journal j = read_journal(f);
      CHECK(j.records.back().recv_ns - j.records.front().recv_ns < 500'000'000);
    }
    CHECK(same(concat(files), in.records));
  }
}

TEST_CASE("replay: replay_journal sends payloads unchanged and filters topics and loops and restamps", "[replay]") {
  test::TempDir dir;
  const std::string src = dir / "src.ticks";
  write_generated(src, 300, 1e6);  // ~0.3 ms of receive time: the paced runs below are quick
  Journal in = read_journal(src);
  journal::JournalReader reader(src);

  SECTION("unchanged, two loops") {
    VectorSink sink;
    feeds::ReplayOptions o;
    o.loops = 2;
    auto r = feeds::replay_journal(reader, sink, o);
    CHECK(r.loops == 2);
    CHECK(r.sent == 600);
    CHECK(r.dropped == 0);
    REQUIRE(sink.got.size() == 600);
    for (std::size_t i = 0; i < sink.got.size(); ++i) {
      REQUIRE(sink.got[i].topic == in.records[i % 300].topic);
      REQUIRE(sink.got[i].payload == in.records[i % 300].payload);
    }
  }
  SECTION("topic filter") {
    VectorSink sink;
    feeds::ReplayOptions o;
    o.max_speed = true;
    o.topics = {"SYM001", "SYM003"};
    auto r = feeds::replay_journal(reader, sink, o);
    const auto expected = std::count_if(in.records.begin(), in.records.end(),
                                        [](const Record& x) { return x.topic == "SYM001" || x.topic == "SYM003"; });
    CHECK(expected > 0);
    CHECK(r.sent == static_cast<std::uint64_t>(expected));
    CHECK(r.filtered == 300 - r.sent);
    for (const auto& g : sink.got) CHECK((g.topic == "SYM001" || g.topic == "SYM003"));
  }
  SECTION("--stamp sets send_time_ns and keeps everything else") {
    VectorSink sink;
    feeds::ReplayOptions o;
    o.max_speed = true;
    o.stamp = true;
    const std::int64_t before = feeds::realtime_ns();
    auto r = feeds::replay_journal(reader, sink, o);
    CHECK(r.sent == 300);
    feeds::MessageDecoder decoder;
    feeds::MessageDecoder original_decoder;
    for (std::size_t i = 0; i < sink.got.size(); ++i) {
      feeds::TickEvent t = decode_tick(decoder, sink.got[i]);
      feeds::TickEvent o0 = decode_tick(original_decoder, in.records[i]);
      CHECK(t.send_time_ns >= before);
      CHECK(t.seq == o0.seq);
      CHECK(t.event_time_ns == o0.event_time_ns);
      CHECK(t.bid_price == o0.bid_price);
      CHECK(t.price == o0.price);
    }
  }
  SECTION("bad options are refused") {
    VectorSink sink;
    feeds::ReplayOptions o;
    o.speed = 0;
    CHECK_THROWS_WITH(feeds::replay_journal(reader, sink, o), Catch::Contains("speed"));
    o.speed = 1;
    o.loops = 0;
    CHECK_THROWS_WITH(feeds::replay_journal(reader, sink, o), Catch::Contains("loops"));
  }
}

TEST_CASE("replay: gen -> record -> replay --max -> record again gives identical topics and payloads",
          "[replay][record][cli]") {
  test::TempDir dir;
  const std::string bin = test::tickrt_binary();
  const std::uint64_t n = 3000;
  const std::string ep1 = endpoint("a"), ep2 = endpoint("b");
  // The recorder connects first; the sender waits for its subscription (no slow-joiner loss). Every step has a
  // bound: a hang fails the test instead of blocking it.
  auto first = test::run_command(fmt::format(
      "{{ timeout 60 {0} record --sub '>{1}' --out {2} --count {3} --duration 40 & rec=$!; "
      "timeout 60 {0} gen --pub '@{1}' --instruments 10 --rate 30000 --count {3} --seed 9 --wait-subscribers 1 "
      "--wait-timeout 30; g=$?; wait $rec; echo \"rc gen=$g rec=$?\"; }}",
      bin, ep1, dir / "first.ticks", n));
  INFO(first.output);
  REQUIRE(first.output.find("rc gen=0 rec=0") != std::string::npos);
  CHECK(first.output.find(fmt::format("record: recorded {} messages", n)) != std::string::npos);

  auto second = test::run_command(fmt::format(
      "{{ timeout 60 {0} record --sub '>{1}' --out {2} --count {3} --duration 40 & rec=$!; "
      "timeout 60 {0} replay {4} --pub '@{1}' --max --wait-subscribers 1 --wait-timeout 30; r=$?; wait $rec; "
      "echo \"rc replay=$r rec=$?\"; }}",
      bin, ep2, dir / "second.ticks", n, dir / "first.ticks"));
  INFO(second.output);
  REQUIRE(second.output.find("rc replay=0 rec=0") != std::string::npos);
  CHECK(second.output.find(fmt::format("replay: sent {} dropped 0", n)) != std::string::npos);
  CHECK(second.output.find("\r[") == std::string::npos);  // not a terminal: no progress bar

  Journal a = read_journal(dir / "first.ticks"), b = read_journal(dir / "second.ticks");
  CHECK(a.stats.clean());
  CHECK(b.stats.clean());
  REQUIRE(a.records.size() == n);
  REQUIRE(b.records.size() == n);
  feeds::MessageDecoder decoder;
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(a.records[i].topic == b.records[i].topic);
    REQUIRE(a.records[i].payload == b.records[i].payload);
    CHECK(decode_tick(decoder, a.records[i]).seq == i + 1);  // nothing lost, in order
    if (i > 0) CHECK(a.records[i].recv_ns >= a.records[i - 1].recv_ns);
  }
}

TEST_CASE("replay: --speed 10 replays a journal spanning ~1 s of receive time in about 0.1 s", "[replay][cli]") {
  test::TempDir dir;
  const std::string file = dir / "one_second.ticks";
  write_generated(file, 400, 400);  // mean 400 ticks/s: ~1 s
  Journal j = read_journal(file);
  const double span_s = (j.records.back().recv_ns - j.records.front().recv_ns) * 1e-9;
  REQUIRE(span_s > 0.5);
  REQUIRE(span_s < 2.0);
  auto r = test::run_command(fmt::format("timeout 60 {} replay {} --pub '@{}' --speed 10", test::tickrt_binary(),
                                         file, endpoint("speed")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, std::regex(R"(msg/s over ([0-9.]+) s \(speed 10\))")));
  const double elapsed = std::stod(m[1]);
  // The schedule is span/10; loose bounds (a loaded machine runs late, never early).
  CHECK(elapsed >= span_s / 10 * 0.9);
  CHECK(elapsed >= 0.05);
  CHECK(elapsed <= 2.0);
  CHECK(r.output.find("replay: sent 400 dropped 0 (send HWM) of 400") != std::string::npos);
}

TEST_CASE("record: --rotate-size splits the stream into parts whose records concatenate to it", "[record][cli]") {
  test::TempDir dir;
  const std::string bin = test::tickrt_binary();
  const std::uint64_t n = 2000, limit = 32 * 1024;
  const std::string ep = endpoint("rot");
  auto r = test::run_command(fmt::format(
      "{{ timeout 60 {0} record --sub '>{1}' --out {2} --count {3} --duration 40 --rotate-size {4} & rec=$!; "
      "timeout 60 {0} gen --pub '@{1}' --instruments 8 --rate 20000 --count {3} --seed 4 --wait-subscribers 1 "
      "--wait-timeout 30; g=$?; wait $rec; echo \"rc gen=$g rec=$?\"; }}",
      bin, ep, dir / "rot.ticks", n, limit));
  INFO(r.output);
  REQUIRE(r.output.find("rc gen=0 rec=0") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "rot.ticks"));
  std::vector<std::string> parts;
  for (std::uint64_t i = 1; std::filesystem::exists(feeds::JournalSink::part_path(dir / "rot.ticks", i)); ++i)
    parts.push_back(feeds::JournalSink::part_path(dir / "rot.ticks", i));
  CHECK(parts.size() >= 5);
  CHECK(r.output.find(fmt::format("{} files", parts.size())) != std::string::npos);

  auto gc = small_config(4);
  gc.rate = 20000;  // the event times follow the rate given to gen
  feeds::TickGenerator reference(gc);
  feeds::MessageDecoder decoder;
  feeds::TickEvent e;
  std::uint64_t total = 0;
  for (const auto& p : parts) {
    CHECK(std::filesystem::file_size(p) <= limit);
    Journal j = read_journal(p);
    CHECK(j.stats.clean());
    for (const auto& rec : j.records) {
      reference.next(e);
      feeds::TickEvent t = decode_tick(decoder, rec);
      REQUIRE(t.seq == e.seq);
      CHECK(rec.topic == e.symbol);
      CHECK(t.event_time_ns == e.event_time_ns);
      ++total;
    }
  }
  CHECK(total == n);
}

TEST_CASE("record: kill -9 mid-stream leaves a journal that reads back cleanly up to a torn tail",
          "[record][cli]") {
  test::TempDir dir;
  const std::string bin = test::tickrt_binary();
  const std::string file = dir / "killed.ticks", ep = endpoint("kill");
  // 1000 ticks/s of ~180-byte records fill the writer's 1 MiB buffer only after ~5 s: bytes on disk within
  // the first seconds come from the flush timer (--flush-ms). The size is sampled just before the kill.
  auto r = test::run_command(fmt::format(
      "{{ {0} record --sub '>{1}' --out {2} --flush-ms 50 --duration 40 & rec=$!; "
      "timeout 60 {0} gen --pub '@{1}' --instruments 8 --rate 1000 --count 30000 --seed 2 --wait-subscribers 1 "
      "--wait-timeout 30 > /dev/null & g=$!; "
      "for i in $(seq 100); do s=$(stat -c %s {2} 2>/dev/null || echo 0); [ \"$s\" -gt 8192 ] && break; sleep 0.03; "
      "done; sleep 0.2; s=$(stat -c %s {2}); kill -9 $rec; wait $rec; echo \"rec_status=$?\"; kill $g; wait $g; "
      "echo \"size_before_kill=$s\"; }}",
      bin, ep, file));
  INFO(r.output);
  REQUIRE(r.output.find("rec_status=137") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, std::regex(R"(size_before_kill=(\d+))")));
  const std::uint64_t size_before_kill = std::stoull(m[1]);
  CHECK(size_before_kill > 8192);  // the timer flushed long before the buffer was full

  {
    Journal j = read_journal(file);
    CHECK_FALSE(j.stats.stopped_at_corruption);
    CHECK(j.stats.end_offset >= size_before_kill);  // everything written before the kill reads back
    REQUIRE(j.records.size() > 10);
    feeds::MessageDecoder decoder;
    for (std::size_t i = 0; i < j.records.size(); ++i) REQUIRE(decode_tick(decoder, j.records[i]).seq == i + 1);
  }
  // A write cut short by the kill (simulated: the last record loses its last bytes): the reader stops before
  // it, and reopening for append cuts it off.
  Journal after_kill = read_journal(file);
  const std::uint64_t kept = after_kill.records.size();
  std::filesystem::resize_file(file, after_kill.stats.end_offset - 5);
  Journal torn = read_journal(file);
  CHECK(torn.records.size() == kept - 1);
  CHECK(torn.stats.torn_tail);
  journal::JournalWriter reopened(file);
  CHECK(reopened.open_report().records_kept == kept - 1);
  CHECK(reopened.open_report().bytes_truncated > 0);
  reopened.close();
  CHECK(read_journal(file).stats.clean());
}

TEST_CASE("record: records only verified messages of the journal's schema and counts the rest by reason",
          "[record][cli]") {
  test::TempDir dir;
  const std::string file = dir / "mixed.ticks", ep = endpoint("mixed");
  zmq::context_t ctx;
  zmq::socket_t pub(ctx, zmq::socket_type::xpub);
  pub.set(zmq::sockopt::linger, 1000);
  pub.bind(ep);
  test::CommandResult result;
  std::thread recorder([&] {
    result = test::run_command(fmt::format("timeout 60 {} record --sub '>{}' --out {} --schema tick --count 3 "
                                           "--duration 30", test::tickrt_binary(), ep, file));
  });
  zmq::message_t sub;  // the recorder's subscription: it is connected
  pub.set(zmq::sockopt::rcvtimeo, 30000);
  const bool joined = pub.recv(sub).has_value();

  feeds::TickGenerator gen(small_config(3));
  feeds::MessageBuilder builder;
  feeds::TickEvent t;
  auto send2 = [&](std::string_view topic, std::span<const std::uint8_t> bytes) {
    pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(bytes.data(), bytes.size()));
  };
  if (joined) {
    pub.send(zmq::str_buffer("SYM000"));                       // one frame: frame_count
    const std::uint8_t junk[3] = {1, 2, 3};
    send2("SYM000", junk);                                     // too_short
    feeds::SignalEvent s;
    const float pred[2] = {0.5f, -0.5f};
    s.seq = 1, s.event_time_ns = 1, s.recv_time_ns = 1, s.publish_time_ns = 1, s.prediction = pred;
    s.prediction_count = 2;
    send2("SYM000", builder.build_signal(s));                  // valid, other schema
    for (int i = 0; i < 3; ++i) {
      gen.next(t);
      send2(t.symbol, builder.build_tick(t));
    }
  }
  recorder.join();
  REQUIRE(joined);
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("record: recorded 3 messages") != std::string::npos);
  CHECK(result.output.find("read 6, rejected 2 frame_count=1 too_short=1, other schema 1") != std::string::npos);
  Journal j = read_journal(file);
  REQUIRE(j.records.size() == 3);
  feeds::TickGenerator reference(small_config(3));
  feeds::MessageBuilder ref_builder;
  for (const auto& rec : j.records) {
    reference.next(t);
    auto bytes = ref_builder.build_tick(t);
    CHECK(std::equal(rec.payload.begin(), rec.payload.end(), bytes.begin(), bytes.end()));
  }
}

TEST_CASE("record: SIGTERM flushes and closes and prints the summary with exit code 0", "[record][cli]") {
  test::TempDir dir;
  const std::string bin = test::tickrt_binary();
  const std::string file = dir / "term.ticks", ep = endpoint("term");
  auto r = test::run_command(fmt::format(
      "{{ {0} record --sub '>{1}' --out {2} --flush-ms 100000 --duration 40 & rec=$!; "
      "timeout 60 {0} gen --pub '@{1}' --instruments 4 --rate 2000 --count 600 --seed 8 --wait-subscribers 1 "
      "--wait-timeout 30 > /dev/null; sleep 0.3; kill -TERM $rec; wait $rec; echo \"rec_status=$?\"; }}",
      bin, ep, file));
  INFO(r.output);
  REQUIRE(r.output.find("rec_status=0") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, std::regex(R"(record: recorded (\d+) messages)")));
  const std::uint64_t recorded = std::stoull(m[1]);
  // The flush timer never fired (100 s) and 600 records do not fill the 1 MiB buffer: the records are on
  // disk only because SIGTERM flushed and closed.
  Journal j = read_journal(file);
  CHECK(j.stats.clean());
  CHECK(recorded > 0);
  CHECK(recorded <= 600);
  REQUIRE(j.records.size() == recorded);
  feeds::MessageDecoder decoder;
  for (std::size_t i = 0; i < j.records.size(); ++i) REQUIRE(decode_tick(decoder, j.records[i]).seq == i + 1);
}

TEST_CASE("replay: bad arguments are refused with a reason", "[replay][cli]") {
  const std::string bin = test::tickrt_binary();
  test::TempDir dir;
  write_generated(dir / "x.ticks", 10, 1000);
  auto no_pub = test::run_command(fmt::format("{} replay {}", bin, dir / "x.ticks"));
  CHECK(no_pub.exit_code != 0);
  CHECK(no_pub.output.find("--pub") != std::string::npos);
  auto both = test::run_command(fmt::format("{} replay {} --pub @{} --speed 2 --max", bin, dir / "x.ticks",
                                            endpoint("bad")));
  CHECK(both.exit_code != 0);
  auto missing = test::run_command(fmt::format("{} replay {} --pub @{}", bin, dir / "none.ticks", endpoint("bad")));
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("none.ticks") != std::string::npos);
  auto model = test::run_command(fmt::format("{} replay {} --model /m", bin, dir / "x.ticks"));
  CHECK(model.exit_code != 0);
  CHECK(model.output.find("--signals") != std::string::npos);
  auto help = test::run_command(bin + " replay --help");
  CHECK(help.output.find("Example") != std::string::npos);
  CHECK(help.output.find("--model") != std::string::npos);
  auto rec_help = test::run_command(bin + " record --help");
  CHECK(rec_help.output.find("Example") != std::string::npos);
}
