// Features v1: the model's inputs, computed per instrument from ticks alone, causally (a feature at tick t
// reads ticks <= t only). This is the ONE implementation: the live engine, backtests and `tickrt features`
// (the trainer's only input) all call compute(), so training and serving see the same numbers.
//
// Every feature, with its formula and units, is listed in kFeatures below and in README.md.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace tickrt {

// The fields of a decoded, verified tick that the features read.
struct MarketTick {
  int64_t event_time_ns = 0;
  bool is_trade = false;
  double price = 0, size = 0;    // trades
  int side = 0;                  // trades: +1 buyer aggressor, -1 seller aggressor, 0 unknown
  double bid = 0, bid_size = 0;  // quotes (trades: the book at the print when the venue sends it, else 0)
  double ask = 0, ask_size = 0;
};

struct FeatureInfo {
  std::string_view name;
  std::string_view formula;
  std::string_view units;
};

inline constexpr int kFeatureCount = 19;
extern const std::array<FeatureInfo, kFeatureCount> kFeatures;

// Why a tick was refused by the feature code (it is refused before it touches any state).
enum class FeatureReject : uint8_t { none = 0, time_backwards, no_price, count };
std::string_view to_string(FeatureReject r);

// Per-instrument feature state: fixed size, plain data, all-zero = fresh (so a reset is a memset and the
// engine keeps these in one preallocated array beside the model state).
struct FeatureState {
  int64_t ticks = 0;               // ticks seen since the last reset
  int64_t last_time_ns = 0;        // event time of the previous tick
  int64_t last_trade_time_ns = 0;  // event time of the previous trade (0: none yet)
  double mid = 0;                  // last mid (0: none yet)
  double last_trade_price = 0;     // 0: none yet
  double ewma_ret_fast = 0, ewma_ret_slow = 0;      // EWMAs of the mid return, bp
  double ewma_absret_fast = 0, ewma_absret_slow = 0;  // EWMAs of |mid return|, bp (volatility)
  double ewma_spread = 0;                           // slow EWMA of the spread, bp
  double ewma_flow = 0;                             // signed trade flow, log1p(size) * side
  double ewma_log_dt = 0;                           // log inter-arrival time
};

struct FeatureOutcome {
  FeatureReject reject = FeatureReject::none;
  bool session_reset = false;  // the state was reset before this tick (session gap)
};

// Computes the raw features of `tick` into raw [kFeatureCount] and advances `state`. A tick going back in
// time or without any usable price is refused and leaves `state` untouched. If session_gap_s > 0 and the tick
// comes more than that after the previous one, the state is reset first (outcome.session_reset; the caller
// resets the model state too). Allocates nothing, throws nothing.
FeatureOutcome compute_features(FeatureState& state, const MarketTick& tick, double session_gap_s, float* raw);

}  // namespace tickrt
