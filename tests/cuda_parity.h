// Shared by the CUDA tests (host emulator and device): the layer cases and a parity run of a backend against
// the CPU reference backend on the same model, k instruments at scattered slots over T ticks.
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/backend_test_models.h"

namespace tickrt::test {

struct CudaCase {
  std::string name;
  nlohmann::json layers;
  nlohmann::json extra = nlohmann::json::object();
};

// Every layer type and FFN kind, refresh schedules with and without lag, and a mixed stack.
inline std::vector<CudaCase> cuda_cases() {
  using json = nlohmann::json;
  return {
      {"mamba, inner norms", json::array({{{"type", "mamba"}}})},
      {"mamba, no inner norms, proj bias, no conv bias", json::array({{{"type", "mamba"}}}),
       {{"mamba", {{"inner_norms", false}, {"proj_bias", true}, {"conv_bias", false}}}}},
      {"attention GQA, P 1, lag 0", json::array({{{"type", "attention"}}})},
      {"attention GQA, P 7, lag 3", json::array({{{"type", "attention"}}}),
       {{"attention", {{"refresh_every", 7}, {"refresh_lag", 3}}}}},
      {"attention, window 100, P 1, lag 2", json::array({{{"type", "attention"}}}),
       {{"attention", {{"window", 100}, {"refresh_lag", 2}}}}},
      {"mamba + mlp", json::array({{{"type", "mamba"}, {"ffn", "mlp"}}})},
      {"attention + moe", json::array({{{"type", "attention"}, {"ffn", "moe"}}})},
      {"megalodon", json::array({{{"type", "megalodon"}}})},
      {"megalodon without swiglu", json::array({{{"type", "megalodon"}}}), {{"megalodon", {{"swiglu", false}}}}},
      {"mixed stack", json::array({{{"type", "mamba"}},
                                   {{"type", "megalodon"}},
                                   {{"type", "attention"}, {"ffn", "moe"}},
                                   {{"type", "mamba"}, {"ffn", "mlp"}},
                                   {{"type", "attention"}}}),
       {{"attention", {{"refresh_every", 4}, {"refresh_lag", 2}}}}},
  };
}

struct ParityResult {
  double max_out = 0.0;    // max |y_other − y_cpu| over all ticks and instruments
  double max_state = 0.0;  // max over the final states, compared as float32 words
  int64_t ticks = 0;
};

// Instrument i lives at slot (i·7919 + 3) mod n_slots in both backends (scattered, out of order in a batch).
inline int32_t scattered_slot(int i, int n_slots) { return static_cast<int32_t>((int64_t{i} * 7919 + 3) % n_slots); }

// Steps k instruments T ticks in both backends (each instrument its own features) and compares.
inline ParityResult parity_run(Backend& cpu, Backend& other, int F, int H, int k, int64_t T, uint32_t seed) {
  ParityResult r;
  const int n_slots = std::min(cpu.max_instruments(), other.max_instruments());
  std::vector<int32_t> slots(static_cast<std::size_t>(k));
  for (int i = 0; i < k; ++i) slots[i] = scattered_slot(i, n_slots);
  const auto x = random_features(T * k, F, seed);  // [T, k, F]
  std::vector<float> y_cpu(static_cast<std::size_t>(k) * H), y_other(y_cpu.size());
  std::vector<StepOutput> i_cpu(static_cast<std::size_t>(k)), i_other(i_cpu.size());
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x.data() + t * k * F;
    cpu.step(slots.data(), k, xt, y_cpu.data(), i_cpu.data());
    other.step(slots.data(), k, xt, y_other.data(), i_other.data());
    r.max_out = std::max(r.max_out, max_abs_diff(y_cpu, y_other));
    for (int i = 0; i < k; ++i)
      if (i_cpu[i].context_age != i_other[i].context_age) r.max_out = INFINITY;
  }
  r.ticks = T;
  std::vector<float> s_cpu(cpu.state_bytes() / 4), s_other(other.state_bytes() / 4);
  for (int i = 0; i < k; ++i) {
    cpu.read_state(slots[i], reinterpret_cast<std::byte*>(s_cpu.data()));
    other.read_state(slots[i], reinterpret_cast<std::byte*>(s_other.data()));
    r.max_state = std::max(r.max_state, max_abs_diff(s_cpu, s_other));
  }
  return r;
}

}  // namespace tickrt::test
