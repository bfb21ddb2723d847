#include "feeds/replay.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "feeds/clock.h"
#include "feeds/tick_codec.h"

namespace tickrt::feeds {

namespace {

bool topic_selected(std::string_view topic, const std::vector<std::string>& prefixes) noexcept {
  if (prefixes.empty()) return true;
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return topic.starts_with(p); });
}

// Waits far-away deadlines in short sleeps so that the stop flag and the progress callback are served during
// long gaps in the journal; the pacer then does the precise last stretch.
constexpr std::int64_t kSliceNs = 100'000'000;

}  // namespace

ReplayReport replay_journal(journal::JournalReader& reader, MessageSink& sink, const ReplayOptions& options,
                            const std::atomic<bool>* stop, const ReplayProgressFn& progress) {
  if (!options.max_speed && !(options.speed > 0))
    throw std::runtime_error(fmt::format("replay: speed must be > 0 (got {})", options.speed));
  if (options.loops == 0) throw std::runtime_error("replay: loops must be >= 1");
  if (options.stamp && reader.schema() != journal::kTickSchema)
    throw std::runtime_error(fmt::format("replay {}: --stamp needs a TICK journal, this one holds {}",
                                         reader.path(), journal::schema_name(reader.schema())));

  MessageDecoder decoder;
  MessageBuilder builder;
  ReplayReport report;
  const std::int64_t start = steady_ns();
  Pacer pacer(start);
  std::int64_t next_progress = start + options.progress_interval_ns;
  const double bytes_per_loop = static_cast<double>(std::max<std::uint64_t>(reader.file_size(), 1));
  std::uint64_t loop_done_bytes = 0;  // bytes of the journal already replayed in finished loops (for progress)

  auto stopped = [&] { return stop && stop->load(std::memory_order_relaxed); };
  auto report_progress = [&](std::uint64_t offset, std::int64_t now) {
    if (!progress) return;
    ReplayProgress p;
    p.fraction = std::min(1.0, (static_cast<double>(loop_done_bytes) + static_cast<double>(offset)) /
                                   (bytes_per_loop * static_cast<double>(options.loops)));
    p.attempted = report.attempted;
    p.dropped = report.dropped;
    p.elapsed_s = static_cast<double>(now - start) * 1e-9;
    progress(p);
  };

  std::int64_t first_recv_ns = 0;
  bool have_first = false;
  std::int64_t loop_base_ns = 0;  // schedule offset where the current loop starts
  std::int64_t last_offset_ns = 0;
  journal::RecordView rec;
  for (std::uint64_t loop = 0; loop < options.loops && !report.stopped; ++loop) {
    reader.rewind();
    while (reader.next(rec)) {
      if (stopped()) {
        report.stopped = true;
        break;
      }
      if (!topic_selected(rec.topic, options.topics)) {
        ++report.filtered;
        continue;
      }
      if (!have_first) {
        first_recv_ns = rec.recv_ns;
        have_first = true;
      }
      if (!options.max_speed) {
        last_offset_ns = loop_base_ns + static_cast<std::int64_t>(
                                            static_cast<double>(rec.recv_ns - first_recv_ns) / options.speed);
        for (std::int64_t now = steady_ns(); start + last_offset_ns - now > 2 * kSliceNs && !stopped();
             now = steady_ns()) {
          std::this_thread::sleep_for(std::chrono::nanoseconds(kSliceNs));
          report_progress(rec.offset, steady_ns());
        }
        if (stopped()) continue;  // seen at the top of the loop
        pacer.wait_until(last_offset_ns);
      }
      std::span<const std::uint8_t> payload = rec.payload;
      std::int64_t time_ns = rec.recv_ns;
      if (options.stamp) {
        Decoded d = decoder.decode(rec.topic, rec.payload);
        if (!d.ok || d.kind != PayloadKind::Tick) {
          ++report.invalid;
          continue;
        }
        d.tick.send_time_ns = time_ns = realtime_ns();
        payload = builder.build_tick(d.tick);
      }
      ++report.attempted;
      if (sink.publish(rec.topic, payload, time_ns))
        ++report.sent;
      else
        ++report.dropped;
      if ((report.attempted & 63) == 0) {
        const std::int64_t now = steady_ns();
        if (now >= next_progress) {
          report_progress(rec.offset, now);
          next_progress = now + options.progress_interval_ns;
        }
      }
    }
    report.read = reader.stats();
    if (report.stopped) break;
    ++report.loops;
    loop_done_bytes += reader.file_size();
    loop_base_ns = last_offset_ns;  // the next loop's first record goes out right after this loop's last
    first_recv_ns = 0;
    have_first = false;
  }
  report.pacing = pacer.stats();
  const std::int64_t end = steady_ns();
  report.elapsed_s = static_cast<double>(end - start) * 1e-9;
  report.achieved_rate = report.elapsed_s > 0 ? static_cast<double>(report.attempted) / report.elapsed_s : 0;
  report_progress(0, end);
  return report;
}

}  // namespace tickrt::feeds
