// Records a ZeroMQ feed into a `.ticks` journal: a SUB socket on a Boost.Asio io_context (ZMQ_FD, drained
// until EAGAIN or max_batch, like ZmqSource), every message verified (feeds/tick_codec.h) and, when valid,
// appended byte for byte (topic and FlatBuffer exactly as received) with its receive timestamp
// (CLOCK_REALTIME ns, read right after the message left the socket).
//
// What is not recorded, and counted: messages that fail verification (by reason: rejects()), and valid
// messages of the other kind than the journal's schema (a TICK journal holds only Ticks, a SGNL journal only
// Signals). The schema is given, or taken from the first valid message (the journal is then created on that
// message; with no message, no file is written).
//
// Durability: the journal writer buffers; a timer on the io_context flushes it every flush_interval, so a
// process killed with SIGKILL loses at most that interval's records (plus what the OS had not written back
// after a machine crash, unless the fsync policy says otherwise). The reader stops cleanly at a torn tail.
//
// Threading: everything runs on the io_context's thread; construct, start, stop and close there (or while it
// is not running). Destroy the recorder only when the io_context will not run its handlers again.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.hpp>

#include "feeds/curve_keys.h"
#include "feeds/endpoint.h"
#include "feeds/journal_sink.h"
#include "feeds/tick_codec.h"

namespace tickrt::feeds {

struct RecorderOptions {
  std::vector<Endpoint> endpoints;  // from parse_endpoints(..., SocketRole::Subscriber)
  std::vector<std::string> topics;  // subscription prefixes; empty: everything
  int receive_hwm = 1'000'000;      // ZMQ_RCVHWM
  std::size_t max_batch = 1024;     // most messages per drain before timers get a turn
  JournalSinkOptions journal;       // output; journal.writer.schema is set from `schema`
  std::optional<journal::SchemaId> schema;  // empty: the first valid message's identifier
  std::uint64_t max_messages = 0;   // finish after recording this many (0: no limit)
  std::chrono::milliseconds flush_interval{100};  // bound on what a kill -9 loses
  CurveOptions curve;               // CURVE client of a secured publisher (feeds/curve_keys.h); default off
};

struct RecorderCounters {
  std::atomic<std::uint64_t> messages{0};      // read from the socket, valid or not
  std::atomic<std::uint64_t> recorded{0};      // appended to the journal
  std::atomic<std::uint64_t> rejected{0};      // failed verification (by reason: Recorder::rejects())
  std::atomic<std::uint64_t> wrong_schema{0};  // valid, but not of the journal's schema
  std::atomic<std::uint64_t> not_written{0};   // refused by the journal (too large, I/O error)
  std::atomic<std::uint64_t> recv_errors{0};   // zmq_msg_recv failures other than EAGAIN/EINTR
};

class Recorder {
 public:
  // Creates the socket and applies endpoints; with a given schema, opens the journal now. `on_finished` is
  // called (on the io_context's thread) when max_messages is reached or a journal error stops recording.
  // Throws std::runtime_error naming the endpoint or file at fault.
  Recorder(boost::asio::io_context& io, zmq::context_t& context, RecorderOptions options,
           std::function<void()> on_finished = {});
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void start();            // begins waiting for messages and starts the flush timer
  void stop() noexcept;    // stops reading and flushing (pending handlers become no-ops). Idempotent.
  void close();            // stop(), then flush and close the journal; throws on I/O errors naming the file

  const RecorderCounters& counters() const noexcept { return counters_; }
  const RejectCounters& rejects() const noexcept { return decoder_.rejects(); }
  const std::vector<std::string>& endpoints() const noexcept { return resolved_; }
  const JournalSink* journal() const noexcept { return sink_.get(); }  // null until the schema is known
  std::optional<journal::SchemaId> schema() const noexcept { return options_.schema; }
  const std::string& error() const noexcept { return error_; }  // what stopped recording, if anything

 private:
  std::size_t drain(std::size_t limit);
  void record(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t recv_ns);
  bool open_journal(journal::SchemaId schema);
  void fail(std::string message);
  void on_ready();
  void arm();
  void post_continuation();
  void schedule_flush();

  boost::asio::io_context& io_;
  RecorderOptions options_;
  std::function<void()> on_finished_;
  zmq::socket_t socket_;
  boost::asio::posix::stream_descriptor descriptor_;
  boost::asio::steady_timer flush_timer_;
  MessageDecoder decoder_;
  zmq::message_t topic_, payload_, surplus_;  // reused frames
  std::unique_ptr<JournalSink> sink_;
  std::vector<std::string> resolved_;
  std::string error_;
  RecorderCounters counters_;
  bool running_ = false;
  bool wait_pending_ = false;
  bool continuation_pending_ = false;
};

}  // namespace tickrt::feeds
