#include "feeds/journal_inspect.h"

#include <flatbuffers/flatbuffers.h>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <unordered_map>

#include "feeds/journal_time.h"
#include "signal_generated.h"
#include "tick_generated.h"

namespace tickrt::journal {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr size_t kTopGaps = 5;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Nearest-rank percentile of `zeros` zero values followed by the ascending `sorted` values.
double percentile(const std::vector<uint32_t>& sorted, uint64_t zeros, double p) {
  const uint64_t n = sorted.size() + zeros;
  if (n == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(n)));
  const uint64_t k = rank == 0 ? 0 : rank - 1;
  return k < zeros ? 0.0 : sorted[k - zeros];
}

RatePercentiles rates(const std::vector<uint32_t>& sorted, uint64_t zeros) {
  return {percentile(sorted, zeros, 0.50), percentile(sorted, zeros, 0.90), percentile(sorted, zeros, 0.99),
          sorted.empty() ? 0.0 : sorted.back()};
}

// The event time of a verified payload, and what kind it is.
enum class PayloadKind : uint8_t { Invalid, Quote, Trade, Signal };

PayloadKind decode(const SchemaId& schema, std::span<const uint8_t> payload, int64_t& event_ns) {
  const char* id = schema.data();
  if (payload.size() < flatbuffers::kFileIdentifierLength + sizeof(flatbuffers::uoffset_t) ||
      !flatbuffers::BufferHasIdentifier(payload.data(), id))
    return PayloadKind::Invalid;
  flatbuffers::Verifier verifier(payload.data(), payload.size());
  if (schema == kTickSchema) {
    if (!wire::VerifyTickBuffer(verifier)) return PayloadKind::Invalid;
    const wire::Tick* t = wire::GetTick(payload.data());
    event_ns = t->event_time_ns();
    return t->kind() == wire::TickKind::Trade ? PayloadKind::Trade : PayloadKind::Quote;
  }
  if (schema == kSignalSchema) {
    if (!wire::VerifySignalBuffer(verifier)) return PayloadKind::Invalid;
    event_ns = wire::GetSignal(payload.data())->event_time_ns();
    return PayloadKind::Signal;
  }
  return PayloadKind::Invalid;  // a schema this inspector cannot decode
}

}  // namespace

JournalSummary summarize_journal(const std::string& path) {
  JournalReader reader(path, ReaderOptions{.skip_corrupt = true});
  JournalSummary s;
  s.path = path;
  s.schema = reader.schema();
  s.file_bytes = reader.file_size();

  std::unordered_map<std::string_view, size_t> instrument_index;  // topic (in the mapping) -> instruments[i]
  std::vector<std::pair<int64_t, uint32_t>> seconds;              // (second, ticks) runs in record order
  std::vector<EventGap> gaps;                                     // min-heap of the largest kTopGaps
  auto smaller_gap = [](const EventGap& a, const EventGap& b) { return a.gap_ns > b.gap_ns; };
  bool have_event = false;
  int64_t prev_event = 0;
  RecordView rec;
  uint64_t index = 0;
  for (; reader.next(rec); ++index) {
    if (index == 0) s.first_recv_ns = rec.recv_ns;
    s.last_recv_ns = rec.recv_ns;
    auto [it, inserted] = instrument_index.try_emplace(rec.topic, s.instruments.size());
    if (inserted) s.instruments.push_back({std::string(rec.topic)});
    InstrumentCount& inst = s.instruments[it->second];
    ++inst.records;

    int64_t event = 0;
    const PayloadKind kind = decode(s.schema, rec.payload, event);
    if (kind == PayloadKind::Invalid) {
      ++s.invalid_payloads;
      continue;
    }
    ++s.valid_payloads;
    if (kind == PayloadKind::Quote) ++s.quotes, ++inst.quotes;
    if (kind == PayloadKind::Trade) ++s.trades, ++inst.trades;
    if (kind == PayloadKind::Signal) ++s.signals;

    if (!have_event) {
      s.first_event_ns = s.min_event_ns = s.max_event_ns = event;
    } else {
      s.events_out_of_order += event < prev_event;
      const EventGap gap{event - prev_event, prev_event, index, {}};
      if (gaps.size() < kTopGaps || gap.gap_ns > gaps.front().gap_ns) {
        gaps.push_back(gap);
        gaps.back().symbol = inst.symbol;
        std::push_heap(gaps.begin(), gaps.end(), smaller_gap);
        if (gaps.size() > kTopGaps) {
          std::pop_heap(gaps.begin(), gaps.end(), smaller_gap);
          gaps.pop_back();
        }
      }
    }
    s.last_event_ns = event;
    s.min_event_ns = std::min(s.min_event_ns, event);
    s.max_event_ns = std::max(s.max_event_ns, event);
    const int64_t second = floor_div(event, kNsPerSec);
    if (!seconds.empty() && seconds.back().first == second) ++seconds.back().second;
    else seconds.emplace_back(second, 1);
    prev_event = event;
    have_event = true;
  }
  s.read = reader.stats();

  // Runs of the same second can repeat when events are out of order: merge them.
  std::sort(seconds.begin(), seconds.end());
  std::vector<uint32_t> per_second;  // [busy seconds] ticks in that second
  for (size_t i = 0; i < seconds.size(); ++i) {
    if (i > 0 && seconds[i].first == seconds[i - 1].first) per_second.back() += seconds[i].second;
    else per_second.push_back(seconds[i].second);
  }
  std::sort(per_second.begin(), per_second.end());
  s.busy_seconds = per_second.size();
  if (!seconds.empty()) s.span_seconds = static_cast<uint64_t>(seconds.back().first - seconds.front().first + 1);
  s.rate_busy = rates(per_second, 0);
  s.rate_all = rates(per_second, s.span_seconds - s.busy_seconds);

  std::sort(gaps.begin(), gaps.end(), [](const EventGap& a, const EventGap& b) {  // largest first, then earliest
    return a.gap_ns != b.gap_ns ? a.gap_ns > b.gap_ns : a.record < b.record;
  });
  s.largest_gaps = std::move(gaps);
  std::stable_sort(s.instruments.begin(), s.instruments.end(),
                   [](const auto& a, const auto& b) { return a.records > b.records; });
  return s;
}

