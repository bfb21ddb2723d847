// What every importer produces: rows turned into ticks, plus an account of the rows it could not use.
// The format-specific parsers (import_fxcm, import_csv, import_binance) fill an InputResult each; import.h
// merges them by event time into one journal.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tick_generated.h"

namespace tickrt::import {

// Why a row or line was not turned into a tick as it stands. The first group are bad rows (reported with
// their line numbers and subject to --bad-rows); the second are messages the format holds but a tick
// journal has no use for (counted, never errors).
enum class SkipReason : uint8_t {
  WrongColumnCount,   // not as many fields as the header (or the format) says
  Unparsable,         // a number, time or JSON field that does not parse, or a required field missing
  NonFinite,          // nan / inf
  OutOfRange,         // a time outside its range (e.g. FXCM ms since midnight beyond one day)
  CrossedQuote,       // bid above ask (the only bad row --bad-rows keep may keep)
  MalformedJson,      // binance-raw: the message is not valid JSON
  DepthUpdate,        // binance-raw: order-book depth diff (not top of book)
  NotAStreamMessage,  // binance-raw: a line without "stream" (the REST depth snapshot)
  OtherStream,        // binance-raw: a stream this importer does not convert
  kCount
};
inline constexpr size_t kSkipReasonCount = static_cast<size_t>(SkipReason::kCount);
std::string_view skip_reason_name(SkipReason r);
inline bool is_bad_row(SkipReason r) { return r <= SkipReason::MalformedJson; }

enum class BadRowPolicy : uint8_t {
  Skip,  // drop bad rows (default)
  Keep,  // keep crossed quotes exactly as they are; still drop rows that do not parse or are not finite
  Fail,  // stop at the first bad row with an error naming file and line
};
BadRowPolicy parse_bad_row_policy(std::string_view name);  // "skip" | "keep" | "fail"; throws otherwise

// Instrument symbols, interned: ticks carry a small index instead of a string.
class SymbolTable {
 public:
  uint32_t intern(std::string_view symbol);
  const std::string& name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> ids_;
  uint32_t last_ = UINT32_MAX;  // most inputs hold one symbol: skip the hash on repeats
};

struct ImportedTick {
  int64_t event_ns = 0;  // exchange (or source) event time, ns since the epoch, UTC
  int64_t recv_ns = 0;   // the journal's receive timestamp: local receive time when the source has one
  uint32_t symbol = 0;   // SymbolTable index
  wire::TickKind kind = wire::TickKind::Quote;
  wire::Side side = wire::Side::Unknown;
  double price = 0, size = 0;  // trades
  double bid_price = 0, bid_size = 0, ask_price = 0, ask_size = 0;  // quotes
};

struct BadRow {
  std::string path;
  uint64_t line = 0;  // 1-based line number in the file (a header is line 1)
  SkipReason reason{};
  bool kept = false;  // kept under --bad-rows keep
  std::string text;   // the row, cut to 160 characters
};

// Settings every parser shares.
struct ParseOptions {
  BadRowPolicy bad_rows = BadRowPolicy::Skip;
  std::string symbol{};            // overrides any symbol in the data or file name when not empty
  size_t max_bad_row_samples = 10; // bad rows kept as samples per input (all are counted)
};

struct InputResult {
  std::string path;
  uint64_t rows = 0;                                   // data rows or lines read (header excluded)
  std::vector<ImportedTick> ticks;                     // [rows converted] in file order
  std::array<uint64_t, kSkipReasonCount> skipped{};    // rows dropped, by reason
  std::array<uint64_t, kSkipReasonCount> kept_bad{};   // bad rows kept (--bad-rows keep), by reason
  std::vector<BadRow> samples;                         // the first bad rows, with line numbers
  std::vector<std::string> notes;                      // facts worth printing (e.g. a measured clock offset)

  // Counts one bad or skipped row; applies the policy. Returns true when the row should be kept anyway.
  // Throws std::runtime_error naming file and line under BadRowPolicy::Fail for a bad row.
  bool reject(SkipReason reason, uint64_t line, std::string_view text, const ParseOptions& opts);
  uint64_t skipped_total() const;
};

}  // namespace tickrt::import
