#include "feeds/recorder.h"

#include <fmt/core.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <stdexcept>

#include "feeds/clock.h"

namespace tickrt::feeds {

namespace {
void bump(std::atomic<std::uint64_t>& c) noexcept { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
}  // namespace

Recorder::Recorder(boost::asio::io_context& io, zmq::context_t& context, RecorderOptions options,
                   std::function<void()> on_finished)
    : io_(io), options_(std::move(options)), on_finished_(std::move(on_finished)),
      socket_(context, zmq::socket_type::sub), descriptor_(io), flush_timer_(io) {
  socket_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
  socket_.set(zmq::sockopt::linger, 0);
  if (options_.topics.empty()) socket_.set(zmq::sockopt::subscribe, "");
  for (const auto& t : options_.topics) socket_.set(zmq::sockopt::subscribe, t);
  if (options_.schema && !open_journal(*options_.schema)) throw std::runtime_error(error_);
  apply_curve(socket_, options_.curve);  // before any bind/connect
  resolved_ = apply_endpoints(socket_, options_.endpoints);
}

Recorder::~Recorder() {
  try {
    close();
  } catch (...) {
  }
}

bool Recorder::open_journal(journal::SchemaId schema) {
  try {
    options_.schema = schema;
    options_.journal.writer.schema = schema;
    sink_ = std::make_unique<JournalSink>(options_.journal);
    return true;
  } catch (const std::exception& e) {
    error_ = e.what();
    return false;
  }
}

void Recorder::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
  stop();
  if (on_finished_) on_finished_();
}

void Recorder::record(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t recv_ns) {
  Decoded d = decoder_.decode(topic, payload);
  if (!d.ok) {
    bump(counters_.rejected);
    return;
  }
  const journal::SchemaId kind = d.kind == PayloadKind::Tick ? journal::kTickSchema : journal::kSignalSchema;
  if (!sink_) {
    if (options_.schema) return;  // the journal could not be opened; fail() has run
    if (!open_journal(kind)) return fail(error_);
  }
  if (kind != *options_.schema) {
    bump(counters_.wrong_schema);
    return;
  }
  if (!sink_->publish(topic, payload, recv_ns)) {
    bump(counters_.not_written);
    if (sink_->counters().errors.load(std::memory_order_relaxed) > 0) fail(sink_->error());
    return;
  }
  bump(counters_.recorded);
  if (options_.max_messages > 0 && counters_.recorded.load(std::memory_order_relaxed) >= options_.max_messages) {
    stop();
    if (on_finished_) on_finished_();
  }
}

std::size_t Recorder::drain(std::size_t limit) {
  void* s = socket_.handle();
  std::size_t n = 0;
  while ((limit == 0 || n < limit) && running_) {
    if (zmq_msg_recv(topic_.handle(), s, ZMQ_DONTWAIT) < 0) {
      const int err = zmq_errno();
      if (err == EINTR) continue;
      if (err != EAGAIN) bump(counters_.recv_errors);
      break;
    }
    ++n;
    bump(counters_.messages);
    const std::int64_t recv_ns = realtime_ns();
    const std::string_view topic(topic_.data<char>(), topic_.size());
    if (!topic_.more()) {
      decoder_.reject(RejectReason::frame_count);
      bump(counters_.rejected);
      continue;
    }
    if (zmq_msg_recv(payload_.handle(), s, ZMQ_DONTWAIT) < 0) {  // multipart arrives whole: not EAGAIN
      bump(counters_.recv_errors);
      break;
    }
    if (payload_.more()) {  // three frames or more: read the rest so that the next message starts clean
      bool more = true;
      while (more && zmq_msg_recv(surplus_.handle(), s, ZMQ_DONTWAIT) >= 0) more = surplus_.more();
      decoder_.reject(RejectReason::frame_count);
      bump(counters_.rejected);
      continue;
    }
    record(topic, {payload_.data<std::uint8_t>(), payload_.size()}, recv_ns);
  }
  return n;
}

void Recorder::on_ready() {
  if (!running_) return;
  const std::size_t n = drain(options_.max_batch);
  if (!running_) return;
  if (options_.max_batch != 0 && n == options_.max_batch) return post_continuation();
  arm();
}

void Recorder::post_continuation() {
  if (continuation_pending_) return;
  continuation_pending_ = true;
  boost::asio::post(io_, [this] {
    continuation_pending_ = false;
    on_ready();
  });
}

void Recorder::arm() {
  if (!wait_pending_) {
    wait_pending_ = true;
    descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
      wait_pending_ = false;
      if (ec && ec != boost::asio::error::operation_aborted) {
        bump(counters_.recv_errors);
        return fail(fmt::format("record: waiting on the socket failed: {}", ec.message()));
      }
      on_ready();
    });
  }
  // ZMQ_FD is edge-triggered: a message that came after the last EAGAIN and before the wait was queued may
  // have spent its edge. Asking ZMQ_EVENTS finds it (drain again) or resets the fd for the next arrival.
  if (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN) post_continuation();
}

void Recorder::schedule_flush() {
  flush_timer_.expires_after(options_.flush_interval);
  flush_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    try {
      if (sink_) sink_->flush();
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    schedule_flush();
  });
}

void Recorder::start() {
  if (running_) return;
  running_ = true;
  if (!descriptor_.is_open()) descriptor_.assign(socket_.get(zmq::sockopt::fd));
  post_continuation();  // messages may already be queued, and their edge is gone
  if (options_.flush_interval.count() > 0) schedule_flush();
}

void Recorder::stop() noexcept {
  running_ = false;
  boost::system::error_code ec;
  if (descriptor_.is_open()) descriptor_.cancel(ec);
  flush_timer_.cancel();
}

void Recorder::close() {
  stop();
  // ZeroMQ owns the fd and aborts if someone else closes it: release, never close, from Asio.
  if (descriptor_.is_open()) descriptor_.release();
  if (socket_.handle() != nullptr) socket_.close();
  if (sink_) sink_->close();
}

}  // namespace tickrt::feeds
