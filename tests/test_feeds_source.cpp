// The receive path over real sockets (tcp and ipc): a full paced run, hostile input, batching, busy-poll and
// shutdown with data in flight.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq_addon.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "feeds/clock.h"
#include "feeds/generator.h"
#include "feeds/open_loop.h"
#include "feeds/zmq_sink.h"
#include "feeds/zmq_source.h"
#include "tests/test_util.h"

using namespace tickrt::feeds;
using namespace std::chrono_literals;

namespace {

// Remembers what arrived: which sequence numbers (and how often), and how each tick compares to the expected.
struct Collector : FeedHandler {
  std::vector<std::uint32_t> seen;         // [max_seq + 1] arrivals per sequence number
  const std::vector<TickEvent>* expected = nullptr;  // [max_seq] by seq - 1, when set
  std::uint64_t ticks = 0, signals = 0, rejects = 0, mismatches = 0, drains = 0;
  std::uint64_t stop_after = 0;
  ZmqSource* source = nullptr;
  boost::asio::io_context* io = nullptr;

  explicit Collector(std::size_t max_seq) : seen(max_seq + 1, 0) {}

  void on_tick(const TickEvent& t) override {
    ++ticks;
    if (t.seq < seen.size()) ++seen[t.seq];
    if (expected && t.seq >= 1 && t.seq <= expected->size()) {
      const TickEvent& e = (*expected)[t.seq - 1];
      if (e.symbol != t.symbol || e.price != t.price || e.bid_price != t.bid_price || e.ask_price != t.ask_price ||
          e.event_time_ns != t.event_time_ns || t.send_time_ns <= 0 || t.recv_time_ns < t.send_time_ns - 1'000'000)
        ++mismatches;
    }
    if (stop_after && ticks >= stop_after) {
      source->stop();
      io->stop();
    }
  }
  void on_signal(const SignalEvent&) override { ++signals; }
  void on_reject(RejectReason, std::string_view) override { ++rejects; }
  void on_drain_end(std::size_t) override { ++drains; }

  std::uint64_t distinct() const {
    std::uint64_t n = 0;
    for (std::size_t i = 1; i < seen.size(); ++i) n += seen[i] > 0;
    return n;
  }
};

// Runs the io_context until `done()` or the deadline.
template <class Done>
void run_until(boost::asio::io_context& io, Done done, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_for(20ms);
  }
}

ZmqSinkOptions sink_at(const std::string& bind_address, int hwm = 1'000'000) {
  ZmqSinkOptions o;
  o.endpoints = {parse_endpoint("@" + bind_address, SocketRole::Publisher)};
  o.send_hwm = hwm;
  o.linger_ms = 0;
  return o;
}

ZmqSourceOptions source_to(const std::string& address, int hwm = 1'000'000) {
  ZmqSourceOptions o;
  o.endpoints = {parse_endpoint(">" + address, SocketRole::Subscriber)};
  o.receive_hwm = hwm;
  return o;
}

std::string bind_address(const std::string& transport, const std::string& tag) {
  return transport == "tcp" ? std::string("tcp://127.0.0.1:*") : tickrt::test::ipc_endpoint(tag);
}

}  // namespace

