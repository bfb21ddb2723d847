// `tickrt import`: recorded market data (FXCM, Tardis, Binance raw captures, generic CSV) -> one `.ticks` journal.
#include <fmt/core.h>

#include <chrono>
#include <memory>

#include "feeds/import.h"
#include "tools/command_registry.h"

namespace {

struct ImportCli {
  std::string format;
  std::vector<std::string> inputs;
  std::string out;
  std::string symbol;
  std::string bad_rows = "skip";
  size_t max_bad_rows = 10;
  std::string binance_clock = "local";
  // generic csv columns
  std::string time_unit = "ms";
  std::string kind = "quote";
  tickrt::import::CsvSpec csv;
};

int run_import(const ImportCli& cli) {
  using namespace tickrt::import;
  ImportOptions opts;
  if (!cli.format.empty()) opts.format = parse_format(cli.format);
  opts.inputs = cli.inputs;
  opts.out = cli.out;
  opts.parse.symbol = cli.symbol;
  opts.parse.bad_rows = parse_bad_row_policy(cli.bad_rows);
  opts.parse.max_bad_row_samples = cli.max_bad_rows;
  opts.binance_clock = parse_binance_clock(cli.binance_clock);
  opts.csv = cli.csv;
  opts.csv.time_unit = parse_time_unit(cli.time_unit);
  if (cli.kind == "quote") opts.csv.kind = tickrt::wire::TickKind::Quote;
  else if (cli.kind == "trade") opts.csv.kind = tickrt::wire::TickKind::Trade;
  else throw std::invalid_argument(fmt::format("--kind '{}': expected quote or trade", cli.kind));

  const auto start = std::chrono::steady_clock::now();
  const ImportSummary summary = import_files(opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}", format_summary(summary, cli.max_bad_rows));
  fmt::print("wrote {} in {:.3f} s\n", cli.out, secs);
  return 0;
}

tickrt::cli::Registration reg("import", "convert recorded market data to a .ticks journal", [](CLI::App& app) {
  auto cli = std::make_shared<ImportCli>();
  app.add_option("--format", cli->format,
                 "fxcm | tardis-trades | tardis-quotes | binance-raw | csv (an input may name its own: FMT:path)");
  app.add_option("inputs", cli->inputs, "input files, optionally FMT:path; several are merged by event time")
      ->required();
  app.add_option("--out,-o", cli->out, "the journal to write (replaced)")->required();
  app.add_option("--symbol", cli->symbol, "instrument symbol for every row (overrides file name and data)");
  app.add_option("--bad-rows", cli->bad_rows,
                 "skip: drop bad rows; keep: keep crossed quotes as they are (unparsable rows are always "
                 "dropped); fail: stop at the first bad row")
      ->capture_default_str();
  app.add_option("--max-bad-rows", cli->max_bad_rows, "bad rows printed with their line numbers (all are counted)")
      ->capture_default_str();
  app.add_option("--clock", cli->binance_clock,
                 "binance-raw event time: local (receive ns for every message) or exchange (trade time T; "
                 "bookTicker at receive ns + measured offset)")
      ->capture_default_str();
  auto* csv = app.add_option_group("csv", "generic csv: a header row names the columns");
  csv->add_option("--kind", cli->kind, "quote | trade")->capture_default_str();
  csv->add_option("--time-col", cli->csv.time_col, "event time column (since the epoch)");
  csv->add_option("--time-unit", cli->time_unit, "s | ms | us | ns (a fraction is allowed)")->capture_default_str();
  csv->add_option("--recv-col", cli->csv.recv_col, "local receive time column, same unit (optional)");
  csv->add_option("--price-col", cli->csv.price_col, "trade price column");
  csv->add_option("--size-col", cli->csv.size_col, "trade size column");
  csv->add_option("--side-col", cli->csv.side_col, "aggressor side column (buy/sell/b/s)");
  csv->add_option("--bid-col", cli->csv.bid_col, "bid price column");
  csv->add_option("--ask-col", cli->csv.ask_col, "ask price column");
  csv->add_option("--bid-size-col", cli->csv.bid_size_col, "bid size column");
  csv->add_option("--ask-size-col", cli->csv.ask_size_col, "ask size column");
  csv->add_option("--symbol-col", cli->csv.symbol_col, "symbol column (else --symbol)");
  app.footer(
      "Examples:\n"
      "  tickrt import --format fxcm ../shared/data/fxcm_eurusd_2014050{5,6}_quote.csv --out eurusd.ticks\n"
      "  tickrt import --format tardis-trades ../shared/data/tardis_binance-futures_btcusdt_20200222_trades.csv --out t.ticks\n"
      "  tickrt import tardis-trades:trades.csv tardis-quotes:quotes.csv --out btc.ticks   (mixed formats)\n"
      "  tickrt import --format binance-raw --clock exchange ../shared/data/hftbacktest_binance_spot_btcusdt_20240808_rawfeed.txt --out btc.ticks\n"
      "  tickrt import --format csv --kind trade --time-col ts --time-unit us --price-col px --size-col qty \\\n"
      "      --side-col side --symbol BTCUSDT trades.csv --out btc.ticks\n"
      "Several inputs merge by event time (ties: input order). The receive timestamp of each\n"
      "record is the source's local time when it has one (Tardis local_timestamp, Binance receive ns), else\n"
      "the event time. Sequence numbers run 1..n in merged order.");
  return [cli] { return run_import(*cli); };
});

}  // namespace
