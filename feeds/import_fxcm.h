// FXCM tick quotes as QuantConnect/Lean stores them: no header, `ms_since_midnight,bid,ask`, the day in the
// file name (fxcm_eurusd_20140505_quote.csv), times in UTC-5 all year (a fixed offset, no daylight saving).
#pragma once
#include <string>

#include "feeds/import_types.h"

namespace tickrt::import {

// Offset of the FXCM files' clock: local = UTC - 5 h, so UTC = local + 5 h.
inline constexpr int64_t kFxcmUtcOffsetNs = 5LL * 3600 * 1'000'000'000;

struct FxcmFileName {
  std::string symbol;          // "EURUSD" (empty when the name holds none)
  int64_t midnight_utc_ns = 0; // 00:00 of the file's day in UTC-5, as UTC ns (= day 05:00 UTC)
};

// Reads the day (the first 8-digit YYYYMMDD token) and the symbol (the token after "fxcm", upper-cased)
// from a file name; throws std::runtime_error naming the file when there is no valid day.
FxcmFileName parse_fxcm_file_name(const std::string& path);

// Quotes: bid_price, ask_price, sizes 0 (FXCM gives none); event_ns = recv_ns = day + 5 h + ms.
InputResult parse_fxcm(const std::string& path, const ParseOptions& opts, SymbolTable& symbols);

}  // namespace tickrt::import