TEST_CASE("feeds: 100k ticks of 50 instruments at 200k/s arrive complete over tcp and ipc", "[feeds][slow]") {
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "ipc");
  INFO("transport " << transport);
  constexpr std::uint64_t kCount = 100'000;
  GeneratorConfig gc;
  gc.instruments = 50;
  gc.rate = 200'000;
  gc.seed = 2024;
  TickGenerator reference(gc);
  std::vector<TickEvent> expected(kCount);
  for (auto& t : expected) reference.next(t);

  zmq::context_t ctx;
  ZmqSink sink(ctx, sink_at(bind_address(transport, "full")));
  boost::asio::io_context io;
  Collector collector(kCount);
  collector.expected = &expected;
  auto so = source_to(sink.endpoints().at(0));
  so.max_batch = 512;
  ZmqSource source(io, ctx, so, collector);
  source.start();
  // Slow joiner: ZeroMQ drops what a publisher sends before the subscription reaches it.
  REQUIRE(sink.wait_for_subscriptions(1, 5s));

  OpenLoopReport report;
  std::atomic<bool> producer_done{false};
  std::thread producer([&] {
    TickGenerator gen(gc);
    OpenLoopOptions lo;
    lo.count = kCount;
    report = run_open_loop(gen, sink, lo);
    producer_done = true;
  });
  run_until(io, [&] { return producer_done && collector.ticks + sink.counters().dropped >= kCount; }, 60s);
  // Nothing more can be on its way once sent + dropped is accounted for; let stragglers (duplicates) show.
  io.restart();
  io.run_for(100ms);
  producer.join();

  INFO("sent " << report.sent << " dropped at publisher " << report.dropped << " received " << collector.ticks
               << " behind schedule max " << report.pacing.max_lag_ns / 1000 << " us");
  CHECK(report.attempted == kCount);
  CHECK(report.sent + report.dropped == kCount);
  CHECK(sink.counters().dropped == report.dropped);
  CHECK(collector.ticks + report.dropped == kCount);
  CHECK(report.dropped == 0);  // HWMs of 1,000,000 hold the whole run
  CHECK(collector.distinct() == kCount);
  CHECK(source.counters().ticks == kCount);
  CHECK(source.rejects().total() == 0);
  CHECK(collector.mismatches == 0);
  CHECK(source.counters().recv_errors == 0);
}

