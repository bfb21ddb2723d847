// Importers on the real files of ../shared/data: row counts, first and last event times, bad rows by reason
// and line, merging by time. Expected counts are recomputed here with simple independent code where cheap;
// hard-coded values name the shell command that produced them.
#include <catch2/catch.hpp>
#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "feeds/import.h"
#include "feeds/import_fxcm.h"
#include "feeds/journal_reader.h"
#include "tests/test_util.h"
#include "tick_generated.h"

namespace {

using namespace tickrt::import;
using tickrt::test::shared_data;
namespace wire = tickrt::wire;

const std::string kEur0505 = shared_data("fxcm_eurusd_20140505_quote.csv");
const std::string kEur0506 = shared_data("fxcm_eurusd_20140506_quote.csv");
const std::string kEur0508 = shared_data("fxcm_eurusd_20140508_quote.csv");
const std::string kTardisTrades = shared_data("tardis_binance-futures_btcusdt_20200222_trades.csv");
const std::string kTardisQuotes = shared_data("tardis_binance-futures_btcusdt_20200222_quotes.csv");
const std::string kBinanceRaw = shared_data("hftbacktest_binance_spot_btcusdt_20240808_rawfeed.txt");

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kUs = 1'000;

// Independent count of an FXCM file's rows and of those with bid above ask (getline + strtod).
struct FxcmCounts {
  uint64_t rows = 0, crossed = 0;
  uint64_t first_crossed_line = 0;
};
FxcmCounts count_fxcm(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  FxcmCounts c;
  for (uint64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line == "\r") continue;
    ++c.rows;
    const size_t a = line.find(','), b = line.find(',', a + 1);
    if (std::strtod(line.c_str() + a + 1, nullptr) > std::strtod(line.c_str() + b + 1, nullptr)) {
      ++c.crossed;
      if (c.first_crossed_line == 0) c.first_crossed_line = n;
    }
  }
  return c;
}

uint64_t count_lines_containing(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

uint64_t skipped(const InputResult& r, SkipReason why) { return r.skipped[static_cast<size_t>(why)]; }
uint64_t kept(const InputResult& r, SkipReason why) { return r.kept_bad[static_cast<size_t>(why)]; }

}  // namespace

