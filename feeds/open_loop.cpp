#include "feeds/open_loop.h"

#include <stdexcept>

#include "feeds/clock.h"

namespace tickrt::feeds {

OpenLoopReport run_open_loop(TickGenerator& generator, MessageSink& sink, const OpenLoopOptions& options,
                             const std::atomic<bool>* stop) {
  if (options.count == 0 && !(options.duration_s > 0))
    throw std::runtime_error("open loop: set a tick count or a duration");
  const std::int64_t duration_ns = static_cast<std::int64_t>(options.duration_s * 1e9);
  MessageBuilder builder;
  TickEvent tick;
  OpenLoopReport report;
  const std::int64_t start = steady_ns();
  Pacer pacer(start);
  while (options.count == 0 || report.attempted < options.count) {
    if (stop && stop->load(std::memory_order_relaxed)) break;
    generator.next(tick);  // drawn before the wait, so the work is off the send's critical path
    if (duration_ns > 0 && generator.last_offset_ns() > duration_ns) break;
    if (options.paced) pacer.wait_until(generator.last_offset_ns());
    tick.send_time_ns = realtime_ns();
    auto bytes = builder.build_tick(tick);
    ++report.attempted;
    if (sink.publish(tick.symbol, bytes, tick.send_time_ns))
      ++report.sent;
    else
      ++report.dropped;
  }
  report.pacing = pacer.stats();
  report.elapsed_s = static_cast<double>(steady_ns() - start) * 1e-9;
  report.achieved_rate = report.elapsed_s > 0 ? static_cast<double>(report.attempted) / report.elapsed_s : 0;
  return report;
}

}  // namespace tickrt::feeds
