// inspect_journal / summarize_journal: counts, times, rates and gaps checked against values computed here
// from the source rows, plus corruption and payloads that fail verification.
#include <catch2/catch.hpp>
#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "feeds/import.h"
#include "feeds/import_fxcm.h"
#include "feeds/journal.h"
#include "feeds/journal_inspect.h"
#include "feeds/journal_time.h"
#include "signal_generated.h"
#include "tests/test_util.h"
#include "tick_generated.h"

namespace {
using namespace tickrt::journal;
namespace wire = tickrt::wire;

std::vector<uint8_t> tick_payload(uint64_t seq, int64_t event_ns, wire::TickKind kind) {
  flatbuffers::FlatBufferBuilder fbb(128);
  wire::FinishTickBuffer(fbb, wire::CreateTick(fbb, seq, event_ns, 0, kind, 1.0, 1.0));
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}
}  // namespace

TEST_CASE("journal: inspect summarises an imported FXCM day", "[journal][inspect]") {
  tickrt::test::TempDir dir;
  const std::string src = tickrt::test::shared_data("fxcm_eurusd_20140505_quote.csv");
  tickrt::import::ImportOptions opts;
  opts.format = tickrt::import::Format::Fxcm;
  opts.inputs = {src};
  opts.out = dir / "e.ticks";
  tickrt::import::import_files(opts);

  // What the summary should say, computed from the source rows.
  tickrt::import::SymbolTable symbols;
  const auto rows = tickrt::import::parse_fxcm(src, {}, symbols).ticks;
  std::map<int64_t, uint32_t> per_second;
  int64_t max_gap = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    ++per_second[rows[i].event_ns / 1'000'000'000];
    if (i > 0) max_gap = std::max(max_gap, rows[i].event_ns - rows[i - 1].event_ns);
  }
  uint32_t max_rate = 0;
  for (auto& [sec, n] : per_second) max_rate = std::max(max_rate, n);

  const JournalSummary s = summarize_journal(opts.out);
  CHECK(s.schema == kTickSchema);
  CHECK(s.read.records == rows.size());
  CHECK(s.valid_payloads == rows.size());
  CHECK(s.invalid_payloads == 0);
  CHECK(s.quotes == rows.size());
  CHECK(s.trades == 0);
  REQUIRE(s.instruments.size() == 1);
  CHECK(s.instruments[0].symbol == "EURUSD");
  CHECK(s.instruments[0].quotes == rows.size());
  CHECK(s.first_event_ns == rows.front().event_ns);
  CHECK(s.last_event_ns == rows.back().event_ns);
  CHECK(s.first_recv_ns == rows.front().event_ns);
  CHECK(s.events_out_of_order == 0);
  CHECK(s.busy_seconds == per_second.size());
  CHECK(s.span_seconds == static_cast<uint64_t>(per_second.rbegin()->first - per_second.begin()->first + 1));
  CHECK(s.rate_busy.max == max_rate);
  CHECK(s.rate_busy.p50 <= s.rate_busy.p90);
  CHECK(s.rate_busy.p90 <= s.rate_busy.p99);
  CHECK(s.rate_all.p50 <= s.rate_busy.p50);  // empty seconds pull the all-seconds percentiles down
  REQUIRE(s.largest_gaps.size() == 5);
  CHECK(s.largest_gaps[0].gap_ns == max_gap);
  for (size_t i = 1; i < 5; ++i) CHECK(s.largest_gaps[i].gap_ns <= s.largest_gaps[i - 1].gap_ns);
  CHECK(s.read.clean());

  const std::string text = format_journal_summary(s);
  CHECK_THAT(text, Catch::Contains("EURUSD"));
  CHECK_THAT(text, Catch::Contains(format_utc_ns(rows.front().event_ns)));
  CHECK_THAT(text, Catch::Contains("integrity   clean"));
  CHECK(format_utc_ns(0) == "1970-01-01T00:00:00.000000000Z");
  CHECK(format_utc_ns(-1) == "1969-12-31T23:59:59.999999999Z");
  CHECK(format_duration_ns(250) == "250 ns");
  CHECK(format_duration_ns(1'500'000) == "1.500 ms");
  CHECK(format_duration_ns(1'500'000'000) == "1.500 s");
  CHECK(format_duration_ns(101'696'000'000) == "1 min 41.696 s");
  CHECK(inspect_journal(opts.out) == 0);
}

TEST_CASE("journal: inspect reports corrupt records and payloads that fail verification", "[journal][inspect]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "j.ticks";
  std::vector<uint64_t> ends;
  {
    JournalWriter w(path);
    for (int i = 0; i < 20; ++i) {
      const auto kind = i % 4 == 0 ? wire::TickKind::Trade : wire::TickKind::Quote;
      w.append(i, i % 2 ? "AAA" : "BBB", tick_payload(static_cast<uint64_t>(i + 1), 1'000'000'000LL * i, kind));
      ends.push_back(w.file_offset());
    }
    const std::vector<uint8_t> junk(40, 0x5A);  // right size, no TICK identifier
    w.append(99, "AAA", junk);
    ends.push_back(w.file_offset());
    w.append(100, "AAA", tick_payload(21, 1'000'000'000LL * 30, wire::TickKind::Quote));  // a 10 s gap
  }
  // Flip one bit inside record 5 (index 5).
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(ends[4] + 30));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(ends[4] + 30));
    f.put(static_cast<char>(c ^ 0x01));
  }
  const JournalSummary s = summarize_journal(path);
  CHECK(s.read.records == 21);  // 22 written, one corrupt
  CHECK(s.read.corrupt_regions == 1);
  CHECK(s.read.bytes_skipped == ends[5] - ends[4]);
  CHECK(s.invalid_payloads == 1);
  CHECK(s.valid_payloads == 20);
  CHECK(s.trades == 5);
  CHECK(s.quotes == 15);
  CHECK(s.instruments.size() == 2);
  REQUIRE_FALSE(s.largest_gaps.empty());
  CHECK(s.largest_gaps[0].gap_ns == 11'000'000'000LL);  // from 19 s to 30 s
  CHECK(s.largest_gaps[0].record == 20);  // 0-based among records read (the junk record counts)
  CHECK_THAT(format_journal_summary(s), Catch::Contains("1 corrupt stretch(es)"));
  CHECK(inspect_journal(path) == 1);

  // Not a journal at all.
  std::ofstream(dir / "text.ticks") << "this is not a journal, just some text long enough for a header";
  CHECK(inspect_journal(dir / "text.ticks") == 2);
  CHECK_THROWS_WITH(summarize_journal(dir / "text.ticks"), Catch::Contains("bad magic"));
}

TEST_CASE("journal: inspect decodes signal journals", "[journal][inspect]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "s.ticks";
  {
    JournalWriter w(path, WriterOptions{.schema = kSignalSchema});
    flatbuffers::FlatBufferBuilder fbb(128);
    for (int i = 0; i < 7; ++i) {
      fbb.Clear();
      const float pred[2] = {0.1f, -0.2f};
      wire::FinishSignalBuffer(fbb, wire::CreateSignal(fbb, static_cast<uint64_t>(i), 5'000'000'000LL + i, 0, 0,
                                                       fbb.CreateVector(pred, 2)));
      w.append(i, "EURUSD", {fbb.GetBufferPointer(), fbb.GetSize()});
    }
  }
  const JournalSummary s = summarize_journal(path);
  CHECK(s.schema == kSignalSchema);
  CHECK(s.signals == 7);
  CHECK(s.valid_payloads == 7);
  CHECK(s.first_event_ns == 5'000'000'000LL);
  CHECK(s.last_event_ns == 5'000'000'006LL);
  CHECK(inspect_journal(path) == 0);
}
