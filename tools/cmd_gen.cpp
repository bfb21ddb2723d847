// tickrt gen: a synthetic multi-instrument feed (feeds/generator.h), published open-loop on a schedule.
#include <fmt/core.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <stdexcept>

#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/generator.h"
#include "feeds/hostile.h"
#include "feeds/journal_sink.h"
#include "feeds/open_loop.h"
#include "feeds/zmq_sink.h"
#include "tools/command_registry.h"
#include "tools/curve_cli.h"

namespace {

struct GenOptions {
  std::vector<std::string> pub;
  std::string out;
  tickrt::feeds::GeneratorConfig config;
  std::uint64_t count = 0;
  double duration_s = 0;
  int send_hwm = 1'000'000;
  double linger_s = 1.0;
  std::uint64_t wait_subscribers = 0;
  double wait_timeout_s = 10.0;
  bool live_clock = false;
  tickrt::cli::CurveClientFiles curve;
  std::uint64_t hostile_every = 0;  // 0: a clean feed
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

// --out: the same ticks into a journal, as fast as possible. Each record's receive time is the tick's
// scheduled event time (so `tickrt replay` paces it like the generator would); send_time_ns stays 0.
int write_journal(tickrt::feeds::TickGenerator& generator, const GenOptions& o) {
  using namespace tickrt::feeds;
  JournalSinkOptions jo;
  jo.path = o.out;
  jo.writer.schema = tickrt::journal::kTickSchema;
  jo.writer.truncate = true;  // same seed, same file
  JournalSink sink(jo);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  const std::int64_t duration_ns = static_cast<std::int64_t>(o.duration_s * 1e9);
  const std::int64_t start = steady_ns();
  MessageBuilder builder;
  TickEvent tick;
  std::uint64_t attempted = 0;
  while ((o.count == 0 || attempted < o.count) && !g_stop.load(std::memory_order_relaxed)) {
    generator.next(tick);
    if (duration_ns > 0 && generator.last_offset_ns() > duration_ns) break;
    ++attempted;
    sink.publish(tick.symbol, builder.build_tick(tick), tick.event_time_ns);
  }
  sink.close();
  const double elapsed_s = static_cast<double>(steady_ns() - start) * 1e-9;
  const auto& c = sink.counters();
  fmt::print("gen: wrote {} ticks ({} bytes) to {} in {:.3f} s ({:.0f} ticks/s), {} not written\n",
             c.written.load(), c.bytes.load(), o.out, elapsed_s, elapsed_s > 0 ? attempted / elapsed_s : 0.0,
             attempted - c.written.load());
  std::fflush(stdout);
  if (!sink.error().empty()) throw std::runtime_error(fmt::format("gen --out: {}", sink.error()));
  return 0;
}

int run_gen(GenOptions& o) {
  using namespace tickrt::feeds;
  if (o.pub.empty() == o.out.empty()) throw std::runtime_error("gen: give exactly one of --pub EP or --out FILE");
  if (o.count == 0 && !(o.duration_s > 0)) throw std::runtime_error("gen: give --count N or --duration S");
  if (o.live_clock) o.config.start_time_ns = realtime_ns();
  if (o.hostile_every > 0 && !o.out.empty())
    throw std::runtime_error("gen: --hostile-every mixes invalid messages into --pub only (a journal holds ticks)");
  TickGenerator generator(o.config);
  if (!o.out.empty()) return write_journal(generator, o);

  zmq::context_t context(1);
  ZmqSinkOptions sink_options;
  sink_options.endpoints = parse_endpoints(o.pub, SocketRole::Publisher);
  sink_options.send_hwm = o.send_hwm;
  sink_options.linger_ms = static_cast<int>(o.linger_s * 1000);
  sink_options.curve = tickrt::cli::curve_client_options(o.curve);
  ZmqSink sink(context, sink_options);
  for (const auto& ep : sink.endpoints()) fmt::print(stderr, "gen: publishing on {}\n", ep);

  if (o.wait_subscribers > 0 &&
      !sink.wait_for_subscriptions(o.wait_subscribers,
                                   std::chrono::milliseconds(static_cast<long>(o.wait_timeout_s * 1000))))
    throw std::runtime_error(fmt::format("gen: {} subscription(s) did not arrive within {} s (seen {})",
                                         o.wait_subscribers, o.wait_timeout_s, sink.poll_subscriptions()));

  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  OpenLoopOptions loop;
  loop.count = o.count;
  loop.duration_s = o.duration_s;
  // --hostile-every: the same valid ticks, with invalid messages between them on the same socket.
  HostileMix hostile(sink, sink.socket(), o.hostile_every, o.config.seed);
  MessageSink& out = o.hostile_every > 0 ? static_cast<MessageSink&>(hostile) : sink;
  OpenLoopReport r = run_open_loop(generator, out, loop, &g_stop);
  fmt::print("gen: sent {} dropped {} (send HWM) of {} | behind schedule max {:.1f} us mean {:.2f} us | "
             "{:.0f} ticks/s over {:.3f} s (target {:.0f})\n",
             r.sent, r.dropped, r.attempted, r.pacing.max_lag_ns * 1e-3, r.pacing.mean_lag_ns * 1e-3,
             r.achieved_rate, r.elapsed_s, o.config.rate);
  if (o.hostile_every > 0) {
    std::string by_kind;
    for (std::size_t k = 0; k < kHostileKindCount; ++k)
      by_kind += fmt::format(" {}={}", hostile_kind_name(static_cast<HostileKind>(k)), hostile.sent_by_kind()[k]);
    fmt::print("gen: hostile sent {} dropped {} (one after every {} ticks):{}\n", hostile.hostile_sent(),
               hostile.hostile_dropped(), o.hostile_every, by_kind);
  }
  std::fflush(stdout);
  // Leaving scope closes the socket and terminates the context, which waits up to --linger for queued
  // messages to leave.
  return 0;
}

tickrt::cli::Registration reg("gen", "synthetic multi-instrument feed, open-loop paced", [](CLI::App& app) {
  auto o = std::make_shared<GenOptions>();
  app.add_option("--pub", o->pub, "endpoint to publish on (@ binds, > connects; default binds); repeatable");
  app.add_option("--out", o->out,
                 "write a .ticks journal instead of publishing: as fast as possible, receive time = event time");
  app.add_option("--instruments", o->config.instruments, "number of instruments SYM000..")->capture_default_str();
  app.add_option("--rate", o->config.rate, "mean ticks per second, all instruments together")->capture_default_str();
  app.add_option("--count", o->count, "stop after N ticks");
  app.add_option("--duration", o->duration_s, "stop after S seconds of schedule");
  app.add_option("--seed", o->config.seed, "random seed: same seed, same ticks")->capture_default_str();
  app.add_option("--trade-fraction", o->config.trade_fraction, "share of ticks that are trades")->capture_default_str();
  app.add_option("--burstiness", o->config.burstiness, "Hawkes branching ratio in [0, 0.95]")->capture_default_str();
  app.add_option("--hwm", o->send_hwm, "ZMQ_SNDHWM: queued messages per subscriber before drops")->capture_default_str();
  app.add_option("--linger", o->linger_s, "seconds to let queued messages leave at the end")->capture_default_str();
  app.add_option("--wait-subscribers", o->wait_subscribers,
                 "before sending, wait for N subscriptions (one per subscriber and topic)");
  app.add_option("--wait-timeout", o->wait_timeout_s, "seconds to wait for subscribers")->capture_default_str();
  tickrt::cli::add_curve_client_options(app, o->curve);
  app.add_option("--hostile-every", o->hostile_every,
                 "after every N ticks also send one invalid message (garbage, wrong identifier, truncated, NaN "
                 "price, absurd size, long topic, empty/one/three frames, oversized): the receiver must refuse "
                 "and count each; valid ticks and their seq numbers are unchanged");
  app.add_flag("--live-clock", o->live_clock, "event times start at the wall clock (default: a fixed date, reproducible)");
  app.footer(
      "Example:\n"
      "  tickrt gen --pub @tcp://127.0.0.1:5555 --instruments 50 --rate 200000 --count 1000000 --seed 7\n"
      "  tickrt subscribe --sub tcp://127.0.0.1:5555 --topic SYM001   # in another shell\n"
      "  tickrt gen --out synthetic.ticks --instruments 20 --count 100000 --seed 3\n"
      "  tickrt gen --pub @tcp://0.0.0.0:5555 --count 100000 --curve-key feed.key --curve-server engine.pub\n"
      "  tickrt gen --pub @tcp://127.0.0.1:5555 --rate 2000 --duration 60 --hostile-every 10   # soak input\n"
      "Prints one line: sent, dropped at the send high-water mark, lateness against the schedule, achieved rate.");
  return [o] { return run_gen(*o); };
});

}  // namespace
