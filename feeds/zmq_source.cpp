#include "feeds/zmq_source.h"

#include "feeds/handler_memory.h"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cerrno>

#include "feeds/clock.h"

namespace tickrt::feeds {

namespace {
void bump(std::atomic<std::uint64_t>& c) noexcept { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
}  // namespace

struct ZmqSource::State : std::enable_shared_from_this<ZmqSource::State> {
  boost::asio::io_context& io;
  zmq::socket_t socket;
  boost::asio::posix::stream_descriptor descriptor;
  FeedHandler& handler;
  MessageDecoder decoder;
  zmq::message_t topic;    // frame 1, reused for every message
  zmq::message_t payload;  // frame 2, reused
  zmq::message_t surplus;  // frames 3.. of a malformed message, read and dropped
  SourceCounters counters;
  std::vector<std::string> resolved;
  std::size_t max_batch;
  bool busy_poll;
  bool running = false;
  bool halted = false;                // stop() was called: a drain in progress ends after the current message
  bool wait_pending = false;          // an async_wait is queued
  bool continuation_pending = false;  // a drain is posted
  // Memory for the one outstanding operation of each kind (feeds/handler_memory.h): no allocation per wake-up.
  HandlerSlot continuation_slot, wait_slot, spin_slot;

  State(boost::asio::io_context& io_, zmq::context_t& context, const ZmqSourceOptions& o, FeedHandler& h)
      : io(io_), socket(context, zmq::socket_type::sub), descriptor(io_), handler(h), max_batch(o.max_batch),
        busy_poll(o.busy_poll) {
    socket.set(zmq::sockopt::rcvhwm, o.receive_hwm);
    socket.set(zmq::sockopt::linger, 0);  // a subscriber has nothing worth waiting for at close
    if (o.topics.empty()) socket.set(zmq::sockopt::subscribe, "");
    for (const auto& t : o.topics) socket.set(zmq::sockopt::subscribe, t);
    apply_curve(socket, o.curve);  // before any bind/connect: the mechanism is fixed per connection
    resolved = apply_endpoints(socket, o.endpoints);
  }

  bool readable() noexcept {
    int events = 0;
    size_t len = sizeof(events);
    if (zmq_getsockopt(socket.handle(), ZMQ_EVENTS, &events, &len) != 0) return false;
    return (events & ZMQ_POLLIN) != 0;
  }

  void dispatch_reject(const Decoded& d, std::string_view topic_view) {
    bump(counters.rejected);
    handler.on_reject(d.reason, topic_view);
  }

  std::size_t drain(std::size_t limit) {
    void* s = socket.handle();
    std::size_t n = 0;
    while ((limit == 0 || n < limit) && !halted) {
      if (zmq_msg_recv(topic.handle(), s, ZMQ_DONTWAIT) < 0) {
        int err = zmq_errno();
        if (err == EINTR) continue;
        if (err != EAGAIN) bump(counters.recv_errors);
        break;
      }
      ++n;
      bump(counters.messages);
      const std::int64_t recv_ns = realtime_ns();
      std::string_view topic_view(topic.data<char>(), topic.size());
      if (!topic.more()) {  // a one-frame message
        dispatch_reject(decoder.reject(RejectReason::frame_count), {});
        continue;
      }
      // ZeroMQ delivers multipart messages atomically: the second frame is already here.
      if (zmq_msg_recv(payload.handle(), s, ZMQ_DONTWAIT) < 0) {
        bump(counters.recv_errors);
        break;
      }
      if (payload.more()) {  // three frames or more: read the rest so the next message starts clean
        bool more = true;
        while (more && zmq_msg_recv(surplus.handle(), s, ZMQ_DONTWAIT) >= 0) more = surplus.more();
        dispatch_reject(decoder.reject(RejectReason::frame_count), topic_view);
        continue;
      }
      Decoded d = decoder.decode(topic_view, {payload.data<std::uint8_t>(), payload.size()});
      if (!d.ok) {
        dispatch_reject(d, topic_view);
      } else if (d.kind == PayloadKind::Tick) {
        d.tick.recv_time_ns = recv_ns;
        bump(counters.ticks);
        handler.on_tick_message(d.tick, topic_view, {payload.data<std::uint8_t>(), payload.size()});
      } else {
        d.signal.local_recv_time_ns = recv_ns;
        bump(counters.signals);
        handler.on_signal(d.signal);
      }
    }
    if (n > 0) handler.on_drain_end(n);
    return n;
  }

