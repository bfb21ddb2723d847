// The CPU backend end to end on small random models: step vs sequence form for every layer and FFN kind and a
// mixed stack, chunked sequences with carried state, batches (identical instruments, distinct slots out of order),
// state read/write, resets, and the constant-memory / no-allocation guarantees of the hot path.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "engine/state_layout.h"
#include "kernels/backend.h"
#include "tests/alloc_counter.h"
#include "tests/backend_test_models.h"

using tickrt::test::max_abs_diff;
using tickrt::test::random_features;
using tickrt::test::run_steps;
using tickrt::test::small_config;
using tickrt::test::small_model;
using json = nlohmann::json;

namespace {

struct Case {
  std::string name;
  json layers;
  json extra = json::object();
};

std::vector<Case> layer_cases() {
  return {
      {"mamba, inner norms", json::array({{{"type", "mamba"}}})},
      {"mamba, no inner norms, proj bias, no conv bias", json::array({{{"type", "mamba"}}}),
       {{"mamba", {{"inner_norms", false}, {"proj_bias", true}, {"conv_bias", false}}}}},
      {"attention GQA, P 1, lag 0", json::array({{{"type", "attention"}}})},
      {"attention GQA, P 7, lag 3", json::array({{{"type", "attention"}}}),
       {{"attention", {{"refresh_every", 7}, {"refresh_lag", 3}}}}},
      {"attention, P 1, lag 2", json::array({{{"type", "attention"}}}), {{"attention", {{"refresh_lag", 2}}}}},
      {"mamba + mlp", json::array({{{"type", "mamba"}, {"ffn", "mlp"}}})},
      {"attention + moe", json::array({{{"type", "attention"}, {"ffn", "moe"}}})},
      {"megalodon", json::array({{{"type", "megalodon"}}})},
      {"mixed stack", json::array({{{"type", "mamba"}},
                                   {{"type", "megalodon"}},
                                   {{"type", "attention"}, {"ffn", "moe"}},
                                   {{"type", "mamba"}, {"ffn", "mlp"}}}),
       {{"attention", {{"refresh_every", 4}, {"refresh_lag", 2}}}}},
  };
}

}  // namespace

TEST_CASE("backend: step matches sequence for every layer kind", "[backend]") {
  for (const Case& c : layer_cases()) {
    INFO(c.name);
    const auto model = small_model(small_config(c.layers, c.extra));
    auto b = tickrt::make_backend("cpu", model, 2, 4);
    const int F = model.config.n_features, H = model.config.n_outputs();
    const int64_t T = 300;  // > two sequence chunks of 128, > window, > megalodon chunk
    const auto x = random_features(T, F, 5);
    const auto y_step = run_steps(*b, 0, x, F, H);
    std::vector<float> y_seq(static_cast<size_t>(T * H));
    b->sequence(1, x.data(), T, y_seq.data());
    CHECK(max_abs_diff(y_step, y_seq) <= 1e-5);
    // Both forms leave the same state: one more step from each agrees.
    std::vector<float> s0(b->state_bytes()), s1(b->state_bytes());
    b->read_state(0, reinterpret_cast<std::byte*>(s0.data()));
    b->read_state(1, reinterpret_cast<std::byte*>(s1.data()));
    CHECK(max_abs_diff(s0, s1) <= 1e-5);
  }
}

TEST_CASE("backend: sequence chunks with carried state equal one long sequence", "[backend]") {
  for (const Case& c : layer_cases()) {
    INFO(c.name);
    const auto model = small_model(small_config(c.layers, c.extra), 2);
    auto b = tickrt::make_backend("cpu", model, 2, 1);
    const int F = model.config.n_features, H = model.config.n_outputs();
    const int64_t T = 400;
    const auto x = random_features(T, F, 9);
    std::vector<float> whole(static_cast<size_t>(T * H)), pieces(whole.size());
    b->sequence(0, x.data(), T, whole.data());
    int64_t at = 0;
    for (int64_t n : {1, 37, 130, 100, 132}) {
      b->sequence(1, x.data() + at * F, n, pieces.data() + at * H);
      at += n;
    }
    REQUIRE(at == T);
    CHECK(max_abs_diff(whole, pieces) <= 1e-5);
  }
}

