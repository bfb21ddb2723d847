// Delimited text with a header row, columns chosen by name: the generic `csv` importer, and the Tardis
// normalised CSVs (tardis-trades, tardis-quotes) as fixed column choices of it.
#pragma once
#include <string>

#include "feeds/import_text.h"
#include "feeds/import_types.h"

namespace tickrt::import {

// Which header column holds what. Empty names are absent columns.
struct CsvSpec {
  wire::TickKind kind = wire::TickKind::Quote;
  std::string time_col;            // event time since the epoch (required)
  TimeUnit time_unit = TimeUnit::Ms;
  std::string recv_col;            // local receive time, same unit (optional; else recv = event time)
  std::string price_col, size_col, side_col;  // trades: price required
  std::string bid_col, ask_col, bid_size_col, ask_size_col;  // quotes: bid and ask required
  std::string symbol_col;          // instrument per row (else ParseOptions::symbol is required)
  char separator = ',';
};

// exchange,symbol,timestamp,local_timestamp,id,side,price,amount (µs since the epoch)
CsvSpec tardis_trades_spec();
// exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount (µs since the epoch)
CsvSpec tardis_quotes_spec();

// Parses one file. Throws std::runtime_error naming the file and column when the header lacks a column the
// spec names, or when no symbol source is given.
InputResult parse_csv(const std::string& path, const CsvSpec& spec, const ParseOptions& opts, SymbolTable& symbols);

// "buy"/"b" -> Buy, "sell"/"s" -> Sell (any case), anything else Unknown.
wire::Side parse_side(std::string_view s);

}  // namespace tickrt::import
