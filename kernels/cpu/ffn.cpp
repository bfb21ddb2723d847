// The feed-forward halves of a decoder layer (MODEL-SPEC §3): the MLP, and the MoE of such MLPs behind a
// softmax router. The MoE groups the batch by expert: each selected expert gathers the rows routed to it, runs
// its three matrix products once over them, and scatter-adds its output weighted by the router probability.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/mixer.h"

namespace tickrt::cpu {
namespace {

// down(silu(gate·u) ⊙ up·u) for rows of u; the weights of one MLP or one expert.
class SwiGluMlp {
 public:
  SwiGluMlp() = default;
  SwiGluMlp(const Weights& w, const std::string& prefix, int d, int inter)
      : gate_(tensor(w, prefix + "gate_proj.weight", int64_t{inter} * d), nullptr),
        up_(tensor(w, prefix + "up_proj.weight", int64_t{inter} * d), nullptr),
        down_(tensor(w, prefix + "down_proj.weight", int64_t{d} * inter), nullptr) {}
  int intermediate() const { return gate_.out(); }
  // u [k, D] -> out [k, D]; g, h: scratch [k, I].
  void apply(int k, const float* u, float* out, float* g, float* h) const {
    gate_.apply(u, k, g);
    up_.apply(u, k, h);
    const int64_t n = int64_t{k} * gate_.out();
    for (int64_t i = 0; i < n; ++i) g[i] = math::swiglu(g[i], h[i]);
    down_.apply(g, k, out);
  }

 private:
  PackedLinear gate_, up_, down_;
};

class Mlp final : public Ffn {
 public:
  Mlp(const ModelConfig& cfg, const Weights& w, int layer, int max_rows)
      : mlp_(w, "layers." + std::to_string(layer) + ".feed_forward.", cfg.d_model, mlp_intermediate(cfg)),
        g_(static_cast<size_t>(max_rows) * mlp_.intermediate()), h_(g_.size()) {}
  void apply(int k, const float* u, float* out) override { mlp_.apply(k, u, out, g_.data(), h_.data()); }

 private:
  SwiGluMlp mlp_;
  std::vector<float> g_, h_;  // [rows, I]
};

class Moe final : public Ffn {
 public:
  Moe(const ModelConfig& cfg, const Weights& w, int layer, int max_rows)
      : D_(cfg.d_model), E_(cfg.moe.n_experts), top_k_(cfg.moe.top_k) {
    if (E_ <= 0 || top_k_ <= 0 || top_k_ > E_)
      throw std::runtime_error("cpu backend: moe needs 0 < top_k <= n_experts");
    const std::string p = "layers." + std::to_string(layer) + ".feed_forward.";
    router_ = PackedLinear(tensor(w, p + "router.weight", int64_t{E_} * D_), nullptr);
    const int inter = moe_intermediate(cfg);
    for (int e = 0; e < E_; ++e) experts_.emplace_back(w, p + "experts." + std::to_string(e) + ".", D_, inter);
    const auto rows = static_cast<size_t>(max_rows);
    probs_.resize(rows * E_);
    chosen_.resize(static_cast<size_t>(top_k_));
    routed_rows_.resize(rows * E_);
    routed_weight_.resize(rows * E_);
    routed_count_.resize(static_cast<size_t>(E_));
    gathered_.resize(rows * D_);
    expert_out_.resize(rows * D_);
    g_.resize(rows * inter);
    h_.resize(rows * inter);
  }

  void apply(int k, const float* u, float* out) override {
    router_.apply(u, k, probs_.data());  // [k, E] logits, then probabilities in place
    std::fill(routed_count_.begin(), routed_count_.end(), 0);
    for (int r = 0; r < k; ++r) {
      float* p = probs_.data() + int64_t{r} * E_;
      softmax(p);
      math::moe_top_k(p, E_, top_k_, chosen_.data());
      for (int j = 0; j < top_k_; ++j) {
        const int e = chosen_[j];
        const int64_t at = int64_t{e} * k + routed_count_[e]++;
        routed_rows_[at] = r;
        routed_weight_[at] = p[e];  // not renormalised over the top-k (Jamba)
      }
    }
    std::fill(out, out + int64_t{k} * D_, 0.0f);
    for (int e = 0; e < E_; ++e) {
      const int m = routed_count_[e];
      if (m == 0) continue;
      const int* rows = routed_rows_.data() + int64_t{e} * k;
      const float* weight = routed_weight_.data() + int64_t{e} * k;
      for (int i = 0; i < m; ++i)
        std::memcpy(gathered_.data() + int64_t{i} * D_, u + int64_t{rows[i]} * D_, sizeof(float) * D_);
      experts_[e].apply(m, gathered_.data(), expert_out_.data(), g_.data(), h_.data());
      for (int i = 0; i < m; ++i) {
        float* o = out + int64_t{rows[i]} * D_;
        const float* x = expert_out_.data() + int64_t{i} * D_;
        for (int c = 0; c < D_; ++c) o[c] += weight[i] * x[c];
      }
    }
  }

 private:
  // In place over E logits, float32 with the maximum subtracted.
  void softmax(float* p) const {
    const float m = *std::max_element(p, p + E_);
    float sum = 0.0f;
    for (int e = 0; e < E_; ++e) sum += (p[e] = std::exp(p[e] - m));
    const float inv = 1.0f / sum;
    for (int e = 0; e < E_; ++e) p[e] *= inv;
  }

  int D_, E_, top_k_;
  PackedLinear router_;
  std::vector<SwiGluMlp> experts_;
  // Scratch for max_rows rows, reserved at construction.
  std::vector<float> probs_;          // [rows, E]
  std::vector<int> chosen_;           // [top_k]
  std::vector<int> routed_rows_;      // [E, rows]  batch rows routed to each expert (first routed_count_[e])
  std::vector<float> routed_weight_;  // [E, rows]  their router probabilities
  std::vector<int> routed_count_;     // [E]
  std::vector<float> gathered_;       // [rows, D]
  std::vector<float> expert_out_;     // [rows, D]
  std::vector<float> g_, h_;          // [rows, I]
};

}  // namespace

std::unique_ptr<Ffn> make_mlp(const ModelConfig& cfg, const Weights& w, int layer, int max_rows) {
  return std::make_unique<Mlp>(cfg, w, layer, max_rows);
}
std::unique_ptr<Ffn> make_moe(const ModelConfig& cfg, const Weights& w, int layer, int max_rows) {
  return std::make_unique<Moe>(cfg, w, layer, max_rows);
}

}  // namespace tickrt::cpu
