// The receive side of the feed: a ZeroMQ SUB socket driven by a Boost.Asio io_context.
//
// Event-driven mode (default): the socket's ZMQ_FD joins the io_context as a stream_descriptor. ZMQ_FD is
// edge-triggered and only says "look at ZMQ_EVENTS", so every wake-up drains the socket until EAGAIN (or until
// `max_batch` messages, then a posted continuation carries on, so timers and other handlers get a turn and no
// wake-up is lost), then re-arms the wait and checks ZMQ_EVENTS once more to close the window in which an edge
// can fire with no wait queued.
// Busy-poll mode (opt-in): a handler that drains with ZMQ_DONTWAIT and re-posts itself; lowest latency, one core
// at 100%, timers on the same io_context still run.
//
// Each message is decoded and verified (feeds/tick_codec.h) and handed to a FeedHandler as a plain struct; bad
// messages are counted by reason and reported to the handler. The receive path allocates nothing itself
// (frames are received into preallocated zmq::message_t objects).
//
// Threading: construct, start, stop and destroy on the io_context's thread (or while it is not running); the
// io_context and the zmq::context_t must outlive the source. Handlers still queued when the source is destroyed
// keep only its inner state alive and do nothing.
// The descriptor is released, never closed, by Asio: ZeroMQ owns that fd and aborts if someone else closes it.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <zmq.hpp>

#include "feeds/curve_keys.h"
#include "feeds/endpoint.h"
#include "feeds/tick_codec.h"

namespace tickrt::feeds {

struct ZmqSourceOptions {
  std::vector<Endpoint> endpoints;  // from parse_endpoints(..., SocketRole::Subscriber)
  std::vector<std::string> topics;  // subscription prefixes (symbols); empty: everything
  int receive_hwm = 100'000;        // ZMQ_RCVHWM: messages queued before ZeroMQ stops reading the peer
  std::size_t max_batch = 0;        // most messages per drain before yielding to the io_context; 0: no limit
  bool busy_poll = false;           // spin with ZMQ_DONTWAIT instead of waiting on ZMQ_FD
  CurveOptions curve;               // CURVE server or client (feeds/curve_keys.h); default off
};

// Receives what the source decodes. Called on the io_context's thread; event views are valid during the call only.
class FeedHandler {
 public:
  virtual ~FeedHandler() = default;
  virtual void on_tick(const TickEvent& tick) = 0;
  // A valid tick with the bytes it arrived as (topic frame, FlatBuffer frame), for a handler that keeps them
  // (the engine's crash journal, engine/crash_journal.h). The source calls this one; the default passes the
  // decoded tick on to on_tick. The spans are valid during the call only.
  virtual void on_tick_message(const TickEvent& tick, std::string_view /*topic*/,
                               std::span<const std::uint8_t> /*payload*/) {
    on_tick(tick);
  }
  virtual void on_signal(const SignalEvent& /*signal*/) {}
  // A message that failed decoding (already counted); `topic` is empty when it had none.
  virtual void on_reject(RejectReason /*reason*/, std::string_view /*topic*/) {}
  // After each drain that read at least one message: the engine steps its batch of instruments here.
  virtual void on_drain_end(std::size_t /*messages*/) {}
};

struct SourceCounters {
  std::atomic<std::uint64_t> messages{0};     // messages read (valid or not)
  std::atomic<std::uint64_t> ticks{0};
  std::atomic<std::uint64_t> signals{0};
  std::atomic<std::uint64_t> rejected{0};     // by reason: ZmqSource::rejects()
  std::atomic<std::uint64_t> wakeups{0};      // drains started (fd wake-ups, continuations, spins that found data)
  std::atomic<std::uint64_t> batch_limited{0};  // drains stopped by max_batch
  std::atomic<std::uint64_t> recv_errors{0};  // zmq_msg_recv failures other than EAGAIN/EINTR
};

class ZmqSource {
 public:
  // Creates the socket, sets RCVHWM and subscriptions, applies endpoints. Throws std::runtime_error naming the
  // endpoint at fault. Nothing is read until start().
  ZmqSource(boost::asio::io_context& io, zmq::context_t& context, const ZmqSourceOptions& options,
            FeedHandler& handler);
  ~ZmqSource();
  ZmqSource(const ZmqSource&) = delete;
  ZmqSource& operator=(const ZmqSource&) = delete;

  void start();          // begins waiting (or spinning) on the io_context
  // Stops reading: a drain in progress ends after the current message (a handler may call this), pending
  // handlers become no-ops, drain() reads nothing until start(). Idempotent.
  void stop() noexcept;

  // Reads and dispatches up to `max_messages` (0: until EAGAIN) right now; returns how many were read.
  // What start() runs on every wake-up; callable directly when the caller owns the loop.
  std::size_t drain(std::size_t max_messages);

  const SourceCounters& counters() const noexcept;
  const RejectCounters& rejects() const noexcept;
  const std::vector<std::string>& endpoints() const noexcept;  // as resolved (bind to port * shows the port)
  zmq::socket_t& socket() noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with queued Asio handlers, which may outlive this object
};

}  // namespace tickrt::feeds