TEST_CASE("backend: identical instruments in one batch give identical outputs", "[backend]") {
  const Case c = layer_cases().back();
  const auto model = small_model(small_config(c.layers, c.extra), 3);
  const int K = 6, F = model.config.n_features, H = model.config.n_outputs();
  auto b = tickrt::make_backend("cpu", model, K + 1, K);
  const int64_t T = 100;
  const auto x = random_features(T, F, 4);
  const auto single = run_steps(*b, K, x, F, H);  // slot K alone
  std::vector<int32_t> slots{0, 1, 2, 3, 4, 5};
  std::vector<float> xb(static_cast<size_t>(K * F)), yb(static_cast<size_t>(K * H));
  for (int64_t t = 0; t < T; ++t) {
    for (int i = 0; i < K; ++i) std::memcpy(xb.data() + i * F, x.data() + t * F, sizeof(float) * F);
    b->step(slots.data(), K, xb.data(), yb.data(), nullptr);
    for (int i = 0; i < K; ++i)
      for (int h = 0; h < H; ++h) REQUIRE(yb[i * H + h] == single[t * H + h]);  // bit for bit
  }
}

TEST_CASE("backend: distinct slots stepped out of order match their own runs", "[backend]") {
  const Case c = layer_cases().back();
  const auto model = small_model(small_config(c.layers, c.extra), 4);
  const int F = model.config.n_features, H = model.config.n_outputs();
  auto batched = tickrt::make_backend("cpu", model, 10, 4);
  auto alone = tickrt::make_backend("cpu", model, 10, 1);
  const int64_t T = 80;
  const std::vector<int32_t> slots{7, 2, 9, 0};
  std::vector<std::vector<float>> x, expect;
  for (int i = 0; i < 4; ++i) {
    x.push_back(random_features(T, F, 20 + i));
    expect.push_back(run_steps(*alone, slots[i], x[i], F, H));
  }
  std::vector<float> xb(4 * F), yb(4 * H);
  std::vector<tickrt::StepOutput> info(4);
  for (int64_t t = 0; t < T; ++t) {
    // Rotate the order of the batch each tick: the slot, not the position in the batch, owns the state.
    std::vector<int32_t> order(4);
    std::vector<int> who(4);
    for (int j = 0; j < 4; ++j) {
      who[j] = static_cast<int>((j + t) % 4);
      order[j] = slots[who[j]];
      std::memcpy(xb.data() + j * F, x[who[j]].data() + t * F, sizeof(float) * F);
    }
    batched->step(order.data(), 4, xb.data(), yb.data(), info.data());
    for (int j = 0; j < 4; ++j) {
      for (int h = 0; h < H; ++h) REQUIRE(yb[j * H + h] == expect[who[j]][t * H + h]);
      // refresh_every 4, lag 2: the age cycles 2, 3, 4, 5 once refreshes exist (t + 1 before the first one).
      const int64_t age = t < 2 ? t + 1 : (t - 2) % 4 + 2;
      REQUIRE(info[j].context_age == age);
    }
  }
}

TEST_CASE("backend: state bytes equal the config's state layout for every layer case", "[backend]") {
  // `tickrt inspect` and snapshots size state from the config alone; the backend must agree.
  for (const Case& c : layer_cases()) {
    const auto model = small_model(small_config(c.layers, c.extra), 5);
    auto b = tickrt::make_backend("cpu", model, 1, 1);
    INFO(c.name);
    CHECK(b->state_bytes() == tickrt::model_state_bytes(model.config));
  }
}