TEST_CASE("import: fxcm EUR/USD 2014-05-05 rows, symbol and UTC-5 times", "[import]") {
  SymbolTable symbols;
  const InputResult r = parse_fxcm(kEur0505, {}, symbols);
  const FxcmCounts expect = count_fxcm(kEur0505);
  // 58,143 rows: ../shared/data/README says 58,142 because `wc -l` misses the last line, which has no newline.
  CHECK(expect.rows == 58'143);
  CHECK(r.rows == expect.rows);
  CHECK(r.ticks.size() == expect.rows - expect.crossed);
  CHECK(skipped(r, SkipReason::CrossedQuote) == expect.crossed);
  CHECK(r.skipped_total() == expect.crossed);
  REQUIRE(symbols.size() == 1);
  CHECK(symbols.name(0) == "EURUSD");
  // First row "3074,1.38756,1.38758": 2014-05-05 00:00:03.074 in UTC-5 = 05:00:03.074 UTC
  // (`date -u -d 2014-05-05T05:00:00 +%s` = 1399266000). Last row: 86398807 ms after midnight.
  CHECK(r.ticks.front().event_ns == 1'399'266'000'000 * kMs + 3074 * kMs);
  CHECK(r.ticks.front().recv_ns == r.ticks.front().event_ns);
  CHECK(r.ticks.front().bid_price == 1.38756);
  CHECK(r.ticks.front().ask_price == 1.38758);
  CHECK(r.ticks.front().bid_size == 0);
  CHECK(r.ticks.back().event_ns == 1'399'266'000'000 * kMs + 86'398'807 * kMs);
  CHECK(std::is_sorted(r.ticks.begin(), r.ticks.end(), [](auto& a, auto& b) { return a.event_ns < b.event_ns; }));

  const FxcmFileName name = parse_fxcm_file_name("/x/fxcm_nzdusd_20140508_quote.csv");
  CHECK(name.symbol == "NZDUSD");
  CHECK(name.midnight_utc_ns == 1'399'525'200'000 * kMs);  // `date -u -d 2014-05-08T05:00:00 +%s`
  CHECK_THROWS_WITH(parse_fxcm_file_name("/x/eurusd_quote.csv"), Catch::Contains("eurusd_quote.csv"));
}

TEST_CASE("import: fxcm 2014-05-08 crossed quotes under skip, keep and fail", "[import]") {
  const FxcmCounts expect = count_fxcm(kEur0508);
  CHECK(expect.rows == 167'466);
  CHECK(expect.crossed == 18'285);  // ../shared/data/README: 18,285 rows with bid above ask
  {
    SymbolTable symbols;
    const InputResult r = parse_fxcm(kEur0508, {.bad_rows = BadRowPolicy::Skip}, symbols);
    CHECK(r.rows == expect.rows);
    CHECK(skipped(r, SkipReason::CrossedQuote) == 18'285);
    CHECK(r.ticks.size() == expect.rows - 18'285);
    REQUIRE(r.samples.size() == 10);
    CHECK(r.samples[0].line == expect.first_crossed_line);
    CHECK(r.samples[0].line == 17);  // `tr -d '\r' < file | awk -F, '$2+0>$3+0 {print NR; exit}'`
    CHECK(r.samples[0].text == "54152,1.39154,1.39153");
    CHECK_FALSE(r.samples[0].kept);
    for (const auto& t : r.ticks) REQUIRE(t.bid_price <= t.ask_price);
  }
  {
    SymbolTable symbols;
    const InputResult r = parse_fxcm(kEur0508, {.bad_rows = BadRowPolicy::Keep}, symbols);
    CHECK(r.ticks.size() == expect.rows);
    CHECK(kept(r, SkipReason::CrossedQuote) == 18'285);
    CHECK(r.skipped_total() == 0);
    // Kept as they are, never altered: the first crossed row (line 17) is the 17th tick.
    CHECK(r.ticks[16].bid_price == 1.39154);
    CHECK(r.ticks[16].ask_price == 1.39153);
    CHECK(r.samples[0].kept);
  }
  SymbolTable symbols;
  CHECK_THROWS_WITH(parse_fxcm(kEur0508, {.bad_rows = BadRowPolicy::Fail}, symbols),
                    Catch::Contains("fxcm_eurusd_20140508_quote.csv:17: bad row (crossed_quote)"));
}

TEST_CASE("import: tardis trades and quotes, exchange and local timestamps", "[import]") {
  SymbolTable symbols;
  const InputResult trades = parse_csv(kTardisTrades, tardis_trades_spec(), {}, symbols);
  CHECK(trades.rows == 9'999);
  REQUIRE(trades.ticks.size() == 9'999);
  CHECK(trades.skipped_total() == 0);
  // `sed -n 2p` and `tail -1` of the file, columns timestamp,local_timestamp (µs).
  CHECK(trades.ticks.front().event_ns == 1'582'329'602'111'000 * kUs);
  CHECK(trades.ticks.front().recv_ns == 1'582'329'602'418'379 * kUs);
  CHECK(trades.ticks.front().price == 9682);
  CHECK(trades.ticks.front().size == 0.132);
  CHECK(trades.ticks.front().kind == wire::TickKind::Trade);
  CHECK(trades.ticks.back().event_ns == 1'582'337'147'728'000 * kUs);
  const auto buys = std::count_if(trades.ticks.begin(), trades.ticks.end(),
                                  [](const ImportedTick& t) { return t.side == wire::Side::Buy; });
  const auto sells = std::count_if(trades.ticks.begin(), trades.ticks.end(),
                                   [](const ImportedTick& t) { return t.side == wire::Side::Sell; });
  CHECK(static_cast<uint64_t>(buys) == count_lines_containing(kTardisTrades, ",buy,"));
  CHECK(static_cast<uint64_t>(sells) == count_lines_containing(kTardisTrades, ",sell,"));
  CHECK(buys + sells == 9'999);

  const InputResult quotes = parse_csv(kTardisQuotes, tardis_quotes_spec(), {}, symbols);
  CHECK(quotes.rows == 9'999);
  REQUIRE(quotes.ticks.size() == 9'999);
  CHECK(quotes.ticks.front().event_ns == 1'582'329'601'096'000 * kUs);
  CHECK(quotes.ticks.front().recv_ns == 1'582'329'603'502'092 * kUs);
  CHECK(quotes.ticks.front().ask_size == 0.84);
  CHECK(quotes.ticks.front().ask_price == 9682);
  CHECK(quotes.ticks.front().bid_price == 9681.92);
  CHECK(quotes.ticks.front().bid_size == 0.67);
  CHECK(quotes.ticks.back().event_ns == 1'582'329'827'061'000 * kUs);
  CHECK(symbols.size() == 1);
  CHECK(symbols.name(0) == "BTCUSDT");
}

TEST_CASE("import: binance raw capture, streams counted by kind and clock choice", "[import]") {
  const uint64_t book = count_lines_containing(kBinanceRaw, R"("stream":"btcusdt@bookTicker")");
  const uint64_t trade = count_lines_containing(kBinanceRaw, R"("stream":"btcusdt@trade")");
  const uint64_t depth = count_lines_containing(kBinanceRaw, R"("stream":"btcusdt@depth)");
  const uint64_t makers = count_lines_containing(kBinanceRaw, R"("m":true)");
  CHECK(book == 28'040);
  CHECK(trade == 9'757);
  CHECK(depth == 3'451);
  SymbolTable symbols;
  const InputResult local = parse_binance_raw(kBinanceRaw, BinanceClock::Local, {}, symbols);
  CHECK(local.rows == 41'249);
  CHECK(local.rows == book + trade + depth + 1);
  CHECK(skipped(local, SkipReason::DepthUpdate) == depth);
  CHECK(skipped(local, SkipReason::NotAStreamMessage) == 1);
  CHECK(local.skipped_total() == depth + 1);
  REQUIRE(local.ticks.size() == book + trade);
  uint64_t quotes = 0, sells = 0;
  for (const auto& t : local.ticks) {
    quotes += t.kind == wire::TickKind::Quote;
    sells += t.side == wire::Side::Sell;
    REQUIRE(t.event_ns == t.recv_ns);
  }
  CHECK(quotes == book);
  CHECK(sells == makers);  // m=true: the buyer is the maker, so the seller was the aggressor
  // First converted line (line 3): a bookTicker received at 1723161254087891268.
  CHECK(local.ticks.front().recv_ns == 1'723'161'254'087'891'268);
  CHECK(local.ticks.front().bid_price == 61837.63);
  CHECK(local.ticks.front().ask_size == 1.54698);
  CHECK(local.ticks.back().recv_ns == 1'723'161'599'999'231'384);
  REQUIRE(local.notes.size() == 1);
  CHECK_THAT(local.notes[0], Catch::Contains("median 127"));  // the README's ~1.27 s

  const InputResult exch = parse_binance_raw(kBinanceRaw, BinanceClock::Exchange, {}, symbols);
  REQUIRE(exch.ticks.size() == local.ticks.size());
  // Line 4, the first trade: T = 1723161255342 ms, received 1723161254087896568 ns.
  const ImportedTick& first_trade = exch.ticks[1];
  CHECK(first_trade.kind == wire::TickKind::Trade);
  CHECK(first_trade.event_ns == 1'723'161'255'342 * kMs);
  CHECK(first_trade.recv_ns == 1'723'161'254'087'896'568);
  CHECK(first_trade.side == wire::Side::Sell);
  CHECK(first_trade.price == 61837.63);
  CHECK(first_trade.size == 0.02);
  const int64_t shift = exch.ticks[0].event_ns - exch.ticks[0].recv_ns;  // quotes move by the measured offset
  CHECK(shift > 1'200 * kMs);
  CHECK(shift < 1'350 * kMs);
}

TEST_CASE("import: generic csv with named columns reports bad rows by reason and line", "[import]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "q.csv";
  std::ofstream(path) << "when,sym,bid,ask,bq,aq\n"      // line 1
                      << "1600000000.5,AAA,10,11,1,2\n"   // 2: ok, fractional seconds
                      << "1600000001,AAA,10,11,1\n"       // 3: wrong column count
                      << "1600000002,AAA,nan,11,1,2\n"    // 4: non-finite
                      << "1600000003,AAA,ten,11,1,2\n"    // 5: unparsable
                      << "1600000004,BBB,12,11,1,2\n"     // 6: crossed
                      << "16000000x5,AAA,10,11,1,2\n"     // 7: unparsable time
                      << "\n"                             // 8: blank, not a row
                      << "1600000000,BBB,10,10,3,4\r\n";  // 9: ok (locked, not crossed), CRLF, out of order
  CsvSpec spec;
  spec.kind = wire::TickKind::Quote;
  spec.time_col = "when";
  spec.time_unit = TimeUnit::S;
  spec.symbol_col = "sym";
  spec.bid_col = "bid";
  spec.ask_col = "ask";
  spec.bid_size_col = "bq";
  spec.ask_size_col = "aq";
  SymbolTable symbols;
  const InputResult r = parse_csv(path, spec, {.bad_rows = BadRowPolicy::Keep}, symbols);
  CHECK(r.rows == 7);  // the blank line is not a row
  REQUIRE(r.ticks.size() == 3);  // line 2, the kept crossed line 6, line 9
  CHECK(r.ticks[0].event_ns == 1'600'000'000'500'000'000);
  CHECK(r.ticks[0].ask_size == 2);
  CHECK(symbols.name(r.ticks[1].symbol) == "BBB");
  CHECK(r.ticks[1].bid_price == 12);  // kept as it is
  CHECK(r.ticks[2].event_ns == 1'600'000'000'000'000'000);
  CHECK(skipped(r, SkipReason::WrongColumnCount) == 1);
  CHECK(skipped(r, SkipReason::NonFinite) == 1);
  CHECK(skipped(r, SkipReason::Unparsable) == 2);
  CHECK(kept(r, SkipReason::CrossedQuote) == 1);
  REQUIRE(r.samples.size() == 5);
  const std::vector<std::pair<uint64_t, SkipReason>> want = {{3, SkipReason::WrongColumnCount},
                                                             {4, SkipReason::NonFinite},
                                                             {5, SkipReason::Unparsable},
                                                             {6, SkipReason::CrossedQuote},
                                                             {7, SkipReason::Unparsable}};
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(r.samples[i].line == want[i].first);
    CHECK(r.samples[i].reason == want[i].second);
  }

  spec.bid_col = "bid_price";
  CHECK_THROWS_WITH(parse_csv(path, spec, {}, symbols), Catch::Contains("no column 'bid_price'"));
  spec.bid_col = "bid";
  spec.symbol_col.clear();
  CHECK_THROWS_WITH(parse_csv(path, spec, {}, symbols), Catch::Contains("--symbol"));

  int64_t ns = 0;
  CHECK(parse_time_ns("1582329601096000", TimeUnit::Us, ns));
  CHECK(ns == 1'582'329'601'096'000'000);
  CHECK(parse_time_ns("1.000000001", TimeUnit::S, ns));
  CHECK(ns == 1'000'000'001);
  CHECK_FALSE(parse_time_ns("99999999999999999999", TimeUnit::Ns, ns));
  CHECK_FALSE(parse_time_ns("-5", TimeUnit::Ms, ns));
  CHECK_FALSE(parse_time_ns("5.", TimeUnit::Ms, ns));
}

TEST_CASE("import: several inputs merge into one time-ordered journal numbered 1..n", "[import]") {
  tickrt::test::TempDir dir;
  ImportOptions opts;
  opts.inputs = {"tardis-trades:" + kTardisTrades, "tardis-quotes:" + kTardisQuotes, "fxcm:" + kEur0506,
                 "fxcm:" + kEur0505};
  opts.out = dir / "merged.ticks";
  const ImportSummary s = import_files(opts);
  const uint64_t fxcm_kept = (count_fxcm(kEur0505).rows - count_fxcm(kEur0505).crossed) +
                             (count_fxcm(kEur0506).rows - count_fxcm(kEur0506).crossed);
  CHECK(s.written == 9'999 + 9'999 + fxcm_kept);
  CHECK(s.symbols == std::vector<std::string>{"BTCUSDT", "EURUSD"});
  CHECK(s.first_event_ns == 1'399'266'000'000 * kMs + 3074 * kMs);  // the 05-05 file, although listed last
  CHECK(s.last_event_ns == 1'582'337'147'728'000 * kUs);

  tickrt::journal::JournalReader reader(opts.out);
  tickrt::journal::RecordView rec;
  uint64_t n = 0, trades = 0;
  int64_t prev_event = INT64_MIN;
  uint64_t prev_kind_at_same_time = 0;
  while (reader.next(rec)) {
    flatbuffers::Verifier v(rec.payload.data(), rec.payload.size());
    REQUIRE(wire::VerifyTickBuffer(v));
    const wire::Tick* t = wire::GetTick(rec.payload.data());
    REQUIRE(t->seq() == ++n);
    REQUIRE(t->event_time_ns() >= prev_event);
    // Ties between the trades (input 0) and quotes (input 1) keep input order: a trade never follows a
    // quote of the same event time.
    if (t->event_time_ns() == prev_event && t->kind() == wire::TickKind::Trade) REQUIRE(prev_kind_at_same_time == 0);
    prev_kind_at_same_time = t->kind() == wire::TickKind::Quote;
    prev_event = t->event_time_ns();
    trades += t->kind() == wire::TickKind::Trade;
    if (rec.topic == "EURUSD") REQUIRE(rec.recv_ns == t->event_time_ns());
  }
  CHECK(n == s.written);
  CHECK(trades == 9'999);
  CHECK(reader.stats().clean());
}

TEST_CASE("import: the tickrt import command prints a summary and fails on bad rows when asked", "[import]") {
  tickrt::test::TempDir dir;
  const auto out = dir / "e.ticks";
  auto r = tickrt::test::run_command(tickrt::test::tickrt_binary() + " import --format fxcm " + kEur0508 +
                                     " --out " + out + " --max-bad-rows 2");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("written         149181"));
  CHECK_THAT(r.output, Catch::Contains("18285  crossed_quote"));
  CHECK_THAT(r.output, Catch::Contains("fxcm_eurusd_20140508_quote.csv:17: crossed_quote (skipped)"));
  CHECK_THAT(r.output, Catch::Contains("2014-05-08T05:00:17.007000000Z"));

  r = tickrt::test::run_command(tickrt::test::tickrt_binary() + " import --format fxcm --bad-rows fail " + kEur0508 +
                                " --out " + dir / "f.ticks");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Catch::Contains(":17: bad row"));
  CHECK_FALSE(std::filesystem::exists(dir / "f.ticks"));
  CHECK_FALSE(std::filesystem::exists(dir / "f.ticks.tmp"));
}
