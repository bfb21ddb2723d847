// The synthetic feed: determinism per seed and the microstructure it promises (checked statistically with
// margins far outside sampling noise, so a broken model fails and a correct one does not flake).
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>

#include "feeds/generator.h"

using namespace tickrt::feeds;

namespace {

std::vector<TickEvent> generate(std::size_t n, TickGenerator& g) {
  std::vector<TickEvent> out(n);
  for (auto& t : out) g.next(t);
  return out;
}

bool same(const TickEvent& a, const TickEvent& b) {
  return a.symbol == b.symbol && a.seq == b.seq && a.event_time_ns == b.event_time_ns && a.kind == b.kind &&
         a.price == b.price && a.size == b.size && a.side == b.side && a.bid_price == b.bid_price &&
         a.bid_size == b.bid_size && a.ask_price == b.ask_price && a.ask_size == b.ask_size;
}

}  // namespace

TEST_CASE("feeds: generator is deterministic per seed", "[feeds]") {
  GeneratorConfig c;
  c.instruments = 50;
  c.rate = 200'000;
  c.seed = 11;
  TickGenerator g1(c), g2(c);
  auto a = generate(20'000, g1);
  auto b = generate(20'000, g2);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("tick " << i);
    REQUIRE(same(a[i], b[i]));
  }
  c.seed = 12;
  TickGenerator g3(c);
  auto d = generate(20'000, g3);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differing += !same(a[i], d[i]);
  CHECK(differing > 19'000);
}

TEST_CASE("feeds: generator output is a valid, well-formed feed", "[feeds]") {
  GeneratorConfig c;
  c.instruments = 50;
  c.rate = 100'000;
  c.seed = 3;
  TickGenerator g(c);
  auto ticks = generate(100'000, g);
  std::set<std::string_view> symbols;
  std::size_t trades = 0;
  std::int64_t last_time = 0;
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const auto& t = ticks[i];
    INFO("seq " << t.seq);
    REQUIRE(t.seq == i + 1);
    REQUIRE(t.event_time_ns >= last_time);
    last_time = t.event_time_ns;
    RejectReason why;
    REQUIRE(validate_tick(t, why));
    REQUIRE(t.bid_price < t.ask_price);
    REQUIRE(std::fmod(t.bid_size, 100.0) == 0.0);
    if (t.kind == TickKind::Trade) {
      ++trades;
      // Bid-ask bounce: buyers lift the ask, sellers hit the bid.
      REQUIRE(t.price == (t.side == Side::Buy ? t.ask_price : t.bid_price));
      REQUIRE(t.side != Side::Unknown);
      REQUIRE(t.size > 0);
    } else {
      REQUIRE(t.side == Side::Unknown);
    }
    symbols.insert(t.symbol);
  }
  CHECK(symbols.size() == 50);
  CHECK(*symbols.begin() == "SYM000");
  CHECK(*symbols.rbegin() == "SYM049");
  CHECK(std::abs(double(trades) / ticks.size() - c.trade_fraction) < 0.02);
  // Mean rate: 100,000 ticks at 100,000/s span about one second of event time.
  const double span_s = (ticks.back().event_time_ns - c.start_time_ns) * 1e-9;
  CHECK(span_s == Approx(1.0).epsilon(0.1));
}

TEST_CASE("feeds: generator arrivals are bursty and volatility clusters", "[feeds]") {
  GeneratorConfig c;
  c.instruments = 50;
  c.rate = 100'000;
  c.seed = 5;
  TickGenerator g(c);
  auto ticks = generate(400'000, g);

  // Bursts: tick counts per 10 ms window are over-dispersed. A Poisson feed has variance / mean = 1; this Hawkes
  // feed (branching n = 0.6, decay 1000/s) has 1/(1-n)^2 * (1 - (1-(1-n)^2) (1-e^-gT)/(gT)) = 4.96 with
  // g = 1000 (1 - n) = 400/s and T = 10 ms.
  std::map<std::int64_t, double> per_window;
  for (const auto& t : ticks) per_window[(t.event_time_ns - c.start_time_ns) / 10'000'000] += 1;
  const std::int64_t windows = (ticks.back().event_time_ns - c.start_time_ns) / 10'000'000;
  double sum = 0, sum2 = 0;
  for (std::int64_t w = 0; w < windows; ++w) {
    double n = per_window.count(w) ? per_window[w] : 0.0;
    sum += n;
    sum2 += n * n;
  }
  const double mean = sum / windows, var = sum2 / windows - mean * mean;
  CHECK(var / mean > 3.0);

  // Volatility clustering: squared mid returns of the busiest instrument are positively autocorrelated.
  std::vector<double> r2;
  double last_mid = 0;
  for (const auto& t : ticks) {
    if (t.symbol != "SYM000" || t.kind != TickKind::Quote) continue;
    const double mid = 0.5 * (t.bid_price + t.ask_price);
    if (last_mid > 0) r2.push_back(std::pow(std::log(mid / last_mid), 2));
    last_mid = mid;
  }
  REQUIRE(r2.size() > 10'000);
  double m = 0;
  for (double x : r2) m += x;
  m /= r2.size();
  double num = 0, den = 0;
  for (std::size_t i = 0; i + 1 < r2.size(); ++i) num += (r2[i] - m) * (r2[i + 1] - m);
  for (double x : r2) den += (x - m) * (x - m);
  CHECK(num / den > 0.05);
}

TEST_CASE("feeds: generator rejects bad configuration naming the field", "[feeds]") {
  GeneratorConfig c;
  c.rate = 0;
  CHECK_THROWS_WITH(TickGenerator(c), Catch::Contains("rate"));
  c = {};
  c.instruments = 0;
  CHECK_THROWS_WITH(TickGenerator(c), Catch::Contains("instruments"));
  c = {};
  c.burstiness = 1.5;
  CHECK_THROWS_WITH(TickGenerator(c), Catch::Contains("burstiness"));
}