TEST_CASE("feeds: hostile frames are counted by reason and valid ticks still arrive", "[feeds]") {
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "ipc");
  INFO("transport " << transport);
  zmq::context_t ctx;
  ZmqSink sink(ctx, sink_at(bind_address(transport, "hostile")));
  boost::asio::io_context io;
  Collector collector(1000);  // seen[] ignores bad_seq
  ZmqSource source(io, ctx, source_to(sink.endpoints().at(0)), collector);
  source.start();
  REQUIRE(sink.wait_for_subscriptions(1, 5s));
  zmq::socket_t& raw = sink.socket();

  MessageBuilder builder;
  // A tick payload; `edit` breaks it on purpose.
  auto payload = [&](std::uint64_t seq, auto edit) {
    TickEvent t;
    t.seq = seq;
    t.event_time_ns = 1'704'205'800'000'000'000 + static_cast<std::int64_t>(seq);
    t.kind = TickKind::Trade;
    t.price = 10;
    t.size = 100;
    t.side = Side::Sell;
    t.bid_price = 10;
    t.ask_price = 10.01;
    edit(t);
    auto b = builder.build_tick(t);
    return std::vector<std::uint8_t>(b.begin(), b.end());
  };
  auto intact = [](TickEvent&) {};
  std::uint64_t seq = 0;  // valid ticks sent
  auto send = [&](std::vector<std::vector<std::uint8_t>> frames) {
    std::vector<zmq::const_buffer> bufs;
    for (auto& f : frames) bufs.emplace_back(f.data(), f.size());
    REQUIRE(zmq::send_multipart(raw, bufs));
  };
  auto topic = [](const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); };

  std::mt19937_64 rng(99);
  std::uint64_t hostile = 0;
  std::map<RejectReason, std::uint64_t> expect;
  auto hostile_send = [&](std::vector<std::vector<std::uint8_t>> frames, RejectReason why) {
    send(std::move(frames));
    ++hostile;
    ++expect[why];
    send({topic("SYM000"), payload(++seq, intact)});  // a valid tick after every hostile one
  };
  const std::uint64_t bad_seq = 999'999;  // never counted as a valid arrival
  send({topic("SYM000"), payload(++seq, intact)});
  hostile_send({topic("SYM001")}, RejectReason::frame_count);  // one frame
  hostile_send({topic("SYM001"), payload(bad_seq, intact), topic("extra")}, RejectReason::frame_count);  // three
  hostile_send({topic("SYM001"), {}, {}, {}}, RejectReason::frame_count);                                 // four
  hostile_send({topic(""), payload(bad_seq, intact)}, RejectReason::empty_topic);
  hostile_send({topic(std::string(100, 'S')), payload(bad_seq, intact)}, RejectReason::topic_too_long);
  hostile_send({topic("SYM001"), {0x10, 0, 0, 0}}, RejectReason::too_short);
  hostile_send({topic("SYM001"), std::vector<std::uint8_t>(kMaxPayloadBytes + 8, 0x5a)}, RejectReason::too_large);
  auto truncated = payload(bad_seq, intact);
  truncated.resize(truncated.size() - 12);
  hostile_send({topic("SYM001"), truncated}, RejectReason::verify_failed);
  auto wrong_ident = payload(bad_seq, intact);
  std::memcpy(wrong_ident.data() + 4, "XXXX", 4);
  hostile_send({topic("SYM001"), wrong_ident}, RejectReason::unknown_identifier);
  hostile_send({topic("SYM001"), payload(bad_seq, [](TickEvent& t) { t.price = std::nan(""); })},
               RejectReason::non_finite);
  hostile_send({topic("SYM001"), payload(bad_seq, [](TickEvent& t) { t.size = -5; })}, RejectReason::bad_size);
  hostile_send({topic("SYM001"), payload(bad_seq, [](TickEvent& t) { t.price = -1; })},
               RejectReason::non_positive_price);
  hostile_send({topic("SYM001"), payload(bad_seq, [](TickEvent& t) { t.event_time_ns = -1; })},
               RejectReason::bad_timestamp);
  hostile_send({topic("SYM001"), payload(bad_seq, [](TickEvent& t) { t.bid_price = 11; })},
               RejectReason::crossed_book);
  for (int i = 0; i < 50; ++i) {  // random bytes; the odd ones wear a TICK identifier and fail verification
    std::vector<std::uint8_t> junk(8 + rng() % 200);
    for (auto& x : junk) x = static_cast<std::uint8_t>(rng());
    if (i % 2) std::memcpy(junk.data() + 4, "TICK", 4);
    else std::memcpy(junk.data() + 4, "junk", 4);
    hostile_send({topic("SYM002"), junk}, i % 2 ? RejectReason::verify_failed : RejectReason::unknown_identifier);
  }
  // A signal where ticks are expected is a valid message of the other kind, not an error.
  std::vector<float> pred = {1.0f};
  SignalEvent s;
  s.seq = 1;
  s.event_time_ns = s.recv_time_ns = s.publish_time_ns = 1'704'205'800'000'000'000;
  s.prediction = pred.data();
  s.prediction_count = 1;
  auto sb = builder.build_signal(s);
  send({topic("SYM003"), std::vector<std::uint8_t>(sb.begin(), sb.end())});

  const std::uint64_t valid_sent = seq;
  run_until(io, [&] { return collector.ticks >= valid_sent && collector.signals >= 1 && collector.rejects >= hostile; },
            10s);
  io.restart();
  io.run_for(50ms);

  CHECK(collector.ticks == valid_sent);
  CHECK(collector.distinct() == valid_sent);
  CHECK(collector.signals == 1);
  CHECK(collector.rejects == hostile);
  CHECK(source.rejects().total() == hostile);
  CHECK(source.counters().rejected == hostile);
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
    auto reason = static_cast<RejectReason>(i);
    INFO(reject_reason_name(reason));
    CHECK(source.rejects()[reason] == expect[reason]);
  }
  CHECK(collector.seen.size() > seq);
}

TEST_CASE("feeds: a batch limit of one message still delivers everything", "[feeds]") {
  zmq::context_t ctx;
  ZmqSink sink(ctx, sink_at(tickrt::test::ipc_endpoint("batch")));
  boost::asio::io_context io;
  Collector collector(5000);
  auto so = source_to(sink.endpoints().at(0));
  so.max_batch = 1;
  ZmqSource source(io, ctx, so, collector);
  source.start();
  REQUIRE(sink.wait_for_subscriptions(1, 5s));
  // Everything is queued before the loop runs: one fd edge, then only continuations can carry the drain on.
  GeneratorConfig gc;
  gc.rate = 1e6;
  TickGenerator gen(gc);
  OpenLoopOptions lo;
  lo.count = 5000;
  lo.paced = false;
  auto report = run_open_loop(gen, sink, lo);
  REQUIRE(report.sent == 5000);
  run_until(io, [&] { return collector.ticks >= 5000; }, 10s);
  CHECK(collector.ticks == 5000);
  CHECK(collector.distinct() == 5000);
  CHECK(source.counters().batch_limited > 0);
  CHECK(collector.drains >= 5000);
}

