// `tickrt import`: converts recorded market data to one `.ticks` journal. Every input is parsed by its
// format's parser (import_fxcm, import_csv, import_binance), the inputs are merged by event time (k-way,
// stable by input order, then file order), numbered 1..n, and written as Tick FlatBuffers.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "feeds/import_binance.h"
#include "feeds/import_csv.h"
#include "feeds/import_types.h"

namespace tickrt::import {

enum class Format : uint8_t { Fxcm, TardisTrades, TardisQuotes, BinanceRaw, Csv };
Format parse_format(std::string_view name);  // fxcm | tardis-trades | tardis-quotes | binance-raw | csv
std::string_view format_name(Format f);

struct ImportOptions {
  std::optional<Format> format;      // for inputs without a "FMT:" prefix
  std::vector<std::string> inputs;   // paths, each optionally prefixed "FMT:" (tardis-quotes:q.csv)
  std::string out;                                   // the journal; replaced atomically (written as out.tmp)
  ParseOptions parse;                                // --bad-rows, --symbol
  CsvSpec csv;                                       // Format::Csv only
  BinanceClock binance_clock = BinanceClock::Local;  // Format::BinanceRaw only
};

struct ImportSummary {
  std::vector<InputResult> inputs;  // per input, ticks moved out (empty) once written
  std::vector<uint64_t> reordered;  // [inputs] rows that were earlier than the row before them
  uint64_t rows = 0;                // data rows or lines read, all inputs
  uint64_t written = 0;
  std::array<uint64_t, kSkipReasonCount> skipped{};
  std::array<uint64_t, kSkipReasonCount> kept_bad{};
  std::vector<std::string> symbols;
  int64_t first_event_ns = 0, last_event_ns = 0;  // of what was written
};

// Splits "FMT:path" into its format and path; a plain path gets `fallback` (an error when there is none).
std::pair<Format, std::string> input_format(const std::string& input, std::optional<Format> fallback);

// Parses one input (optionally "FMT:path") with its format.
InputResult parse_input(const std::string& input, const ImportOptions& opts, SymbolTable& symbols);

// Sorts each input by event time (stably, counting rows out of order) and merges them: the order of the
// result is by event time, ties broken by input index then by position in the input.
// Returns [total] indices (input, row) in merged order.
struct MergedRef {
  uint32_t input;
  uint32_t row;
};
std::vector<MergedRef> merge_by_time(std::vector<InputResult>& inputs, std::vector<uint64_t>& reordered);

// The whole import. Throws std::runtime_error (naming file and line) on unreadable input, a missing column
// or, under --bad-rows fail, the first bad row; then nothing is written.
ImportSummary import_files(const ImportOptions& opts);

// The summary for people: rows read, written, skipped and kept by reason, bad-row samples with line
// numbers, first and last event time.
std::string format_summary(const ImportSummary& s, size_t max_samples = 10);

}  // namespace tickrt::import
