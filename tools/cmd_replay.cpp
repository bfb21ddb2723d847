// tickrt replay: send a `.ticks` journal to a ZeroMQ publisher on the recorded receive-time schedule
// (feeds/replay.h), or step it through a model in process (--model: engine/backtest.h).
#include <fmt/core.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "engine/backtest.h"
#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/journal_reader.h"
#include "feeds/replay.h"
#include "feeds/zmq_sink.h"
#include "tools/command_registry.h"
#include "tools/curve_cli.h"

namespace {

using namespace tickrt;
using namespace tickrt::feeds;

struct ReplayCliOptions {
  std::string file;
  std::vector<std::string> pub;
  ReplayOptions replay;
  bool skip_corrupt = false;
  int send_hwm = 1'000'000;
  double linger_s = 2.0;
  std::uint64_t wait_subscribers = 0;
  double wait_timeout_s = 10.0;
  bool progress = true;
  BacktestOptions backtest;  // --model mode
  tickrt::cli::CurveClientFiles curve;
};

std::atomic<bool> g_stop{false};
extern "C" void on_replay_stop_signal(int) { g_stop.store(true); }

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// One terminal line, rewritten in place: bar, position, rate over the last update, ETA, drops.
class ProgressBar {
 public:
  void operator()(const ReplayProgress& p) {
    const double dt = p.elapsed_s - last_elapsed_s_;
    const double rate = dt > 0 ? static_cast<double>(p.attempted - last_attempted_) / dt : 0;
    last_elapsed_s_ = p.elapsed_s;
    last_attempted_ = p.attempted;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(p.fraction * kWidth);
    const std::string eta = p.fraction > 0 ? clock_text(p.elapsed_s * (1 - p.fraction) / p.fraction) : "?";
    fmt::print(stderr, "\r[{:#<{}}{:.<{}}] {:5.1f}%  {:>9.0f} msg/s  ETA {:>7}  sent {}  dropped {}\033[K",
               "", filled, "", kWidth - filled, p.fraction * 100, rate, eta, p.attempted - p.dropped, p.dropped);
    std::fflush(stderr);
    shown_ = true;
  }
  void finish() {
    if (shown_) fmt::print(stderr, "\n");
  }

