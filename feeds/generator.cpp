#include "feeds/generator.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace tickrt::feeds {

namespace {

// Per-event volatility and GARCH(1,1) persistence: alpha + beta close to 1 gives long calm and volatile spells.
constexpr double kEventVolatility = 2e-4;  // 2 bp per event, unconditional
constexpr double kGarchAlpha = 0.08;
constexpr double kGarchBeta = 0.90;
constexpr double kTradeImpact = 0.25;       // a trade moves the next mid by this many per-event sigmas
constexpr double kSideContinuation = 0.6;   // P(next aggressor = last aggressor): order flow is autocorrelated
constexpr double kLot = 100;
constexpr double kZipfExponent = 0.8;       // activity of instrument i ~ 1 / (i + 1)^0.8
constexpr double kStayShare = 0.5;          // share of triggered ticks that stay on the triggering instrument

}  // namespace

void validate(const GeneratorConfig& c) {
  if (c.instruments == 0 || c.instruments > 100'000)
    throw std::runtime_error(fmt::format("generator: instruments must be in 1..100000, got {}", c.instruments));
  if (!(c.rate > 0) || !std::isfinite(c.rate))
    throw std::runtime_error(fmt::format("generator: rate must be > 0 ticks/s, got {}", c.rate));
  if (!(c.trade_fraction >= 0 && c.trade_fraction <= 1))
    throw std::runtime_error(fmt::format("generator: trade_fraction must be in [0, 1], got {}", c.trade_fraction));
  if (!(c.burstiness >= 0 && c.burstiness <= 0.95))
    throw std::runtime_error(fmt::format("generator: burstiness must be in [0, 0.95], got {}", c.burstiness));
  if (c.start_time_ns <= 0 || c.start_time_ns >= kMaxTimeNs)
    throw std::runtime_error(fmt::format("generator: start_time_ns out of range: {}", c.start_time_ns));
}

TickGenerator::TickGenerator(const GeneratorConfig& config) : config_(config), rng_(config.seed) {
  validate(config_);
  baseline_ = config_.rate * (1.0 - config_.burstiness);
  // Excitation decays over ~100 mean inter-arrival times (1 ms at 100k ticks/s; at most 5 ms at low rates),
  // so bursts are visible on the millisecond scale.
  decay_ = std::max(200.0, config_.rate / 100.0);
  jump_ = config_.burstiness * decay_;
  target_variance_ = kEventVolatility * kEventVolatility;

  const std::uint32_t n = config_.instruments;
  symbols_.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) symbols_.push_back(fmt::format("SYM{:03}", i));

  cumulative_weight_.resize(n);
  double total = 0;
  for (std::uint32_t i = 0; i < n; ++i) total += std::pow(i + 1.0, -kZipfExponent);
  double acc = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    acc += std::pow(i + 1.0, -kZipfExponent) / total;
    cumulative_weight_[i] = acc;
  }
  cumulative_weight_.back() = 1.0;

  instruments_.resize(n);
  for (auto& ins : instruments_) {
    ins.mid = std::exp(std::log(5.0) + uniform() * (std::log(500.0) - std::log(5.0)));  // log-uniform $5..$500
    ins.tick_size = 0.01;
    ins.variance = target_variance_;
    ins.last_return = 0;
    ins.base_spread = 1.0 + std::floor(uniform() * 3.0);  // 1..3 ticks
    ins.last_aggressor = 0;
    ins.symbol_seq = 0;
    quote(ins);
  }
}

double TickGenerator::uniform() {
  // 53 random bits -> (0, 1): never 0, so log() below is finite.
  return (static_cast<double>(rng_() >> 11) + 0.5) * 0x1.0p-53;
}

double TickGenerator::normal() {
  if (have_spare_normal_) {
    have_spare_normal_ = false;
    return spare_normal_;
  }
  const double r = std::sqrt(-2.0 * std::log(uniform()));
  const double theta = 2.0 * M_PI * uniform();
  spare_normal_ = r * std::sin(theta);
  have_spare_normal_ = true;
  return r * std::cos(theta);
}

