#include "feeds/import_csv.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>

namespace tickrt::import {

CsvSpec tardis_trades_spec() {
  CsvSpec s;
  s.kind = wire::TickKind::Trade;
  s.time_col = "timestamp";
  s.time_unit = TimeUnit::Us;
  s.recv_col = "local_timestamp";
  s.price_col = "price";
  s.size_col = "amount";
  s.side_col = "side";
  s.symbol_col = "symbol";
  return s;
}

CsvSpec tardis_quotes_spec() {
  CsvSpec s;
  s.kind = wire::TickKind::Quote;
  s.time_col = "timestamp";
  s.time_unit = TimeUnit::Us;
  s.recv_col = "local_timestamp";
  s.bid_col = "bid_price";
  s.bid_size_col = "bid_amount";
  s.ask_col = "ask_price";
  s.ask_size_col = "ask_amount";
  s.symbol_col = "symbol";
  return s;
}

wire::Side parse_side(std::string_view s) {
  auto is = [s](std::string_view word) {
    return s.size() == word.size() && std::equal(s.begin(), s.end(), word.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  };
  if (is("buy") || is("b")) return wire::Side::Buy;
  if (is("sell") || is("s")) return wire::Side::Sell;
  return wire::Side::Unknown;
}

namespace {

constexpr int kAbsent = -1;

// Column indices resolved from the header.
struct Columns {
  int time = kAbsent, recv = kAbsent, price = kAbsent, size = kAbsent, side = kAbsent;
  int bid = kAbsent, ask = kAbsent, bid_size = kAbsent, ask_size = kAbsent, symbol = kAbsent;
};

Columns resolve(const std::string& path, const CsvSpec& spec, const std::vector<std::string_view>& header) {
  auto find = [&](const std::string& name, const char* role, bool required) {
    if (name.empty()) {
      if (required) throw std::runtime_error(fmt::format("{}: no {} column given", path, role));
      return kAbsent;
    }
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw std::runtime_error(fmt::format("{}: header has no column '{}' (for the {})", path, name, role));
    return static_cast<int>(it - header.begin());
  };
  const bool trade = spec.kind == wire::TickKind::Trade;
  Columns c;
  c.time = find(spec.time_col, "event time", true);
  c.recv = find(spec.recv_col, "receive time", false);
  c.price = find(spec.price_col, "trade price", trade);
  c.size = find(spec.size_col, "trade size", false);
  c.side = find(spec.side_col, "aggressor side", false);
  c.bid = find(spec.bid_col, "bid price", !trade);
  c.ask = find(spec.ask_col, "ask price", !trade);
  c.bid_size = find(spec.bid_size_col, "bid size", false);
  c.ask_size = find(spec.ask_size_col, "ask size", false);
  c.symbol = find(spec.symbol_col, "symbol", false);
  return c;
}

}  // namespace

InputResult parse_csv(const std::string& path, const CsvSpec& spec, const ParseOptions& opts, SymbolTable& symbols) {
  InputResult result;
  result.path = path;
  const std::string text = read_file(path);
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  if (!lines.next(line)) throw std::runtime_error(fmt::format("{}: empty file, a header row is required", path));
  split_fields(line, spec.separator, f);
  const size_t width = f.size();
  const Columns c = resolve(path, spec, f);
  std::optional<uint32_t> fixed_symbol;
  if (!opts.symbol.empty()) fixed_symbol = symbols.intern(opts.symbol);
  else if (c.symbol == kAbsent)
    throw std::runtime_error(fmt::format("{}: no symbol: give a symbol column or --symbol", path));
  result.ticks.reserve(text.size() / 48);

  // A numeric field that may be absent (then 0). Returns the worst status seen.
  auto number = [&](int col, double& out, NumberStatus& worst) {
    if (col == kAbsent) return;
    const NumberStatus s = parse_double(f[static_cast<size_t>(col)], out);
    if (s == NumberStatus::Unparsable || (s == NumberStatus::NonFinite && worst == NumberStatus::Ok)) worst = s;
  };

  while (lines.next(line)) {
    if (line.empty()) continue;
    ++result.rows;
    const uint64_t n = lines.line_number();
    split_fields(line, spec.separator, f);
    if (f.size() != width) {
      result.reject(SkipReason::WrongColumnCount, n, line, opts);
      continue;
    }
    ImportedTick t;
    t.kind = spec.kind;
    if (!parse_time_ns(f[static_cast<size_t>(c.time)], spec.time_unit, t.event_ns) ||
        (c.recv != kAbsent && !parse_time_ns(f[static_cast<size_t>(c.recv)], spec.time_unit, t.recv_ns))) {
      result.reject(SkipReason::Unparsable, n, line, opts);
      continue;
    }
    if (c.recv == kAbsent) t.recv_ns = t.event_ns;
    NumberStatus worst = NumberStatus::Ok;
    number(c.price, t.price, worst);
    number(c.size, t.size, worst);
    number(c.bid, t.bid_price, worst);
    number(c.ask, t.ask_price, worst);
    number(c.bid_size, t.bid_size, worst);
    number(c.ask_size, t.ask_size, worst);
    if (worst != NumberStatus::Ok) {
      result.reject(worst == NumberStatus::Unparsable ? SkipReason::Unparsable : SkipReason::NonFinite, n, line, opts);
      continue;
    }
    if (c.symbol != kAbsent && f[static_cast<size_t>(c.symbol)].empty()) {
      result.reject(SkipReason::Unparsable, n, line, opts);
      continue;
    }
    const bool quote = spec.kind == wire::TickKind::Quote;
    if (quote && t.bid_price > t.ask_price && !result.reject(SkipReason::CrossedQuote, n, line, opts)) continue;
    if (c.side != kAbsent) t.side = parse_side(f[static_cast<size_t>(c.side)]);
    t.symbol = fixed_symbol ? *fixed_symbol : symbols.intern(f[static_cast<size_t>(c.symbol)]);
    result.ticks.push_back(t);
  }
  return result;
}

}  // namespace tickrt::import
