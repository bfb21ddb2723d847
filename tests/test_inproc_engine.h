// An engine inside the test process on inproc sockets, for tests that drive it tick by tick: its own ZeroMQ
// context, a tick publisher bound at inproc://ticks, the engine, and a signal subscriber connected to
// inproc://signals (unlimited queues), with both subscriptions joined before construction returns.
// Shared by the engine, scale-out and crash tests; hot_path_allocations() is their allocation check.
#pragma once
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <zmq.hpp>

#include "engine/engine.h"
#include "feeds/endpoint.h"
#include "feeds/zmq_sink.h"
#include "tests/alloc_counter.h"
#include "tests/test_feed_util.h"

namespace tickrt::test {

struct InprocEngine {
  zmq::context_t ctx{1};
  feeds::ZmqSink ticks;
  Engine engine;
  zmq::socket_t sub;

  // `eo` gives the model and the engine's own settings; the sockets, the context and quiet operation are set
  // here. `tick_subscriptions`: how many subscriptions the engine's SUB socket makes (one per topic).
  explicit InprocEngine(EngineOptions eo, uint64_t tick_subscriptions = 1)
      : ticks(ctx, tick_sink_options()), engine(with_inproc_sockets(std::move(eo), ctx)),
        sub(ctx, zmq::socket_type::sub) {
    using namespace std::chrono_literals;
    sub.set(zmq::sockopt::subscribe, "");
    sub.set(zmq::sockopt::rcvhwm, 0);
    sub.connect("inproc://signals");
    REQUIRE(engine.wait_for_subscribers(1, 5s));
    REQUIRE(ticks.wait_for_subscriptions(tick_subscriptions, 5s));
  }

 private:
  static feeds::ZmqSinkOptions tick_sink_options() {
    feeds::ZmqSinkOptions so;
    so.endpoints = feeds::parse_endpoints({"@inproc://ticks"}, feeds::SocketRole::Publisher);
    so.send_hwm = 0;
    return so;
  }
  static EngineOptions with_inproc_sockets(EngineOptions eo, zmq::context_t& ctx) {
    eo.sub = {">inproc://ticks"};
    eo.pub = {"@inproc://signals"};
    eo.handle_signals = false;
    eo.quiet = true;
    eo.zmq_context = &ctx;
    return eo;
  }
};

// Runs the engine on its own thread over `feed` (at least 6000 ticks): 3000 ticks of warm-up (every instrument
// seen, builders and buffers at full size), then counts the allocations the engine's thread makes over the next
// 3000 (the hot path: receive, features, step, publish, journal). ZeroMQ's I/O threads allocate queue space of
// their own and are not watched. Every tick's signal is received before the count is read; stops the engine.
inline uint64_t hot_path_allocations(InprocEngine& e, const Feed& feed) {
  std::thread loop([&] {
    watch_this_thread(true);
    e.engine.run();
    watch_this_thread(false);
  });
  feeds::MessageBuilder b;
  zmq::message_t topic, body;
  auto send_and_drain = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i)
      REQUIRE(e.ticks.publish(feed.ticks[i].symbol, b.build_tick(feed.ticks[i]), 0));
    for (size_t i = begin; i < end; ++i) {  // every tick's signal, received into reused messages
      REQUIRE(e.sub.recv(topic, zmq::recv_flags::none));
      REQUIRE(e.sub.recv(body, zmq::recv_flags::none));
    }
  };
  send_and_drain(0, 3000);
  const uint64_t before = watched_allocation_count();
  send_and_drain(3000, 6000);
  const uint64_t allocations = watched_allocation_count() - before;
  e.engine.request_stop();
  loop.join();
  return allocations;
}

}  // namespace tickrt::test