 private:
  double last_elapsed_s_ = 0;
  std::uint64_t last_attempted_ = 0;
  bool shown_ = false;
};

int run_replay(ReplayCliOptions& o) {
  if (!o.backtest.model_dir.empty()) {
    if (!o.pub.empty()) throw std::runtime_error("replay: --model runs in process; drop --pub");
    if (o.backtest.signals_out.empty()) throw std::runtime_error("replay --model: give --signals OUT");
    o.backtest.journal = o.file;
    o.backtest.skip_corrupt = o.skip_corrupt;
    return run_backtest(o.backtest);
  }
  if (o.pub.empty()) throw std::runtime_error("replay: give --pub EP (or --model DIR for an in-process backtest)");

  journal::JournalReader reader(o.file, journal::ReaderOptions{.skip_corrupt = o.skip_corrupt});
  zmq::context_t context(1);
  ZmqSinkOptions so;
  so.endpoints = parse_endpoints(o.pub, SocketRole::Publisher);
  so.send_hwm = o.send_hwm;
  so.linger_ms = static_cast<int>(o.linger_s * 1000);
  so.curve = tickrt::cli::curve_client_options(o.curve);
  ZmqSink sink(context, so);
  for (const auto& ep : sink.endpoints()) fmt::print(stderr, "replay: publishing on {}\n", ep);
  if (o.wait_subscribers > 0 &&
      !sink.wait_for_subscriptions(o.wait_subscribers,
                                   std::chrono::milliseconds(static_cast<long>(o.wait_timeout_s * 1000))))
    throw std::runtime_error(fmt::format("replay: {} subscription(s) did not arrive within {} s (seen {})",
                                         o.wait_subscribers, o.wait_timeout_s, sink.poll_subscriptions()));

  std::signal(SIGINT, on_replay_stop_signal);
  std::signal(SIGTERM, on_replay_stop_signal);
  ProgressBar bar;
  ReplayProgressFn progress;
  if (o.progress && ::isatty(::fileno(stderr))) progress = [&bar](const ReplayProgress& p) { bar(p); };
  const ReplayReport r = replay_journal(reader, sink, o.replay, &g_stop, progress);
  bar.finish();

  fmt::print("replay: sent {} dropped {} (send HWM) of {} | filtered {} invalid {} | loops {}{} | "
             "behind schedule max {:.1f} us mean {:.2f} us | {:.0f} msg/s over {:.3f} s ({})\n",
             r.sent, r.dropped, r.attempted, r.filtered, r.invalid, r.loops, r.stopped ? " (interrupted)" : "",
             r.pacing.max_lag_ns * 1e-3, r.pacing.mean_lag_ns * 1e-3, r.achieved_rate, r.elapsed_s,
             o.replay.max_speed ? "max speed" : fmt::format("speed {}", o.replay.speed));
  if (!r.read.clean())
    fmt::print(stderr, "replay: {}: {} bytes not replayed ({}{})\n", o.file, r.read.bytes_skipped,
               r.read.torn_tail ? "torn tail" : "corrupt tail",
               r.read.stopped_at_corruption ? ", stopped at a corrupt record: --skip-corrupt reads past it" : "");
  std::fflush(stdout);
  return 0;  // leaving scope closes the socket; the context waits up to --linger for queued messages
}

tickrt::cli::Registration reg("replay", "send a .ticks journal on its recorded schedule, or backtest a model on it",
                              [](CLI::App& app) {
  auto o = std::make_shared<ReplayCliOptions>();
  app.add_option("FILE", o->file, "journal to replay")->required()->check(CLI::ExistingFile);
  app.add_option("--pub", o->pub, "endpoint to publish on (@ binds, > connects; default binds); repeatable");
  auto* speed = app.add_option("--speed", o->replay.speed, "X times faster than recorded")->capture_default_str();
  app.add_flag("--max", o->replay.max_speed, "as fast as possible, no pacing")->excludes(speed);
  app.add_option("--topic", o->replay.topics, "send only topics with this prefix; repeatable");
  app.add_option("--loop", o->replay.loops, "passes over the journal")->capture_default_str();
  app.add_flag("--stamp", o->replay.stamp,
               "set send_time_ns in each Tick before sending (rebuilds it; default: bytes as recorded)");
  app.add_flag("--skip-corrupt", o->skip_corrupt, "read past a corrupt record in the middle of the journal");
  app.add_option("--wait-subscribers", o->wait_subscribers,
                 "before sending, wait for N subscriptions (one per subscriber and topic)");
  app.add_option("--wait-timeout", o->wait_timeout_s, "seconds to wait for subscribers")->capture_default_str();
  app.add_option("--hwm", o->send_hwm, "ZMQ_SNDHWM: queued messages per subscriber before drops")->capture_default_str();
  app.add_option("--linger", o->linger_s, "seconds to let queued messages leave at the end")->capture_default_str();
  tickrt::cli::add_curve_client_options(app, o->curve);
  app.add_flag("!--no-progress", o->progress, "no progress bar even on a terminal");

  const std::string bt = "Backtest (in process, no sockets)";
  app.add_option("--model", o->backtest.model_dir, "model directory: step the journal through it")->group(bt);
  app.add_option("--signals", o->backtest.signals_out, "output journal of signals (with --model)")->group(bt);
  app.add_option("--backend", o->backtest.backend, "cpu or cuda")->capture_default_str()->group(bt);
  app.add_option("--mode", o->backtest.mode, "step or sequence")->capture_default_str()->group(bt);
  app.add_option("--max-instruments", o->backtest.max_instruments, "instrument table capacity")
      ->capture_default_str()->group(bt);
  app.add_option("--max-batch", o->backtest.max_batch, "most instruments stepped together")
      ->capture_default_str()->group(bt);
  app.footer(
      "Examples:\n"
      "  tickrt replay capture.ticks --pub @tcp://127.0.0.1:5556 --speed 10 --wait-subscribers 1\n"
      "  tickrt replay capture.ticks --pub @ipc:///tmp/ticks --max --loop 3 --topic EURUSD\n"
      "  tickrt replay capture.ticks --model models/m1 --signals signals.ticks\n"
      "Open loop: never waits for receivers; full subscriber queues drop and count. Payloads go out exactly as\n"
      "recorded unless --stamp. On a terminal, a progress line on stderr; always a summary line on stdout.");
  return [o] { return run_replay(*o); };
});

}  // namespace