double TickGenerator::exponential() { return -std::log(uniform()); }

double TickGenerator::lot_size(double mean_lots) { return kLot * (1.0 + std::floor(exponential() * mean_lots)); }

std::uint32_t TickGenerator::pick_instrument() {
  if (seq_ > 0 && uniform() < kStayShare * config_.burstiness) return last_instrument_;
  const double u = uniform();
  auto it = std::lower_bound(cumulative_weight_.begin(), cumulative_weight_.end(), u);
  if (it == cumulative_weight_.end()) --it;
  return static_cast<std::uint32_t>(it - cumulative_weight_.begin());
}

void TickGenerator::quote(Instrument& ins) {
  const double sigma = std::sqrt(ins.variance);
  const double r = sigma * normal() + kTradeImpact * sigma * ins.last_aggressor;
  ins.variance = target_variance_ * (1.0 - kGarchAlpha - kGarchBeta) + kGarchAlpha * r * r + kGarchBeta * ins.variance;
  ins.last_return = r;
  ins.mid = std::max(ins.mid * std::exp(r), 100.0 * ins.tick_size);  // >= 100 ticks: bid stays > 0 at 50-tick spreads
  // Spreads widen when volatility is high, and now and then by a tick for no reason.
  const double vol_ratio = std::sqrt(ins.variance / target_variance_);
  double spread_ticks = std::round(ins.base_spread * (0.6 + 0.4 * vol_ratio)) + (uniform() < 0.2 ? 1.0 : 0.0);
  spread_ticks = std::clamp(spread_ticks, 1.0, 50.0);
  const double bid_ticks = std::round(ins.mid / ins.tick_size - spread_ticks / 2.0);
  ins.bid = bid_ticks * ins.tick_size;
  ins.ask = (bid_ticks + spread_ticks) * ins.tick_size;
  ins.bid_size = lot_size(5.0);
  ins.ask_size = lot_size(5.0);
  ins.last_aggressor = 0;
}

void TickGenerator::next(TickEvent& out) {
  // Next arrival of the Hawkes process, simulated exactly (Dassios & Zhao 2013): the earlier of a baseline
  // arrival and the first arrival of the decaying excitation; then the excitation jumps.
  const double baseline_wait = exponential() / baseline_;
  double excited_wait = std::numeric_limits<double>::infinity();
  if (excitation_ > 0) {
    const double d = 1.0 + decay_ * std::log(uniform()) / excitation_;
    if (d > 0) excited_wait = -std::log(d) / decay_;
  }
  const double wait = std::min(baseline_wait, excited_wait);
  excitation_ = excitation_ * std::exp(-decay_ * wait) + jump_;
  clock_s_ += wait;
  offset_ns_ = std::max(offset_ns_, static_cast<std::int64_t>(std::llround(clock_s_ * 1e9)));

  const std::uint32_t i = pick_instrument();
  last_instrument_ = i;
  Instrument& ins = instruments_[i];

  out = TickEvent{};
  out.symbol = symbols_[i];
  out.seq = ++seq_;
  out.symbol_seq = ++ins.symbol_seq;
  out.event_time_ns = config_.start_time_ns + offset_ns_;
  if (uniform() < config_.trade_fraction) {
    int side;
    if (ins.last_aggressor != 0)
      side = uniform() < kSideContinuation ? ins.last_aggressor : -ins.last_aggressor;
    else
      side = uniform() < 0.5 ? 1 : -1;
    ins.last_aggressor = side;
    out.kind = TickKind::Trade;
    out.side = side > 0 ? Side::Buy : Side::Sell;
    out.price = side > 0 ? ins.ask : ins.bid;  // the aggressor pays the spread: bid-ask bounce in prints
    out.size = lot_size(2.0);
  } else {
    quote(ins);
    out.kind = TickKind::Quote;
  }
  out.bid_price = ins.bid;
  out.bid_size = ins.bid_size;
  out.ask_price = ins.ask;
  out.ask_size = ins.ask_size;
}

}  // namespace tickrt::feeds
