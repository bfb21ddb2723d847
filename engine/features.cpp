// Features v1 (see features.h). Formulas are listed once, in kFeatures, and implemented in compute_features.
#include "engine/features.h"

#include <algorithm>
#include <cmath>

namespace tickrt {

const std::array<FeatureInfo, kFeatureCount> kFeatures = {{
    {"mid_ret_bp", "1e4 * ln(mid_t / mid_prev); 0 on the first quote and on trades", "basis points"},
    {"spread_bp", "1e4 * (ask - bid) / mid, from the latest book", "basis points"},
    {"log_bid_size", "ln(1 + bid_size), latest book", "log size"},
    {"log_ask_size", "ln(1 + ask_size), latest book", "log size"},
    {"imbalance", "(bid_size - ask_size) / (bid_size + ask_size); 0 when both are 0", "ratio in [-1, 1]"},
    {"is_trade", "1 for a trade, 0 for a quote", "indicator"},
    {"trade_ret_bp", "1e4 * ln(price / previous trade price) on trades; 0 otherwise", "basis points"},
    {"trade_side", "+1 buyer-initiated, -1 seller-initiated, 0 unknown or quote", "sign"},
    {"log_trade_size", "ln(1 + size) on trades; 0 on quotes", "log size"},
    {"trade_vs_mid_bp", "1e4 * (price - mid) / mid on trades (bid-ask bounce); 0 on quotes", "basis points"},
    {"log_dt", "ln(1e-3 + min(seconds since the previous tick, 3600)); first tick: ln(1e-3)", "log seconds"},
    {"log_since_trade", "ln(1e-3 + min(seconds since the last trade, 3600)); 3600 before the first trade",
     "log seconds"},
    {"ewma_ret_fast", "EWMA of mid_ret_bp, alpha 0.1 (about 10 ticks)", "basis points"},
    {"ewma_ret_slow", "EWMA of mid_ret_bp, alpha 0.01 (about 100 ticks)", "basis points"},
    {"ewma_absret_fast", "EWMA of |mid_ret_bp|, alpha 0.1 (short-term volatility)", "basis points"},
    {"ewma_absret_slow", "EWMA of |mid_ret_bp|, alpha 0.01 (longer-term volatility)", "basis points"},
    {"ewma_flow", "EWMA over trades of trade_side * log_trade_size, alpha 0.05", "signed log size"},
    {"ewma_log_dt", "EWMA of log_dt, alpha 0.05 (arrival intensity)", "log seconds"},
    {"spread_vs_avg_bp", "spread_bp - slow EWMA (alpha 0.01) of spread_bp before this tick", "basis points"},
}};

std::string_view to_string(FeatureReject r) {
  switch (r) {
    case FeatureReject::none: return "none";
    case FeatureReject::time_backwards: return "time_backwards";
    case FeatureReject::no_price: return "no_price";
    case FeatureReject::count: break;
  }
  return "unknown";
}

namespace {

constexpr double kBp = 1e4;
constexpr double kMaxGapS = 3600.0;   // log-time features saturate at one hour
constexpr double kMinTimeS = 1e-3;    // and start at one millisecond

double log_seconds(double s) { return std::log(kMinTimeS + std::min(std::max(s, 0.0), kMaxGapS)); }
double ewma(double prev, double x, double alpha) { return prev + alpha * (x - prev); }
bool positive_finite(double x) { return std::isfinite(x) && x > 0; }

}  // namespace

FeatureOutcome compute_features(FeatureState& st, const MarketTick& tick, double session_gap_s, float* raw) {
  FeatureOutcome out;
  const bool has_book = positive_finite(tick.bid) && positive_finite(tick.ask);
  if (tick.is_trade ? !positive_finite(tick.price) : !has_book) {
    out.reject = FeatureReject::no_price;
    return out;
  }
  if (st.ticks > 0 && tick.event_time_ns < st.last_time_ns) {
    out.reject = FeatureReject::time_backwards;
    return out;
  }
  if (st.ticks > 0 && session_gap_s > 0 &&
      static_cast<double>(tick.event_time_ns - st.last_time_ns) * 1e-9 > session_gap_s) {
    st = FeatureState{};
    out.session_reset = true;
  }

  const double dt_s = st.ticks > 0 ? static_cast<double>(tick.event_time_ns - st.last_time_ns) * 1e-9 : 0.0;
  const double log_dt = log_seconds(dt_s);
  const double since_trade_s = st.last_trade_time_ns > 0
                                   ? static_cast<double>(tick.event_time_ns - st.last_trade_time_ns) * 1e-9
                                   : kMaxGapS;

  // The book: a quote always carries one; a trade may (venues that send the book with the print).
  double mid_ret = 0, spread = 0, log_bid = 0, log_ask = 0, imbalance = 0;
  double mid = st.mid;
  if (has_book) {
    mid = 0.5 * (tick.bid + tick.ask);
    if (st.mid > 0 && !tick.is_trade) mid_ret = kBp * std::log(mid / st.mid);
    spread = kBp * (tick.ask - tick.bid) / mid;
    const double bs = std::max(tick.bid_size, 0.0), as = std::max(tick.ask_size, 0.0);
    log_bid = std::log1p(bs);
    log_ask = std::log1p(as);
    imbalance = (bs + as) > 0 ? (bs - as) / (bs + as) : 0.0;
  } else if (mid <= 0) {
    mid = tick.price;  // a trade before any quote: the print is the best estimate of the mid
  }

  double trade_ret = 0, side = 0, log_size = 0, vs_mid = 0;
  if (tick.is_trade) {
    if (st.last_trade_price > 0) trade_ret = kBp * std::log(tick.price / st.last_trade_price);
    side = tick.side > 0 ? 1.0 : tick.side < 0 ? -1.0 : 0.0;
    log_size = std::log1p(std::max(tick.size, 0.0));
    vs_mid = kBp * (tick.price - mid) / mid;
  }

  const double spread_vs_avg = st.ticks > 0 && has_book ? spread - st.ewma_spread : 0.0;

  // Advance the state (after every read of the previous values above).
  st.ewma_ret_fast = ewma(st.ewma_ret_fast, mid_ret, 0.1);
  st.ewma_ret_slow = ewma(st.ewma_ret_slow, mid_ret, 0.01);
  st.ewma_absret_fast = ewma(st.ewma_absret_fast, std::fabs(mid_ret), 0.1);
  st.ewma_absret_slow = ewma(st.ewma_absret_slow, std::fabs(mid_ret), 0.01);
  if (has_book) st.ewma_spread = st.ticks > 0 ? ewma(st.ewma_spread, spread, 0.01) : spread;
  if (tick.is_trade) {
    st.ewma_flow = ewma(st.ewma_flow, side * log_size, 0.05);
    st.last_trade_price = tick.price;
    st.last_trade_time_ns = tick.event_time_ns;
  }
  st.ewma_log_dt = st.ticks > 0 ? ewma(st.ewma_log_dt, log_dt, 0.05) : log_dt;
  st.mid = mid;
  st.last_time_ns = tick.event_time_ns;
  ++st.ticks;

  const double values[kFeatureCount] = {
      mid_ret,          spread,           log_bid,          log_ask,
      imbalance,        tick.is_trade ? 1.0 : 0.0,          trade_ret,
      side,             log_size,         vs_mid,           log_dt,
      log_seconds(since_trade_s),         st.ewma_ret_fast, st.ewma_ret_slow,
      st.ewma_absret_fast,                st.ewma_absret_slow, st.ewma_flow,
      st.ewma_log_dt,   spread_vs_avg};
  for (int i = 0; i < kFeatureCount; ++i) raw[i] = static_cast<float>(values[i]);
  return out;
}

}  // namespace tickrt
