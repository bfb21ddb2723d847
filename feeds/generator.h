// A synthetic multi-instrument market-data feed with believable microstructure, deterministic per seed:
//  - arrivals: a Hawkes process (self-exciting, exponential kernel) on the whole feed, so ticks come in bursts;
//    its mean rate is `rate` ticks/s across all instruments;
//  - instruments: activity is skewed (Zipf-like weights) and bursts tend to stay on one instrument;
//  - mid price: a log random walk whose per-event variance follows GARCH(1,1) (volatility clustering);
//  - book: prices on a tick grid, spread in ticks widening with volatility, sizes in round lots;
//  - trades: the aggressor side picks the print price (ask for buys, bid for sells: bid-ask bounce), and
//    trades nudge the next mid in their direction.
// Randomness is std::mt19937_64 (its output is fixed by the standard) through the generator's own uniform,
// normal and exponential transforms (std:: distributions differ between standard libraries).
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "feeds/tick_codec.h"

namespace tickrt::feeds {

struct GeneratorConfig {
  std::uint32_t instruments = 50;
  double rate = 10'000;        // mean ticks per second, all instruments together
  std::uint64_t seed = 1;
  double trade_fraction = 0.3;  // share of events that are trades
  double burstiness = 0.6;      // Hawkes branching ratio in [0, 0.95]: share of ticks triggered by earlier ticks
  // Event-time origin, ns since the epoch. Default 2024-01-02T14:30:00Z so that the feed is reproducible.
  std::int64_t start_time_ns = 1'704'205'800'000'000'000;
};

// Throws std::runtime_error naming the field when a config value is out of range.
void validate(const GeneratorConfig& config);

class TickGenerator {
 public:
  explicit TickGenerator(const GeneratorConfig& config);

  // The next tick of the feed: seq 1, 2, … across the feed, symbol_seq 1, 2, … per instrument;
  // event_time_ns = start_time_ns + offset on the arrival schedule;
  // send_time_ns and recv_time_ns are left 0 (the sender stamps them). `symbol` points into this generator.
  void next(TickEvent& out);

  // Offset of the last tick from the start of the feed, ns (the open-loop sender's schedule).
  std::int64_t last_offset_ns() const noexcept { return offset_ns_; }
  std::uint64_t generated() const noexcept { return seq_; }
  const std::string& symbol(std::uint32_t instrument) const { return symbols_.at(instrument); }
  const GeneratorConfig& config() const noexcept { return config_; }

 private:
  struct Instrument {
    double mid;             // current mid price
    double tick_size;
    double variance;        // GARCH conditional variance of the next log return
    double last_return;
    double base_spread;     // typical spread in ticks
    double bid, ask;        // current book
    double bid_size, ask_size;
    int last_aggressor;     // +1 buy, -1 sell, 0 none since the last quote
    std::uint64_t symbol_seq;  // ticks of this instrument so far (the wire's per-symbol sequence number)
  };

  double uniform();      // (0, 1)
  double normal();       // N(0, 1), Box-Muller
  double exponential();  // Exp(1)
  std::uint32_t pick_instrument();
  void quote(Instrument& ins);
  double lot_size(double mean_lots);

  GeneratorConfig config_;
  std::mt19937_64 rng_;
  std::vector<std::string> symbols_;      // [instruments] "SYM000", …
  std::vector<Instrument> instruments_;   // [instruments]
  std::vector<double> cumulative_weight_; // [instruments] activity CDF, last = 1
  // Hawkes state: excitation above the baseline intensity, per second.
  double baseline_;   // mu = rate * (1 - branching)
  double decay_;      // beta, 1/s
  double jump_;       // alpha = branching * beta
  double excitation_ = 0;
  double clock_s_ = 0;  // time since start, seconds
  std::int64_t offset_ns_ = 0;
  std::uint64_t seq_ = 0;
  std::uint32_t last_instrument_ = 0;
  bool have_spare_normal_ = false;
  double spare_normal_ = 0;
  double target_variance_;  // GARCH unconditional variance per event
};

}  // namespace tickrt::feeds