std::string format_journal_summary(const JournalSummary& s) {
  std::string out = fmt::format("journal     {}\nschema      {}, {} bytes\n", s.path, schema_name(s.schema), s.file_bytes);
  out += fmt::format("records     {} ({} verified, {} failing verification)\n", s.read.records, s.valid_payloads,
                     s.invalid_payloads);
  if (s.schema == kTickSchema) out += fmt::format("kinds       {} quotes, {} trades\n", s.quotes, s.trades);
  if (s.schema == kSignalSchema) out += fmt::format("kinds       {} signals\n", s.signals);
  out += fmt::format("instruments {}\n", s.instruments.size());
  for (const auto& i : s.instruments)
    out += fmt::format("  {:<16} {:>10} records  {:>10} quotes  {:>10} trades\n", i.symbol, i.records, i.quotes,
                       i.trades);
  if (s.read.records > 0)
    out += fmt::format("receive     {} .. {}\n", format_utc_ns(s.first_recv_ns), format_utc_ns(s.last_recv_ns));
  if (s.valid_payloads > 0) {
    out += fmt::format("event       {} .. {}  ({})\n", format_utc_ns(s.first_event_ns), format_utc_ns(s.last_event_ns),
                       format_duration_ns(s.last_event_ns - s.first_event_ns));
    if (s.events_out_of_order > 0)
      out += fmt::format("            {} records earlier than the one before; range {} .. {}\n",
                         s.events_out_of_order, format_utc_ns(s.min_event_ns), format_utc_ns(s.max_event_ns));
    out += fmt::format("rate/s      busy seconds ({} of {}): p50 {:.0f}  p90 {:.0f}  p99 {:.0f}  max {:.0f}\n",
                       s.busy_seconds, s.span_seconds, s.rate_busy.p50, s.rate_busy.p90, s.rate_busy.p99,
                       s.rate_busy.max);
    out += fmt::format("            all seconds: p50 {:.0f}  p90 {:.0f}  p99 {:.0f}\n", s.rate_all.p50,
                       s.rate_all.p90, s.rate_all.p99);
    out += "largest gaps between consecutive event times\n";
    for (const auto& g : s.largest_gaps)
      out += fmt::format("  {:>16}  after {}  (record {}, {})\n", format_duration_ns(g.gap_ns),
                         format_utc_ns(g.from_event_ns), g.record, g.symbol);
  }
  if (s.read.clean()) {
    out += "integrity   clean\n";
  } else {
    out += fmt::format("integrity   {} corrupt stretch(es), {} bytes skipped", s.read.corrupt_regions,
                       s.read.bytes_skipped);
    if (s.read.tail_bytes > 0)
      out += fmt::format(", {} ({} bytes at offset {})", s.read.torn_tail ? "torn tail" : "corrupt tail",
                         s.read.tail_bytes, s.file_bytes - s.read.tail_bytes);
    out += fmt::format("; first bad byte at offset {}\n", s.read.first_bad_offset);
  }
  return out;
}

int inspect_journal(const std::string& path) {
  try {
    const JournalSummary s = summarize_journal(path);
    fmt::print("{}", format_journal_summary(s));
    return s.read.clean() && s.invalid_payloads == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "inspect: {}\n", e.what());
    return 2;
  }
}

}  // namespace tickrt::journal
