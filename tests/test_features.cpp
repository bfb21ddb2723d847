// Features v1, features.json and labels: formulas on hand-made ticks, causality, rejection without state
// change, session resets, normalisation and label horizons.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

#include "engine/feature_spec.h"
#include "engine/features.h"
#include "engine/labels.h"
#include "tests/test_util.h"

using namespace tickrt;

namespace {

constexpr int64_t kSec = 1'000'000'000;

MarketTick quote(int64_t t_ns, double bid, double ask, double bs = 1, double as = 1) {
  MarketTick q;
  q.event_time_ns = t_ns;
  q.bid = bid;
  q.ask = ask;
  q.bid_size = bs;
  q.ask_size = as;
  return q;
}

MarketTick trade(int64_t t_ns, double price, double size, int side) {
  MarketTick q;
  q.event_time_ns = t_ns;
  q.is_trade = true;
  q.price = price;
  q.size = size;
  q.side = side;
  return q;
}

int index_of(std::string_view name) {
  for (int i = 0; i < kFeatureCount; ++i)
    if (kFeatures[i].name == name) return i;
  FAIL("no feature " << name);
  return -1;
}

}  // namespace

TEST_CASE("features: quote and trade formulas", "[features]") {
  FeatureState st{};
  float f[kFeatureCount];
  REQUIRE(compute_features(st, quote(10 * kSec, 100.0, 100.2, 3, 1), 0, f).reject == FeatureReject::none);
  CHECK(f[index_of("mid_ret_bp")] == 0.0f);  // first quote has no previous mid
  CHECK(f[index_of("spread_bp")] == Approx(1e4 * 0.2 / 100.1));
  CHECK(f[index_of("imbalance")] == Approx(0.5));
  CHECK(f[index_of("log_bid_size")] == Approx(std::log1p(3.0)));
  CHECK(f[index_of("log_dt")] == Approx(std::log(1e-3)));

  REQUIRE(compute_features(st, quote(12 * kSec, 100.1, 100.3), 0, f).reject == FeatureReject::none);
  CHECK(f[index_of("mid_ret_bp")] == Approx(1e4 * std::log(100.2 / 100.1)));
  CHECK(f[index_of("log_dt")] == Approx(std::log(1e-3 + 2.0)));
  CHECK(f[index_of("is_trade")] == 0.0f);

  REQUIRE(compute_features(st, trade(13 * kSec, 100.3, 5, +1), 0, f).reject == FeatureReject::none);
  CHECK(f[index_of("is_trade")] == 1.0f);
  CHECK(f[index_of("trade_side")] == 1.0f);
  CHECK(f[index_of("mid_ret_bp")] == 0.0f);  // a trade does not move the mid
  CHECK(f[index_of("trade_vs_mid_bp")] == Approx(1e4 * 0.1 / 100.2));
  CHECK(f[index_of("trade_ret_bp")] == 0.0f);  // first trade
  CHECK(f[index_of("log_trade_size")] == Approx(std::log1p(5.0)));
  CHECK(f[index_of("ewma_flow")] == Approx(0.05 * std::log1p(5.0)));

  REQUIRE(compute_features(st, trade(14 * kSec, 100.1, 2, -1), 0, f).reject == FeatureReject::none);
  CHECK(f[index_of("trade_ret_bp")] == Approx(1e4 * std::log(100.1 / 100.3)));
  CHECK(f[index_of("log_since_trade")] == Approx(std::log(1e-3 + 1.0)));
  CHECK(f[index_of("trade_side")] == -1.0f);
}

TEST_CASE("features: a bad tick is refused before it touches state", "[features]") {
  FeatureState st{};
  float f[kFeatureCount];
  REQUIRE(compute_features(st, quote(10 * kSec, 1.0, 1.1), 0, f).reject == FeatureReject::none);
  FeatureState before;
  std::memcpy(&before, &st, sizeof st);
  CHECK(compute_features(st, quote(9 * kSec, 1.0, 1.1), 0, f).reject == FeatureReject::time_backwards);
  CHECK(compute_features(st, quote(11 * kSec, 0.0, 1.1), 0, f).reject == FeatureReject::no_price);
  CHECK(compute_features(st, quote(11 * kSec, NAN, 1.1), 0, f).reject == FeatureReject::no_price);
  CHECK(compute_features(st, trade(11 * kSec, -5.0, 1, 1), 0, f).reject == FeatureReject::no_price);
  CHECK(compute_features(st, trade(11 * kSec, INFINITY, 1, 1), 0, f).reject == FeatureReject::no_price);
  CHECK(std::memcmp(&before, &st, sizeof st) == 0);
}

