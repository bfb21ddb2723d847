#include "feeds/import_fxcm.h"

#include <fmt/core.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "feeds/import_text.h"

namespace tickrt::import {
namespace {
constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kMsPerDay = 86'400'000;
}  // namespace

FxcmFileName parse_fxcm_file_name(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  const std::string stem = name.substr(0, name.find('.'));
  std::vector<std::string_view> tokens;  // views into stem
  split_fields(stem, '_', tokens);
  FxcmFileName out;
  bool have_day = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string_view t = tokens[i];
    if (t == "fxcm" && i + 1 < tokens.size() && out.symbol.empty())
      for (char c : tokens[i + 1])
        out.symbol += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    int64_t yyyymmdd = 0;
    if (!have_day && t.size() == 8 && parse_int64(t, yyyymmdd)) {
      using namespace std::chrono;
      const year_month_day ymd{year{static_cast<int>(yyyymmdd / 10000)},
                               month{static_cast<unsigned>(yyyymmdd / 100 % 100)},
                               day{static_cast<unsigned>(yyyymmdd % 100)}};
      if (!ymd.ok()) continue;
      const int64_t days_since_epoch = sys_days{ymd}.time_since_epoch().count();
      // Days whose every tick fits int64 ns since the epoch (1970 .. 2262); others are not a valid day here.
      constexpr int64_t kNsPerDay = kMsPerDay * kNsPerMs;
      if (days_since_epoch < 0 ||
          days_since_epoch > (std::numeric_limits<int64_t>::max() - kFxcmUtcOffsetNs) / kNsPerDay - 1)
        continue;
      out.midnight_utc_ns = days_since_epoch * kMsPerDay * kNsPerMs + kFxcmUtcOffsetNs;
      have_day = true;
    }
  }
  if (!have_day)
    throw std::runtime_error(
        fmt::format("{}: no day (YYYYMMDD) in the file name; FXCM files carry their day there", path));
  return out;
}

InputResult parse_fxcm(const std::string& path, const ParseOptions& opts, SymbolTable& symbols) {
  const FxcmFileName name = parse_fxcm_file_name(path);
  const std::string& symbol = opts.symbol.empty() ? name.symbol : opts.symbol;
  if (symbol.empty())
    throw std::runtime_error(
        fmt::format("{}: no symbol in the file name (fxcm_<symbol>_<day>...); pass --symbol", path));
  const uint32_t symbol_id = symbols.intern(symbol);

  InputResult result;
  result.path = path;
  const std::string text = read_file(path);
  result.ticks.reserve(text.size() / 20);  // rows are ~24 bytes
  LineCursor lines(text);
  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(line)) {
    if (line.empty()) continue;  // blank lines are not rows
    ++result.rows;
    const uint64_t n = lines.line_number();
    split_fields(line, ',', f);
    if (f.size() != 3) {
      result.reject(SkipReason::WrongColumnCount, n, line, opts);
      continue;
    }
    int64_t ms = 0;
    if (!parse_int64(f[0], ms)) {
      result.reject(SkipReason::Unparsable, n, line, opts);
      continue;
    }
    if (ms >= kMsPerDay) {
      result.reject(SkipReason::OutOfRange, n, line, opts);
      continue;
    }
    ImportedTick t;
    const NumberStatus bid = parse_double(f[1], t.bid_price);
    const NumberStatus ask = parse_double(f[2], t.ask_price);
    if (bid != NumberStatus::Ok || ask != NumberStatus::Ok) {
      const bool unparsable = bid == NumberStatus::Unparsable || ask == NumberStatus::Unparsable;
      result.reject(unparsable ? SkipReason::Unparsable : SkipReason::NonFinite, n, line, opts);
      continue;
    }
    if (t.bid_price > t.ask_price && !result.reject(SkipReason::CrossedQuote, n, line, opts)) continue;
    t.event_ns = name.midnight_utc_ns + ms * kNsPerMs;
    t.recv_ns = t.event_ns;
    t.symbol = symbol_id;
    t.kind = wire::TickKind::Quote;
    result.ticks.push_back(t);
  }
  return result;
}

}  // namespace tickrt::import
