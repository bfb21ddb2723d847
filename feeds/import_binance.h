// Binance WebSocket captures in hftbacktest's raw format: one message per line, `<local receive ns> <JSON>`,
// JSON as Binance sends on a combined stream: {"stream":"btcusdt@bookTicker","data":{...}}.
//   <sym>@bookTicker -> quote (b, B, a, A)      <sym>@trade -> trade (p, q, T, E, m)
//   <sym>@depth...   -> skipped (depth_update)  a line without "stream" (REST snapshot) -> not_a_stream_message
// The journal's receive timestamp is always the local receive ns. The tick's event time depends on the clock:
//   Local (default): the local receive ns for every message. bookTicker carries no exchange time at all, and
//     the capture's local clock runs ~1.27 s behind the exchange's, so mixing the two clocks would put every
//     trade ~1.27 s after the quotes that surround it; one clock keeps the capture's causal order.
//   Exchange: trades at their exchange trade time T (E when T is absent); bookTicker quotes at local receive
//     ns + the capture's median (E - local) offset measured on its trades (reported in the notes).
#pragma once
#include <string>
#include <string_view>

#include "feeds/import_types.h"

namespace tickrt::import {

enum class BinanceClock : uint8_t { Local, Exchange };
BinanceClock parse_binance_clock(std::string_view name);  // "local" | "exchange"; throws std::invalid_argument

InputResult parse_binance_raw(const std::string& path, BinanceClock clock, const ParseOptions& opts,
                              SymbolTable& symbols);

}  // namespace tickrt::import
