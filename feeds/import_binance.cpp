#include "feeds/import_binance.h"

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "feeds/import_text.h"

namespace tickrt::import {

BinanceClock parse_binance_clock(std::string_view name) {
  if (name == "local") return BinanceClock::Local;
  if (name == "exchange") return BinanceClock::Exchange;
  throw std::invalid_argument(fmt::format("clock '{}': expected local or exchange", name));
}

namespace {

using nlohmann::json;
constexpr int64_t kNsPerMs = 1'000'000;

enum class StreamKind : uint8_t { BookTicker, Trade, Depth, Other };

StreamKind classify(std::string_view stream) {
  if (stream.ends_with("@bookTicker")) return StreamKind::BookTicker;
  if (stream.ends_with("@trade")) return StreamKind::Trade;
  if (stream.find("@depth") != std::string_view::npos) return StreamKind::Depth;
  return StreamKind::Other;
}

// The stream name when the message starts the way Binance writes combined-stream messages, so that depth
// messages (the bulk of a capture) are skipped without parsing their JSON.
std::string_view leading_stream(std::string_view msg) {
  constexpr std::string_view kPrefix = R"({"stream":")";
  if (!msg.starts_with(kPrefix)) return {};
  const size_t end = msg.find('"', kPrefix.size());
  return end == std::string_view::npos ? std::string_view{}
                                       : msg.substr(kPrefix.size(), end - kPrefix.size());
}

// Field readers that never throw: false when the field is missing or of the wrong type.
bool decimal_field(const json& obj, const char* key, double& out, NumberStatus& worst) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    worst = NumberStatus::Unparsable;
    return false;
  }
  const NumberStatus s = parse_double(it->get_ref<const std::string&>(), out);
  if (s != NumberStatus::Ok && worst != NumberStatus::Unparsable) worst = s;
  return s == NumberStatus::Ok;
}

// A time in ms since the epoch that converts to int64 ns without overflow (negative ones are refused too).
bool ms_in_range(int64_t ms) { return ms >= 0 && ms <= std::numeric_limits<int64_t>::max() / kNsPerMs; }

bool int_field(const json& obj, const char* key, int64_t& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

}  // namespace

InputResult parse_binance_raw(const std::string& path, BinanceClock clock, const ParseOptions& opts,
                              SymbolTable& symbols) {
  InputResult result;
  result.path = path;
  const std::string text = read_file(path);
  LineCursor lines(text);
  std::string_view line;
  std::vector<size_t>
      quote_rows;  // indices of bookTicker ticks, shifted afterwards under BinanceClock::Exchange
  std::vector<int64_t> offsets;  // [trades] exchange E minus local receive ns
  std::optional<uint32_t> fixed_symbol;
  if (!opts.symbol.empty()) fixed_symbol = symbols.intern(opts.symbol);

  while (lines.next(line)) {
    if (line.empty()) continue;
    ++result.rows;
    const uint64_t n = lines.line_number();
    const size_t space = line.find(' ');
    int64_t local_ns = 0;
    if (space == std::string_view::npos || !parse_int64(line.substr(0, space), local_ns)) {
      result.reject(SkipReason::Unparsable, n, line, opts);
      continue;
    }
    const std::string_view msg = line.substr(space + 1);
    std::string_view stream = leading_stream(msg);
    if (!stream.empty() && classify(stream) == StreamKind::Depth) {
      result.reject(SkipReason::DepthUpdate, n, line, opts);
      continue;
    }
    const json j = json::parse(msg, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      result.reject(SkipReason::MalformedJson, n, line, opts);
      continue;
    }
    const auto stream_it = j.find("stream");
    if (stream_it == j.end() || !stream_it->is_string()) {
      result.reject(SkipReason::NotAStreamMessage, n, line, opts);
      continue;
    }
    const StreamKind kind = classify(stream_it->get_ref<const std::string&>());
    if (kind == StreamKind::Depth || kind == StreamKind::Other) {
      result.reject(kind == StreamKind::Depth ? SkipReason::DepthUpdate : SkipReason::OtherStream, n, line,
                    opts);
      continue;
    }
    const auto data_it = j.find("data");
    const auto sym_it = data_it == j.end() ? j.end() : data_it->find("s");
    if (data_it == j.end() || !data_it->is_object() || sym_it == data_it->end() || !sym_it->is_string()) {
      result.reject(SkipReason::Unparsable, n, line, opts);
      continue;
    }
    const json& data = *data_it;
    ImportedTick t;
    t.recv_ns = local_ns;
    t.event_ns = local_ns;
    NumberStatus worst = NumberStatus::Ok;
    if (kind == StreamKind::BookTicker) {
      t.kind = wire::TickKind::Quote;
      decimal_field(data, "b", t.bid_price, worst);
      decimal_field(data, "B", t.bid_size, worst);
      decimal_field(data, "a", t.ask_price, worst);
      decimal_field(data, "A", t.ask_size, worst);
    } else {
      t.kind = wire::TickKind::Trade;
      decimal_field(data, "p", t.price, worst);
      decimal_field(data, "q", t.size, worst);
      int64_t trade_ms = 0, event_ms = 0;
      const bool has_t = int_field(data, "T", trade_ms);
      const bool has_e = int_field(data, "E", event_ms);
      const auto maker = data.find("m");
      if ((!has_t && !has_e) || maker == data.end() || !maker->is_boolean())
        worst = NumberStatus::Unparsable;
      else if ((has_t && !ms_in_range(trade_ms)) || (has_e && !ms_in_range(event_ms))) {
        result.reject(SkipReason::OutOfRange, n, line, opts);
        continue;
      } else {
        // m: the buyer is the maker, so the seller crossed the spread.
        t.side = maker->get<bool>() ? wire::Side::Sell : wire::Side::Buy;
        if (clock == BinanceClock::Exchange) t.event_ns = (has_t ? trade_ms : event_ms) * kNsPerMs;
        if (has_e) offsets.push_back(event_ms * kNsPerMs - local_ns);
      }
    }
    if (worst != NumberStatus::Ok) {
      result.reject(worst == NumberStatus::Unparsable ? SkipReason::Unparsable : SkipReason::NonFinite, n,
                    line, opts);
      continue;
    }
    if (t.kind == wire::TickKind::Quote && t.bid_price > t.ask_price &&
        !result.reject(SkipReason::CrossedQuote, n, line, opts))
      continue;
    t.symbol = fixed_symbol ? *fixed_symbol : symbols.intern(sym_it->get_ref<const std::string&>());
    if (t.kind == wire::TickKind::Quote) quote_rows.push_back(result.ticks.size());
    result.ticks.push_back(t);
  }

  if (!offsets.empty()) {
    std::nth_element(offsets.begin(), offsets.begin() + static_cast<std::ptrdiff_t>(offsets.size() / 2),
                     offsets.end());
    const int64_t median = offsets[offsets.size() / 2];
    result.notes.push_back(
        fmt::format("exchange clock E minus local receive clock: median {:.3f} ms over {} trades",
                    static_cast<double>(median) / 1e6, offsets.size()));
    if (clock == BinanceClock::Exchange) {
      for (size_t i : quote_rows) result.ticks[i].event_ns += median;
      result.notes.push_back(
          "bookTicker quotes (no exchange time) placed at local receive time + that median");
    }
  } else if (clock == BinanceClock::Exchange && !quote_rows.empty()) {
    result.notes.push_back(
        "no trades to measure the clock offset: bookTicker quotes keep local receive time");
  }
  return result;
}

}  // namespace tickrt::import
