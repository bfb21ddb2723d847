// Small random models for the CPU backend tests: a config from a JSON fragment (defaults resolved by
// ModelConfig::from_json), init_model, then perturbed so that no weight is a neutral 0 or 1.
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/model.h"
#include "engine/model_init.h"
#include "kernels/backend.h"

namespace tickrt::test {

// A config with d_model 16, 5 features, 2 outputs and the given layers; `extra` is merged over it.
inline ModelConfig small_config(const nlohmann::json& layers, const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json j = {{"format", "tickrt-model/1"},
                      {"n_features", 5},
                      {"d_model", 16},
                      {"outputs", {"y1", "y2"}},
                      {"layers", layers},
                      {"mamba", {{"d_state", 4}, {"d_conv", 3}}},
                      {"attention", {{"n_heads", 4}, {"n_kv_heads", 2}, {"window", 24}}},
                      {"mlp", {{"intermediate", 24}}},
                      {"moe", {{"n_experts", 4}, {"top_k", 2}, {"intermediate", 12}}},
                      {"megalodon", {{"z_dim", 8}, {"value_dim", 16}, {"n_heads", 2}, {"cema_ndim", 4},
                                     {"chunk_size", 16}, {"norm_groups", 2}, {"ffn_hidden", 24}}}};
  j.merge_patch(extra);
  return ModelConfig::from_json(j, "test config");
}

inline Model small_model(const ModelConfig& cfg, uint64_t seed = 1) {
  Model m = init_model(cfg, seed);
  perturb_weights(m, seed + 100, 0.05f);
  return m;
}

// Features [T, F], N(0, 1).
inline std::vector<float> random_features(int64_t T, int F, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(T * F));
  for (auto& v : x) v = dist(rng);
  return x;
}

// Steps one instrument through x [T, F] tick by tick; y [T, H].
inline std::vector<float> run_steps(Backend& b, int32_t slot, const std::vector<float>& x, int F, int H) {
  const int64_t T = static_cast<int64_t>(x.size()) / F;
  std::vector<float> y(static_cast<size_t>(T * H));
  for (int64_t t = 0; t < T; ++t) b.step(&slot, 1, x.data() + t * F, y.data() + t * H, nullptr);
  return y;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) return INFINITY;  // a NaN never passes a tolerance
    m = std::max(m, d);
  }
  return m;
}

}  // namespace tickrt::test
