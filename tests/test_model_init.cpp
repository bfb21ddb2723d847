// init_model(): deterministic for a seed, distributions as documented in engine/model_init.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/model.h"
#include "engine/model_init.h"

using nlohmann::json;
using tickrt::ModelConfig;

namespace {

ModelConfig hybrid() {
  json j{{"format", "tickrt-model/1"},
         {"n_features", 7},
         {"d_model", 32},
         {"outputs", {"y"}},
         {"mamba", {{"proj_bias", true}}},
         {"attention", {{"n_heads", 4}, {"n_kv_heads", 2}, {"window", 16}}},
         {"moe", {{"n_experts", 4}}},
         {"megalodon", {{"n_heads", 2}, {"cema_ndim", 4}, {"chunk_size", 8}}},
         {"layers", json::array({{{"type", "mamba"}, {"ffn", "mlp"}},
                                 {{"type", "attention"}, {"ffn", "moe"}},
                                 {{"type", "megalodon"}}})}};
  return ModelConfig::from_json(j, "hybrid");
}

}  // namespace

TEST_CASE("model init: every expected tensor, deterministic for a seed", "[model]") {
  ModelConfig cfg = hybrid();
  tickrt::Model a = tickrt::init_model(cfg, 42);
  tickrt::Model b = tickrt::init_model(cfg, 42);
  tickrt::Model c = tickrt::init_model(cfg, 43);
  auto specs = tickrt::expected_tensors(cfg);
  REQUIRE(a.weights.tensors.size() == specs.size());
  int64_t total = 0;
  for (const auto& s : specs) {
    const tickrt::Tensor& t = a.weights.at(s.name);
    CHECK(t.shape == s.shape);
    CHECK(static_cast<int64_t>(t.data.size()) == t.numel());
    for (float v : t.data) REQUIRE(std::isfinite(v));
    total += t.numel();
  }
  CHECK(a.parameter_count() == total);
  CHECK(a.hash == a.compute_hash());
  CHECK(a.hash == b.hash);
  CHECK(a.weights.at("layers.0.mamba.in_proj.weight").data == b.weights.at("layers.0.mamba.in_proj.weight").data);
  CHECK(a.hash != c.hash);
  CHECK(a.weights.at("embed.weight").data != c.weights.at("embed.weight").data);
  CHECK_THROWS_WITH(a.weights.at("layers.9.nothing"), Catch::Contains("layers.9.nothing"));
}

TEST_CASE("model init: values follow the reference initialisations", "[model]") {
  tickrt::Model m = tickrt::init_model(hybrid(), 7);
  auto all = [&](const std::string& name, auto pred) {
    for (float v : m.weights.at(name).data)
      if (!pred(v)) return false;
    return true;
  };
  // Linear: U(-1/sqrt(in), 1/sqrt(in)), and it actually spreads over the interval.
  const float bound = 1.0f / std::sqrt(32.0f);
  const auto& w = m.weights.at("layers.0.mamba.in_proj.weight").data;
  float lo = 1, hi = -1;
  double mean = 0;
  for (float v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    mean += v;
  }
  mean /= double(w.size());
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi - lo > 1.9f * bound);
  CHECK(std::abs(mean) < 0.01);
  CHECK(all("embed.bias", [](float v) { return std::abs(v) <= 1.0f / std::sqrt(7.0f); }));
  CHECK(all("layers.0.mamba.in_proj.bias", [&](float v) { return std::abs(v) <= bound; }));
  // Norms: Jamba RMSNorm 1, Megalodon offsets 0.
  CHECK(all("final_layernorm.weight", [](float v) { return v == 1.0f; }));
  CHECK(all("layers.0.mamba.dt_layernorm.weight", [](float v) { return v == 1.0f; }));
  CHECK(all("layers.2.mega.timenorm.weight", [](float v) { return v == 0.0f; }));
  CHECK(all("layers.2.nffn.norm.bias", [](float v) { return v == 0.0f; }));
  // Mamba: A_log[d, n] = log(n + 1), D = 1, dt = softplus(bias) in [1e-3, 1e-1].
  const auto& a_log = m.weights.at("layers.0.mamba.A_log").data;  // [64, 16]
  CHECK(a_log[0] == 0.0f);
  CHECK(a_log[16 * 5 + 3] == Approx(std::log(4.0)));
  CHECK(all("layers.0.mamba.D", [](float v) { return v == 1.0f; }));
  CHECK(all("layers.0.mamba.dt_proj.bias", [](float v) {
    double dt = std::log1p(std::exp(double(v)));
    return dt >= 0.999e-3 && dt <= 1.001e-1;
  }));
  CHECK(all("layers.0.mamba.conv1d.weight", [](float v) { return std::abs(v) <= 0.5f; }));
  // CEMA: imaginary gamma 0, omega within [-1, 1], theta = logit of distinct frequencies.
  const auto& g = m.weights.at("layers.2.mega.cema.gamma").data;
  for (std::size_t i = 1; i < g.size(); i += 2) REQUIRE(g[i] == 0.0f);
  CHECK(all("layers.2.mega.cema.omega", [](float v) { return v >= -1.0f && v <= 1.0f; }));
  const auto& th = m.weights.at("layers.2.mega.cema.theta").data;
  std::vector<float> sorted(th.begin(), th.end());
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(sorted.back() == Approx(std::log(std::exp(-std::log(32.0) / 32) / (1 - std::exp(-std::log(32.0) / 32)))));
  CHECK(th != sorted);  // permuted
  CHECK(all("layers.2.mega.beta", [](float v) { return v == 0.0f; }));
  CHECK(all("layers.2.mega.gamma", [](float v) { return std::abs(v) < 0.2f; }));
}

TEST_CASE("model init: perturb_weights moves every tensor and the hash", "[model]") {
  tickrt::Model m = tickrt::init_model(hybrid(), 1);
  uint64_t before = m.hash;
  tickrt::Model p = m;
  tickrt::perturb_weights(p, 9, 0.01f);
  CHECK(p.hash != before);
  CHECK(p.hash == p.compute_hash());
  for (const auto& [name, t] : m.weights.tensors) {
    INFO(name);
    CHECK(p.weights.at(name).data != t.data);
  }
}
