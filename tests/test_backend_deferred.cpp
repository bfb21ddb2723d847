// Deferred attention refreshes (MODEL-SPEC §5, refresh_lag >= 1): on a refresh thread with the wait policy the
// numbers are exactly the inline ones; under the stale policy a late refresh is replaced by the previous one,
// flagged, and the context age says so.
#include <catch2/catch.hpp>

#include <random>

#include "engine/model_init.h"
#include "engine/refresh_worker.h"
#include "kernels/backend.h"

using namespace tickrt;

namespace {

constexpr int kEvery = 3, kLag = 2;

Model lagged_model() {
  nlohmann::json c = {{"format", "tickrt-model/1"},
                      {"n_features", 5},
                      {"d_model", 16},
                      {"outputs", {"a", "b"}},
                      {"layers", {{{"type", "mamba"}}, {{"type", "attention"}, {"ffn", "mlp"}}, {{"type", "mamba"}}}},
                      {"attention", {{"n_heads", 2}, {"window", 24}, {"refresh_every", kEvery}, {"refresh_lag", kLag}}}};
  Model m = init_model(ModelConfig::from_json(c, "test"), 9);
  perturb_weights(m, 9, 0.05f);
  return m;
}

std::vector<float> inputs(int ticks, int k, int F) {
  std::mt19937 rng(4);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(ticks) * k * F);
  for (auto& v : x) v = n(rng);
  return x;
}

}  // namespace

TEST_CASE("backend deferred: refreshes on a worker thread with the wait policy equal inline, bit for bit",
          "[backend]") {
  const Model m = lagged_model();
  const int k = 3, F = 5, H = 2, T = 600;
  auto inline_b = make_backend("cpu", m, k, k);
  auto deferred_b = make_backend("cpu", m, k, k);
  deferred_b->set_refresh_mode(RefreshMode::deferred_wait);
  RefreshWorker worker(*deferred_b, 64);
  const auto x = inputs(T, k, F);
  const int32_t slots[k] = {2, 0, 1};
  std::vector<float> y1(k * H), y2(k * H);
  StepOutput i1[k], i2[k];
  for (int t = 0; t < T; ++t) {
    inline_b->step(slots, k, &x[size_t(t) * k * F], y1.data(), i1);
    deferred_b->step(slots, k, &x[size_t(t) * k * F], y2.data(), i2);
    worker.dispatch();
    REQUIRE(y1 == y2);
    for (int r = 0; r < k; ++r) {
      REQUIRE(i1[r].context_age == i2[r].context_age);
      REQUIRE_FALSE(i2[r].late_refresh);
    }
  }
  worker.drain();
  CHECK(worker.dispatched() == uint64_t(k) * ((T + kEvery - 1) / kEvery));
  CHECK(deferred_b->late_refreshes() == 0);
  // Snapshots after a drain carry the same bytes.
  std::vector<std::byte> s1(inline_b->state_bytes()), s2(deferred_b->state_bytes());
  inline_b->read_state(0, s1.data());
  deferred_b->read_state(0, s2.data());
  CHECK(s1 == s2);
}

TEST_CASE("backend deferred: a late refresh under the stale policy uses the previous one and is flagged",
          "[backend]") {
  const Model m = lagged_model();
  const int F = 5, H = 2, T = 60;
  auto b = make_backend("cpu", m, 1, 1);
  b->set_refresh_mode(RefreshMode::deferred_stale);
  const auto x = inputs(T, 1, F);
  const int32_t slot = 0;
  std::vector<float> y(H);
  std::vector<RefreshJob> held;
  RefreshJob jobs[8];
  int late_ticks = 0;
  for (int t = 0; t < T; ++t) {
    StepOutput info;
    b->step(&slot, 1, &x[size_t(t) * F], y.data(), &info);
    const int n = b->take_refresh_jobs(jobs, 8);
    for (int j = 0; j < n; ++j) {
      // The first refresh runs on time (nothing older to fall back on); later ones are run only after the
      // tick that needed them (r + lag) has stepped: a refresh thread that is always late.
      if (jobs[j].tick == 0) b->run_refresh(jobs[j]);
      else held.push_back(jobs[j]);
    }
    const bool due = t >= kLag + kEvery && (t - kLag) % kEvery == 0;  // t = r + lag for a refresh r >= P
    CHECK(info.late_refresh == due);
    if (due) {
      ++late_ticks;
      CHECK(info.context_age == uint32_t(kLag + kEvery));  // t - (r - P)
    } else if (t >= kLag) {
      CHECK(info.context_age == uint32_t((t - kLag) % kEvery + kLag));  // t - ρ(t)
    }
    for (auto it = held.begin(); it != held.end();) {  // late, but before tick r + lag + 1 reuses its keys
      if (it->tick + kLag <= t) {
        b->run_refresh(*it);
        it = held.erase(it);
      } else {
        ++it;
      }
    }
  }
  CHECK(late_ticks > 10);
  CHECK(b->late_refreshes() == uint64_t(late_ticks));
  CHECK_THROWS_WITH(make_backend("cpu", init_model(ModelConfig::from_json(
                                                       {{"format", "tickrt-model/1"},
                                                        {"n_features", 2},
                                                        {"d_model", 8},
                                                        {"outputs", {"a"}},
                                                        {"layers", {{{"type", "attention"}}}}},
                                                       "t"),
                                                   1),
                                 1, 1)
                        ->set_refresh_mode(RefreshMode::deferred_wait),
                    Catch::Contains("refresh_lag"));
}
