// Summarises a `.ticks` journal for people: instruments, quote/trade counts (every payload verified),
// time span, per-second rates, the largest gaps between events, and any corruption. `tickrt inspect FILE`
// calls inspect_journal(); tests and tools read summarize_journal() directly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "feeds/journal_reader.h"

namespace tickrt::journal {

struct InstrumentCount {
  std::string symbol;  // the record topic
  uint64_t records = 0, quotes = 0, trades = 0;
};

struct EventGap {
  int64_t gap_ns = 0;
  int64_t from_event_ns = 0;  // event time of the record before the gap
  uint64_t record = 0;        // 0-based index of the record after the gap
  std::string symbol;         // of the record after the gap
};

struct RatePercentiles {  // ticks per second, over 1-second event-time buckets
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

struct JournalSummary {
  std::string path;
  SchemaId schema{};
  uint64_t file_bytes = 0;
  ReadStats read;                 // records, corrupt stretches and bytes skipped (read with skip_corrupt)
  uint64_t valid_payloads = 0;    // payloads with the schema's identifier that pass the FlatBuffers verifier
  uint64_t invalid_payloads = 0;  // the rest: not counted in kinds, times, rates or gaps
  uint64_t quotes = 0, trades = 0, signals = 0;
  std::vector<InstrumentCount> instruments;  // most records first
  int64_t first_recv_ns = 0, last_recv_ns = 0;
  int64_t first_event_ns = 0, last_event_ns = 0;  // of the first and last valid record, in file order
  int64_t min_event_ns = 0, max_event_ns = 0;
  uint64_t events_out_of_order = 0;  // event time earlier than the record before
  uint64_t busy_seconds = 0;         // 1-second buckets holding at least one tick
  uint64_t span_seconds = 0;         // buckets from the first to the last, empty ones included
  RatePercentiles rate_busy;         // over busy seconds
  RatePercentiles rate_all;          // over every second of the span (empty seconds count as 0)
  std::vector<EventGap> largest_gaps;  // top 5 gaps between consecutive event times, largest first
};

// Reads the whole journal (skipping corrupt stretches). Throws std::runtime_error naming the file when it
// cannot be opened or is not a journal.
JournalSummary summarize_journal(const std::string& path);

std::string format_journal_summary(const JournalSummary& s);

// Prints the summary to stdout. Returns 0 for a clean journal, 1 when it holds corrupt records, a torn or
// corrupt tail, or payloads that fail verification (all printed), 2 when it cannot be read (message on stderr).
int inspect_journal(const std::string& path);

}  // namespace tickrt::journal
