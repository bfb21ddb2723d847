// tickrt record: subscribe to a feed and write every valid message, as received, into a `.ticks` journal with
// its receive timestamp (feeds/recorder.h). SIGINT/SIGTERM, --count or --duration end it cleanly: flush,
// close, print a summary, exit 0.
#include <fmt/core.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cmath>
#include <memory>
#include <stdexcept>

#include "feeds/endpoint.h"
#include "feeds/recorder.h"
#include "tools/command_registry.h"
#include "tools/curve_cli.h"

namespace {

using namespace tickrt;
using namespace tickrt::feeds;

struct RecordOptions {
  std::vector<std::string> sub;
  std::vector<std::string> topics;
  std::string out;
  std::string schema = "auto";
  std::string fsync = "none";
  std::uint32_t fsync_interval_ms = 1000;
  std::uint64_t rotate_bytes = 0;
  double rotate_s = 0;
  std::uint64_t count = 0;
  double duration_s = 0;
  std::uint32_t flush_ms = 100;
  int receive_hwm = 1'000'000;
  tickrt::cli::CurveClientFiles curve;
};

std::optional<journal::SchemaId> parse_schema(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "tick" || name == "TICK") return journal::kTickSchema;
  if (name == "signal" || name == "SGNL") return journal::kSignalSchema;
  throw std::runtime_error(fmt::format("record --schema '{}': expected auto, tick or signal", name));
}

std::string rejects_by_reason(const RejectCounters& rejects) {
  std::string out;
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
    const auto r = static_cast<RejectReason>(i);
    if (rejects[r] > 0) out += fmt::format(" {}={}", reject_reason_name(r), rejects[r]);
  }
  return out;
}

int run_record(const RecordOptions& o) {
  if (!(o.rotate_s >= 0) || !std::isfinite(o.rotate_s)) throw std::runtime_error("record --rotate-time: must be >= 0");
  if (!(o.duration_s >= 0)) throw std::runtime_error("record --duration: must be >= 0");
  RecorderOptions ro;
  ro.endpoints = parse_endpoints(o.sub, SocketRole::Subscriber);
  ro.topics = o.topics;
  ro.receive_hwm = o.receive_hwm;
  ro.curve = tickrt::cli::curve_client_options(o.curve);
  ro.schema = parse_schema(o.schema);
  ro.max_messages = o.count;
  ro.flush_interval = std::chrono::milliseconds(o.flush_ms);
  ro.journal.path = o.out;
  ro.journal.rotate_bytes = o.rotate_bytes;
  ro.journal.rotate_ns = static_cast<std::int64_t>(o.rotate_s * 1e9);
  ro.journal.writer.fsync = journal::parse_fsync_policy(o.fsync);
  ro.journal.writer.interval_ms = o.fsync_interval_ms;

  boost::asio::io_context io;
  zmq::context_t context(1);
  Recorder recorder(io, context, ro, [&io] { io.stop(); });
  for (const auto& ep : recorder.endpoints()) fmt::print(stderr, "record: subscribed on {}\n", ep);
  if (const JournalSink* j = recorder.journal(); j && j->first_open_report().existed)
    fmt::print(stderr, "record: appending to {} ({} records kept, {} torn bytes cut)\n", j->files().front(),
               j->first_open_report().records_kept, j->first_open_report().bytes_truncated);
  recorder.start();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) io.stop();
  });
  boost::asio::steady_timer deadline(io);
  if (o.duration_s > 0) {
    deadline.expires_after(std::chrono::microseconds(static_cast<long>(o.duration_s * 1e6)));
    deadline.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) io.stop();
    });
  }
  io.run();
  recorder.close();

  const auto& c = recorder.counters();
  const JournalSink* j = recorder.journal();
  std::string files = "no journal (no valid message arrived)";
  if (j) files = j->files().size() == 1 ? j->files().front()
                                        : fmt::format("{} files {} .. {}", j->files().size(), j->files().front(),
                                                      j->files().back());
  fmt::print("record: recorded {} messages ({} bytes, schema {}) to {} | read {}, rejected {}{}, other schema {}, "
             "not written {}, receive errors {}\n",
             c.recorded.load(), j ? j->counters().bytes.load() : 0,
             recorder.schema() ? journal::schema_name(*recorder.schema()) : "none", files, c.messages.load(),
             c.rejected.load(), rejects_by_reason(recorder.rejects()), c.wrong_schema.load(), c.not_written.load(),
             c.recv_errors.load());
  std::fflush(stdout);
  if (!recorder.error().empty()) throw std::runtime_error(fmt::format("record: {}", recorder.error()));
  return 0;
}

tickrt::cli::Registration reg("record", "write a feed into a .ticks journal, as received", [](CLI::App& app) {
  auto o = std::make_shared<RecordOptions>();
  app.add_option("--sub", o->sub, "endpoint to read (> connects, @ binds; default connects); repeatable")->required();
  app.add_option("--out", o->out, "journal file (appended to when it exists)")->required();
  app.add_option("--topic", o->topics, "symbol prefix to subscribe to; repeatable (default: everything)");
  app.add_option("--schema", o->schema, "auto (the first valid message's), tick or signal")->capture_default_str();
  app.add_option("--fsync", o->fsync, "none, interval, every-batch or every-record")->capture_default_str();
  app.add_option("--fsync-interval-ms", o->fsync_interval_ms, "interval policy: fsync at most this often")
      ->capture_default_str();
  app.add_option("--flush-ms", o->flush_ms, "write buffered records at least this often (what kill -9 can lose)")
      ->capture_default_str();
  app.add_option("--rotate-size", o->rotate_bytes, "start a new file before one would exceed BYTES");
  app.add_option("--rotate-time", o->rotate_s, "start a new file every S seconds of receive time");
  app.add_option("--count", o->count, "stop after recording N messages");
  app.add_option("--duration", o->duration_s, "stop after S seconds");
  app.add_option("--hwm", o->receive_hwm, "ZMQ_RCVHWM")->capture_default_str();
  tickrt::cli::add_curve_client_options(app, o->curve);
  app.footer(
      "Example:\n"
      "  tickrt record --sub tcp://127.0.0.1:5555 --out capture.ticks --fsync interval --rotate-size 1000000000\n"
      "  tickrt replay capture.000001.ticks --pub @tcp://127.0.0.1:5556 --speed 10\n"
      "Records only messages that pass verification (the rest are counted by reason) and only those of the\n"
      "journal's schema (TICK or SGNL). With --rotate-size/--rotate-time, FILE is not written: parts are\n"
      "FILE-without-.ticks.000001.ticks, .000002.ticks, ... Ctrl-C flushes, closes and prints the summary.");
  return [o] { return run_record(*o); };
});

}  // namespace