TEST_CASE("backend: reset, read_state and write_state", "[backend]") {
  const Case c = layer_cases().back();
  const auto model = small_model(small_config(c.layers, c.extra), 5);
  const int F = model.config.n_features, H = model.config.n_outputs();
  auto b = tickrt::make_backend("cpu", model, 3, 1);
  CHECK(b->state_bytes() % 64 == 0);
  const auto x = random_features(50, F, 6);
  const auto fresh = run_steps(*b, 0, x, F, H);
  // Copy slot 0's state into slot 1: both continue identically.
  std::vector<std::byte> s(b->state_bytes());
  b->read_state(0, s.data());
  b->write_state(1, s.data());
  const auto more = random_features(30, F, 7);
  CHECK(run_steps(*b, 0, more, F, H) == run_steps(*b, 1, more, F, H));
  // A reset slot behaves like a fresh one.
  b->reset(0);
  CHECK(run_steps(*b, 0, x, F, H) == fresh);
  b->reset(2);
  std::vector<std::byte> zero(b->state_bytes());
  b->read_state(2, s.data());
  CHECK(s == zero);
}

TEST_CASE("backend: unknown and unbuilt backends are refused by name", "[backend]") {
  const auto model = small_model(small_config(json::array({{{"type", "mamba"}}})));
  CHECK_THROWS_WITH(tickrt::make_backend("tpu", model, 1, 1), Catch::Contains("tpu"));
#if !defined(TICKRT_HAVE_CUDA)
  CHECK_THROWS_WITH(tickrt::make_backend("cuda", model, 1, 1), Catch::Contains("cuda"));
#endif
  CHECK_THROWS_WITH(tickrt::make_backend("cpu", model, 0, 1), Catch::Contains("max_instruments"));
}

TEST_CASE("backend: memory is constant and stepping allocates nothing over 1,000,000 ticks", "[backend][slow]") {
  // A tiny model with every stateful kind: the attention ring wraps ~100,000 times, megalodon chunks ~60,000.
  json extra = {{"d_model", 8}, {"n_features", 3},
                {"attention", {{"n_heads", 2}, {"n_kv_heads", 1}, {"window", 8}, {"refresh_every", 3}, {"refresh_lag", 1}}},
                {"megalodon", {{"z_dim", 4}, {"value_dim", 8}, {"n_heads", 1}, {"chunk_size", 16}, {"norm_groups", 1},
                               {"ffn_hidden", 8}}}};
  const auto model = small_model(small_config(json::array({{{"type", "mamba"}},
                                                           {{"type", "megalodon"}},
                                                           {{"type", "attention"}, {"ffn", "moe"}}}),
                                              extra));
  const int F = model.config.n_features, H = model.config.n_outputs();
  auto b = tickrt::make_backend("cpu", model, 2, 2);
  const std::size_t bytes = b->state_bytes();
  const auto x = random_features(1000, F, 1);
  std::vector<float> y(2 * H);
  int32_t slots[2] = {0, 1};
  std::vector<float> xb(2 * F);
  const uint64_t allocs_before = tickrt::test::allocation_count();
  for (int64_t t = 0; t < 1'000'000; ++t) {
    const float* xt = x.data() + (t % 1000) * F;
    std::memcpy(xb.data(), xt, sizeof(float) * F);
    std::memcpy(xb.data() + F, xt, sizeof(float) * F);
    b->step(slots, t % 2 == 0 ? 1 : 2, xb.data(), y.data(), nullptr);
  }
  CHECK(tickrt::test::allocation_count() == allocs_before);
  // The sequence form allocates nothing either (chunks of bounded scratch), however long the input.
  std::vector<float> y_seq(static_cast<size_t>(1000 * H));
  const uint64_t allocs_before_seq = tickrt::test::allocation_count();
  b->sequence(0, x.data(), 1000, y_seq.data());
  CHECK(tickrt::test::allocation_count() == allocs_before_seq);
  CHECK(b->state_bytes() == bytes);
  for (float v : y) CHECK(std::isfinite(v));
}
