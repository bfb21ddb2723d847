// The send side of the feed: a ZeroMQ publisher that never blocks. Each message goes out as two frames (topic,
// FlatBuffer). When a subscriber's queue is at the send high-water mark, the message is dropped and counted
// (ZMQ_XPUB_NODROP + ZMQ_DONTWAIT turn ZeroMQ's silent PUB drop into a countable EAGAIN).
//
// The socket is an XPUB: it sends exactly like PUB and, in addition, lets the publisher see subscriptions, so a
// publisher can wait until its subscribers have joined (ZeroMQ's "slow joiner") instead of sleeping.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "feeds/curve_keys.h"
#include "feeds/endpoint.h"
#include "feeds/message_sink.h"

namespace tickrt::feeds {

struct ZmqSinkOptions {
  std::vector<Endpoint> endpoints;  // from parse_endpoints(..., SocketRole::Publisher)
  int send_hwm = 100'000;           // ZMQ_SNDHWM: messages queued per subscriber before drops
  int linger_ms = 1000;             // ZMQ_LINGER: how long close() may wait for queued messages to leave
  // true: a full subscriber queue makes publish() fail and count a drop, for every subscriber of that message
  // (ZMQ_XPUB_NODROP). false: ZeroMQ's PUB behaviour, only the slow subscriber loses it, and nobody counts it.
  bool count_drops = true;
  CurveOptions curve;  // CURVE server or client (feeds/curve_keys.h); default off
};

struct SinkCounters {
  std::atomic<std::uint64_t> sent{0};     // accepted by ZeroMQ
  std::atomic<std::uint64_t> dropped{0};  // a subscriber's queue was full (send HWM)
  std::atomic<std::uint64_t> errors{0};   // any other send failure (e.g. context terminated)
};

class ZmqSink final : public MessageSink {
 public:
  // Creates the socket, applies options and endpoints. Throws std::runtime_error naming the endpoint at fault.
  ZmqSink(zmq::context_t& context, const ZmqSinkOptions& options);

  bool publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t time_ns) noexcept override;

  // Reads pending subscription messages; returns how many subscribe messages have been seen in total.
  std::uint64_t poll_subscriptions();
  // Waits until at least `n` subscribe messages have been seen (one per subscriber and topic prefix).
  // Returns false on timeout.
  bool wait_for_subscriptions(std::uint64_t n, std::chrono::milliseconds timeout);

  const SinkCounters& counters() const noexcept { return counters_; }
  // Endpoints as ZeroMQ resolved them (a bind to port * shows the chosen port).
  const std::vector<std::string>& endpoints() const noexcept { return resolved_; }
  zmq::socket_t& socket() noexcept { return socket_; }

 private:
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  zmq::socket_t socket_;
  std::vector<std::string> resolved_;
  SinkCounters counters_;
  std::uint64_t subscriptions_ = 0;
};

}  // namespace tickrt::feeds