TEST_CASE("feeds: busy-poll mode receives a paced feed and keeps timers running", "[feeds]") {
  zmq::context_t ctx;
  ZmqSink sink(ctx, sink_at("tcp://127.0.0.1:*"));
  boost::asio::io_context io;
  Collector collector(20'000);
  auto so = source_to(sink.endpoints().at(0));
  so.busy_poll = true;
  so.max_batch = 64;
  so.topics = {"SYM00"};  // SYM000..SYM009 only
  ZmqSource source(io, ctx, so, collector);
  source.start();
  REQUIRE(sink.wait_for_subscriptions(1, 5s));
  int timer_fired = 0;
  boost::asio::steady_timer timer(io, 20ms);
  timer.async_wait([&](const boost::system::error_code& ec) { timer_fired += !ec; });

  GeneratorConfig gc;
  gc.instruments = 20;
  gc.rate = 100'000;
  TickGenerator reference(gc);
  std::uint64_t wanted = 0;
  TickEvent t;
  for (int i = 0; i < 20'000; ++i) {
    reference.next(t);
    wanted += t.symbol.substr(0, 5) == "SYM00";
  }
  std::atomic<bool> done{false};
  std::thread producer([&] {
    TickGenerator gen(gc);
    OpenLoopOptions lo;
    lo.count = 20'000;
    run_open_loop(gen, sink, lo);
    done = true;
  });
  run_until(io, [&] { return done && collector.ticks >= wanted; }, 30s);
  producer.join();
  CHECK(collector.ticks == wanted);
  CHECK(collector.distinct() == wanted);
  CHECK(sink.counters().dropped == 0);
  CHECK(timer_fired == 1);
  source.stop();
  io.restart();
  CHECK(io.run_for(200ms) <= 1);  // stopped: at most one queued spin runs (and returns), then the loop runs dry
  CHECK(io.stopped());
}

TEST_CASE("feeds: sources are destroyed repeatedly with data in flight without abort", "[feeds]") {
  zmq::context_t ctx;
  ZmqSink sink(ctx, sink_at(tickrt::test::ipc_endpoint("shutdown"), 100'000));
  std::atomic<bool> stop{false};
  std::uint64_t total_received = 0;
  std::thread producer;
  for (int round = 0; round < 40; ++round) {
    boost::asio::io_context io;
    Collector collector(0);
    auto so = source_to(sink.endpoints().at(0), 1000);
    so.max_batch = 8;
    so.busy_poll = round % 4 == 3;
    {
      ZmqSource source(io, ctx, so, collector);
      source.start();
      if (round == 0) {
        REQUIRE(sink.wait_for_subscriptions(1, 5s));
        producer = std::thread([&] {
          GeneratorConfig gc;
          gc.rate = 1e6;
          TickGenerator gen(gc);
          OpenLoopOptions lo;
          lo.duration_s = 3600;
          run_open_loop(gen, sink, lo, &stop);
        });
      }
      // Leave a wait or a continuation queued, and data pending in the socket, then destroy the source.
      switch (round % 3) {
        case 0: break;                           // never ran: the initial continuation is still queued
        case 1:                                  // mid-stream: reading, with more queued behind
          run_until(io, [&] { return collector.ticks > 0; }, 10s);
          REQUIRE(collector.ticks > 0);
          break;
        case 2: io.run_one(); io.run_one(); break;
      }
      if (round % 5 == 4) source.stop();
    }
    io.restart();
    io.run_for(5ms);  // the leftovers of the destroyed source run (or are dropped) without touching it
    total_received += collector.ticks;
  }
  stop = true;
  producer.join();
  CHECK(total_received > 0);
}
