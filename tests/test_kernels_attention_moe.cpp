// The attention refresh schedule and the MoE routing against brute-force references written out in the test:
// refresh outputs exact for P in {1, 7} and lag in {0, 3} (with context ages), and top-k ties to the lower index.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "kernels/cpu/mixer.h"
#include "tests/backend_test_models.h"

using json = nlohmann::json;

namespace {

// y [rows, out] = W [out, in] x, in double.
std::vector<double> matvec(const tickrt::Tensor& W, const float* x) {
  const int64_t out = W.shape[0], in = W.shape[1];
  std::vector<double> y(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) y[o] += double(W.data[o * in + i]) * x[i];
  return y;
}

struct StateBuffer {
  std::byte* p;
  explicit StateBuffer(std::size_t n) : p(static_cast<std::byte*>(std::aligned_alloc(64, n))) { std::memset(p, 0, n); }
  ~StateBuffer() { std::free(p); }
};

}  // namespace

TEST_CASE("kernels: attention refresh schedule matches a brute-force reference", "[kernels]") {
  for (int P : {1, 7}) {
    for (int lag : {0, 3}) {
      INFO("P " << P << " lag " << lag);
      const int W = 10, T = 60;
      const auto cfg = tickrt::test::small_config(
          json::array({{{"type", "attention"}}}),
          {{"attention", {{"n_heads", 4}, {"n_kv_heads", 2}, {"window", W}, {"refresh_every", P}, {"refresh_lag", lag}}}});
      const auto model = tickrt::test::small_model(cfg, 11);
      const auto& w = model.weights;
      const int D = cfg.d_model, hd = D / 4;
      auto mixer = tickrt::cpu::make_attention_mixer(cfg, w, 0, 4);
      StateBuffer state(mixer->state_bytes());
      const auto u = tickrt::test::random_features(T, D, 3);  // normed inputs [T, D]
      // Reference: every projection in double, the refresh of every refresh tick over its whole window.
      std::vector<std::vector<double>> K, V, O(T);
      for (int t = 0; t < T; ++t) {
        K.push_back(matvec(w.at("layers.0.self_attn.k_proj.weight"), u.data() + t * D));
        V.push_back(matvec(w.at("layers.0.self_attn.v_proj.weight"), u.data() + t * D));
      }
      for (int r = 0; r < T; r += P) {
        const auto q = matvec(w.at("layers.0.self_attn.q_proj.weight"), u.data() + r * D);
        std::vector<float> a(static_cast<size_t>(D));
        for (int j = 0; j < 4; ++j) {
          const int g = j / 2;  // 4 query heads on 2 kv heads
          std::vector<double> p;
          double m = -INFINITY, sum = 0;
          for (int s = std::max(0, r - W + 1); s <= r; ++s) {
            double dot = 0;
            for (int c = 0; c < hd; ++c) dot += q[j * hd + c] * K[s][g * hd + c];
            p.push_back(dot / std::sqrt(double(hd)));
            m = std::max(m, p.back());
          }
          for (auto& v : p) sum += (v = std::exp(v - m));
          for (int c = 0; c < hd; ++c) {
            double acc = 0;
            for (size_t i = 0; i < p.size(); ++i) acc += p[i] / sum * V[std::max(0, r - W + 1) + i][g * hd + c];
            a[j * hd + c] = static_cast<float>(acc);
          }
        }
        O[r] = matvec(w.at("layers.0.self_attn.o_proj.weight"), a.data());
      }
      std::vector<float> out(static_cast<size_t>(D));
      std::byte* states[1] = {state.p};
      for (int t = 0; t < T; ++t) {
        mixer->step(1, states, u.data() + t * D, out.data());
        const int rho = t < lag ? -1 : (t - lag) / P * P;
        for (int c = 0; c < D; ++c) REQUIRE(std::abs(out[c] - (rho < 0 ? 0.0 : O[rho][c])) <= 2e-5);
        CHECK(mixer->context_age(state.p) == static_cast<uint32_t>(rho < 0 ? t + 1 : t - rho));
      }
    }
  }
}

TEST_CASE("kernels: MoE top-k ties go to the lower expert index, weights not renormalised", "[kernels]") {
  const auto cfg = tickrt::test::small_config(json::array({{{"type", "mamba"}, {"ffn", "moe"}}}),
                                              {{"moe", {{"n_experts", 6}, {"top_k", 2}, {"intermediate", 8}}}});
  auto model = tickrt::test::small_model(cfg, 12);
  const int D = cfg.d_model, E = 6;
  auto& router = model.weights.tensors.at("layers.0.feed_forward.router.weight");  // [E, D]
  // Experts 1, 3 and 4 get identical router rows with large logits; the rest small. Top-2 must be {1, 3}.
  for (int e = 0; e < E; ++e)
    for (int c = 0; c < D; ++c) router.data[e * D + c] = (e == 1 || e == 3 || e == 4) ? 0.5f : 0.01f * (e + 1);
  auto moe = tickrt::cpu::make_moe(cfg, model.weights, 0, 4);
  auto u = tickrt::test::random_features(3, D, 8);  // [3, D]
  for (float& v : u) v = std::abs(v);  // positive inputs: the 0.5 rows have the largest logits
  std::vector<float> out(3 * D);
  moe->apply(3, u.data(), out.data());
  for (int r = 0; r < 3; ++r) {
    const float* ur = u.data() + r * D;
    const auto logits = matvec(router, ur);
    double m = -INFINITY, sum = 0;
    for (double l : logits) m = std::max(m, l);
    for (double l : logits) sum += std::exp(l - m);
    std::vector<double> expect(static_cast<size_t>(D));
    for (int e : {1, 3}) {
      const std::string p = "layers.0.feed_forward.experts." + std::to_string(e) + ".";
      const auto g = matvec(model.weights.at(p + "gate_proj.weight"), ur);
      const auto up = matvec(model.weights.at(p + "up_proj.weight"), ur);
      std::vector<float> h(g.size());
      for (size_t i = 0; i < g.size(); ++i) h[i] = static_cast<float>(g[i] / (1 + std::exp(-g[i])) * up[i]);
      const auto d = matvec(model.weights.at(p + "down_proj.weight"), h.data());
      const double prob = std::exp(logits[e] - m) / sum;
      for (int c = 0; c < D; ++c) expect[c] += prob * d[c];
    }
    for (int c = 0; c < D; ++c) REQUIRE(std::abs(out[r * D + c] - expect[c]) <= 1e-5);
  }
}