  // One wake-up: drain, then either continue later (batch limit) or wait for the next edge.
  void on_ready() {
    if (!running) return;
    bump(counters.wakeups);
    std::size_t n = drain(max_batch);
    if (!running) return;  // the handler may have stopped us
    if (max_batch != 0 && n == max_batch) {
      bump(counters.batch_limited);
      post_continuation();
      return;
    }
    arm();
  }

  void post_continuation() {
    if (continuation_pending) return;
    continuation_pending = true;
    boost::asio::post(io, in_slot(continuation_slot, [self = shared_from_this()] {
      self->continuation_pending = false;
      self->on_ready();
    }));
  }

  void arm() {
    if (!wait_pending) {
      wait_pending = true;
      descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                            in_slot(wait_slot, [self = shared_from_this()](const boost::system::error_code& ec) {
                              self->wait_pending = false;
                              // Aborted: stop(), or a stop() then start() before this ran (carry on then).
                              if (ec && ec != boost::asio::error::operation_aborted) {
                                bump(self->counters.recv_errors);
                                self->running = false;
                                return;
                              }
                              self->on_ready();
                            }));
    }
    // A message that arrived after the last EAGAIN but before async_wait was queued may have spent its edge
    // already. Asking ZMQ_EVENTS now either finds it (drain again) or resets the fd so the next arrival fires.
    if (readable()) post_continuation();
  }

  void spin() {
    if (!running) return;
    if (drain(max_batch) > 0) bump(counters.wakeups);
    boost::asio::post(io, in_slot(spin_slot, [self = shared_from_this()] { self->spin(); }));
  }

  void start() {
    if (running) return;
    running = true;
    halted = false;
    if (busy_poll) {
      boost::asio::post(io, in_slot(spin_slot, [self = shared_from_this()] { self->spin(); }));
      return;
    }
    if (!descriptor.is_open()) descriptor.assign(socket.get(zmq::sockopt::fd));
    post_continuation();  // messages may already be queued, and their edge is gone
  }

  void stop() noexcept {
    running = false;
    halted = true;
    if (descriptor.is_open()) {
      boost::system::error_code ec;
      descriptor.cancel(ec);
    }
  }

  void close() noexcept {
    stop();
    // Never let Asio close ZeroMQ's fd: release() deregisters it and gives it back without closing.
    if (descriptor.is_open()) descriptor.release();
    socket.close();
  }
};

ZmqSource::ZmqSource(boost::asio::io_context& io, zmq::context_t& context, const ZmqSourceOptions& options,
                     FeedHandler& handler)
    : state_(std::make_shared<State>(io, context, options, handler)) {}

ZmqSource::~ZmqSource() { state_->close(); }

void ZmqSource::start() { state_->start(); }
void ZmqSource::stop() noexcept { state_->stop(); }
std::size_t ZmqSource::drain(std::size_t max_messages) { return state_->drain(max_messages); }
const SourceCounters& ZmqSource::counters() const noexcept { return state_->counters; }
const RejectCounters& ZmqSource::rejects() const noexcept { return state_->decoder.rejects(); }
const std::vector<std::string>& ZmqSource::endpoints() const noexcept { return state_->resolved; }
zmq::socket_t& ZmqSource::socket() noexcept { return state_->socket; }

}  // namespace tickrt::feeds
