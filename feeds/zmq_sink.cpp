#include "feeds/zmq_sink.h"

#include <fmt/core.h>

#include <cerrno>
#include <thread>

namespace tickrt::feeds {

ZmqSink::ZmqSink(zmq::context_t& context, const ZmqSinkOptions& options) : socket_(context, zmq::socket_type::xpub) {
  socket_.set(zmq::sockopt::sndhwm, options.send_hwm);
  socket_.set(zmq::sockopt::linger, options.linger_ms);
  socket_.set(zmq::sockopt::xpub_nodrop, options.count_drops ? 1 : 0);   // HWM -> EAGAIN, so drops are counted, not silent
  socket_.set(zmq::sockopt::xpub_verbose, 1);  // pass every subscribe, also duplicates from other subscribers
  apply_curve(socket_, options.curve);  // before any bind/connect: the mechanism is fixed per connection
  resolved_ = apply_endpoints(socket_, options.endpoints);
}

bool ZmqSink::publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t) noexcept {
  void* s = socket_.handle();
  if (zmq_send(s, topic.data(), topic.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    bump(errno == EAGAIN ? counters_.dropped : counters_.errors);
    return false;
  }
  // The high-water mark counts whole messages (a pipe's count moves only on the last frame), so once the first
  // frame is accepted the second cannot hit it: this send does not block.
  if (zmq_send(s, payload.data(), payload.size(), 0) < 0) {
    bump(counters_.errors);
    return false;
  }
  bump(counters_.sent);
  return true;
}

std::uint64_t ZmqSink::poll_subscriptions() {
  zmq::message_t msg;
  while (socket_.recv(msg, zmq::recv_flags::dontwait)) {
    // XPUB delivers subscriptions as one frame: 1 = subscribe, 0 = unsubscribe, then the prefix.
    if (msg.size() >= 1 && msg.data<std::uint8_t>()[0] == 1) ++subscriptions_;
  }
  return subscriptions_;
}

bool ZmqSink::wait_for_subscriptions(std::uint64_t n, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (poll_subscriptions() < n) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace tickrt::feeds