TEST_CASE("features: session gap resets the state", "[features]") {
  FeatureState a{}, fresh{};
  float fa[kFeatureCount], ff[kFeatureCount];
  compute_features(a, quote(0, 1.0, 1.2), 60, fa);
  compute_features(a, quote(1 * kSec, 1.1, 1.3), 60, fa);
  auto out = compute_features(a, quote(200 * kSec, 1.2, 1.4), 60, fa);
  CHECK(out.session_reset);
  compute_features(fresh, quote(200 * kSec, 1.2, 1.4), 60, ff);
  for (int i = 0; i < kFeatureCount; ++i) CHECK(fa[i] == ff[i]);
  CHECK_FALSE(compute_features(a, quote(201 * kSec, 1.2, 1.4), 60, fa).session_reset);
}

TEST_CASE("features: causal (later ticks never change earlier features)", "[features]") {
  std::vector<MarketTick> ticks;
  double mid = 1.3;
  for (int i = 0; i < 500; ++i) {
    mid *= 1.0 + 1e-5 * std::sin(i * 0.7);
    ticks.push_back(i % 3 == 0 ? trade(i * kSec / 10, mid + 1e-5, 1 + i % 4, i % 2 ? 1 : -1)
                               : quote(i * kSec / 10, mid - 1e-5, mid + 1e-5, 1 + i % 5, 2));
  }
  std::vector<float> full(ticks.size() * kFeatureCount), prefix(250 * kFeatureCount);
  FeatureState a{}, b{};
  for (size_t i = 0; i < ticks.size(); ++i) compute_features(a, ticks[i], 0, &full[i * kFeatureCount]);
  for (size_t i = 0; i < 250; ++i) compute_features(b, ticks[i], 0, &prefix[i * kFeatureCount]);
  for (size_t i = 0; i < prefix.size(); ++i) REQUIRE(prefix[i] == full[i]);
  for (float v : full) REQUIRE(std::isfinite(v));
}

TEST_CASE("features: features.json round trip, normalisation and errors", "[features]") {
  tickrt::test::TempDir dir;
  FeatureSpec s = FeatureSpec::defaults();
  s.features.resize(3);
  s.features[1].mean = 2.0f;
  s.features[1].std = 4.0f;
  s.features[1].clip = 1.0f;
  s.save(dir / "features.json");
  FeatureSpec r = FeatureSpec::load(dir / "features.json");
  REQUIRE(r.n_features() == 3);
  CHECK(r.features[1].name == "spread_bp");
  CHECK(r.outputs.size() == 3);
  float raw[kFeatureCount] = {};
  raw[0] = 1.5f;
  raw[1] = 100.0f;
  float x[3];
  r.normalise(raw, x);
  CHECK(x[0] == 1.5f);
  CHECK(x[1] == 1.0f);  // (100 - 2) / 4 clipped to 1

  auto bad = s.to_json();
  bad["features"][0]["name"] = "no_such_feature";
  CHECK_THROWS_WITH(FeatureSpec::from_json(bad, "f.json"), Catch::Contains("features[0].name") &&
                                                               Catch::Contains("no_such_feature"));
  bad = s.to_json();
  bad["features"][2]["std"] = 0;
  CHECK_THROWS_WITH(FeatureSpec::from_json(bad, "f.json"), Catch::Contains("features[2].std"));
  bad = s.to_json();
  bad["outputs"][0]["units"] = "minutes";
  CHECK_THROWS_WITH(FeatureSpec::from_json(bad, "f.json"), Catch::Contains("outputs[0].units"));
}

TEST_CASE("features: labels over tick and time horizons", "[features]") {
  std::vector<int64_t> t = {0, 1 * kSec, 2 * kSec, 5 * kSec, 6 * kSec};
  std::vector<double> m = {1.0, 1.1, 1.2, 1.3, 1.4};
  std::vector<OutputSpec> outs = {{"r2t", 2, HorizonUnits::ticks}, {"r3s", 3, HorizonUnits::seconds}};
  std::vector<float> y(t.size() * 2);
  compute_labels(t, m, outs, y.data(), 2);
  CHECK(y[0] == Approx(1e4 * std::log(1.2 / 1.0)));
  CHECK(y[2 * 2] == Approx(1e4 * std::log(1.4 / 1.2)));
  CHECK(std::isnan(y[3 * 2]));
  CHECK(std::isnan(y[4 * 2]));
  CHECK(y[0 * 2 + 1] == Approx(1e4 * std::log(1.2 / 1.0)));  // t=0 -> last tick <= 3 s is t=2 s
  CHECK(y[1 * 2 + 1] == Approx(1e4 * std::log(1.2 / 1.1)));  // t=1 -> 4 s -> t=2 s
  CHECK(y[2 * 2 + 1] == Approx(1e4 * std::log(1.3 / 1.2)));  // t=2 -> 5 s -> t=5 s
  CHECK(std::isnan(y[3 * 2 + 1]));                           // 8 s is past the data
}
