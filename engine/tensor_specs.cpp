// The tensors a config requires (MODEL-SPEC §3-6): names are Hugging Face Jamba's without its "model." prefix,
// plus the Megalodon block's. The order is stable (globals in, layers 0..L-1, globals out) so that writers and
// listings are reproducible; the model hash does not depend on it (it walks tensors in name order).
#include <fmt/core.h>

#include <stdexcept>

#include "engine/model.h"

namespace tickrt {

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const Tensor& Weights::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw std::runtime_error(fmt::format("model weights: no tensor '{}'", name));
  return it->second;
}

namespace {

using Shape = std::vector<int64_t>;

void add_mamba(const ModelConfig& c, const std::string& p, std::vector<TensorSpec>& out) {
  const int64_t D = c.d_model, E = c.mamba_d_inner(), N = c.mamba.d_state, K = c.mamba.d_conv,
                R = c.mamba.dt_rank;
  out.push_back({p + "in_proj.weight", Shape{2 * E, D}});  // rows 0..E-1 -> x, E..2E-1 -> z
  // MODEL-SPEC names no projection biases; these are Hugging Face Jamba's names for them.
  if (c.mamba.proj_bias) out.push_back({p + "in_proj.bias", Shape{2 * E}});
  out.push_back({p + "conv1d.weight", Shape{E, 1, K}});  // depthwise
  if (c.mamba.conv_bias) out.push_back({p + "conv1d.bias", Shape{E}});
  out.push_back({p + "x_proj.weight", Shape{R + 2 * N, E}});  // output rows: dt_low [R], B [N], C [N]
  out.push_back({p + "dt_proj.weight", Shape{E, R}});
  out.push_back({p + "dt_proj.bias", Shape{E}});
  out.push_back({p + "A_log", Shape{E, N}});
  out.push_back({p + "D", Shape{E}});
  out.push_back({p + "out_proj.weight", Shape{D, E}});
  if (c.mamba.proj_bias) out.push_back({p + "out_proj.bias", Shape{D}});
  if (c.mamba.inner_norms) {
    out.push_back({p + "dt_layernorm.weight", Shape{R}});
    out.push_back({p + "b_layernorm.weight", Shape{N}});
    out.push_back({p + "c_layernorm.weight", Shape{N}});
  }
}

void add_attention(const ModelConfig& c, const std::string& p, std::vector<TensorSpec>& out) {
  const int64_t D = c.d_model, Hq = c.attention.n_heads, Hkv = c.attention.n_kv_heads, hd = D / Hq;
  out.push_back({p + "q_proj.weight", Shape{Hq * hd, D}});
  out.push_back({p + "k_proj.weight", Shape{Hkv * hd, D}});
  out.push_back({p + "v_proj.weight", Shape{Hkv * hd, D}});
  out.push_back({p + "o_proj.weight", Shape{D, Hq * hd}});
}

void add_expert(int64_t D, int64_t I, const std::string& p, std::vector<TensorSpec>& out) {
  out.push_back({p + "gate_proj.weight", Shape{I, D}});
  out.push_back({p + "up_proj.weight", Shape{I, D}});
  out.push_back({p + "down_proj.weight", Shape{D, I}});
}

void add_megalodon(const ModelConfig& c, const std::string& p, std::vector<TensorSpec>& out) {
  const MegalodonConfig& m = c.megalodon;
  const int64_t D = c.d_model, n = m.cema_ndim, Z = m.z_dim, V = m.value_dim, F = m.ffn_hidden;
  const std::string mg = p + "mega.";
  out.push_back({mg + "timenorm.weight", Shape{D}});
  out.push_back({mg + "timenorm.bias", Shape{D}});
  out.push_back({mg + "cema.alpha", Shape{D, n, 1}});
  out.push_back({mg + "cema.delta", Shape{D, n, 1}});
  out.push_back({mg + "cema.theta", Shape{D, 1, 1}});
  out.push_back({mg + "cema.gamma", Shape{D, n, 2}});  // [..., 0] real, [..., 1] imaginary
  out.push_back({mg + "cema.omega", Shape{D, 1}});
  out.push_back({mg + "rmsnorm.weight", Shape{D}});
  out.push_back({mg + "wz.weight", Shape{Z, D}});
  out.push_back({mg + "wz.bias", Shape{Z}});
  out.push_back({mg + "wv.weight", Shape{V, D}});
  out.push_back({mg + "wv.bias", Shape{V}});
  out.push_back({mg + "wr.weight", Shape{V, D}});
  out.push_back({mg + "wr.bias", Shape{V}});
  out.push_back({mg + "wh1.weight", Shape{D, D}});
  out.push_back({mg + "wh1.bias", Shape{D}});
  out.push_back({mg + "wh2.weight", Shape{D, V}});
  out.push_back({mg + "gamma", Shape{2, Z}});  // row 0 -> queries, row 1 -> keys
  out.push_back({mg + "beta", Shape{2, Z}});
  const std::string ff = p + "nffn.";
  out.push_back({ff + "norm.weight", Shape{D}});
  out.push_back({ff + "norm.bias", Shape{D}});
  out.push_back({ff + "fc1.weight", Shape{F, D}});
  if (m.swiglu) out.push_back({ff + "fc3.weight", Shape{F, D}});
  out.push_back({ff + "fc2.weight", Shape{D, F}});
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  const int64_t D = c.d_model, F = c.n_features, H = c.n_outputs();
  std::vector<TensorSpec> out;
  out.push_back({"embed.weight", Shape{D, F}});
  out.push_back({"embed.bias", Shape{D}});
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    const LayerSpec& l = c.layers[i];
    const std::string p = fmt::format("layers.{}.", i);
    if (l.type == LayerType::megalodon) {  // the block carries its own norms and FFN
      add_megalodon(c, p, out);
      continue;
    }
    out.push_back({p + "input_layernorm.weight", Shape{D}});
    if (l.type == LayerType::mamba) add_mamba(c, p + "mamba.", out);
    else add_attention(c, p + "self_attn.", out);
    if (l.ffn == FfnType::none) continue;
    out.push_back({p + "pre_ff_layernorm.weight", Shape{D}});
    if (l.ffn == FfnType::mlp) {
      add_expert(D, c.mlp.intermediate, p + "feed_forward.", out);
    } else {
      out.push_back({p + "feed_forward.router.weight", Shape{c.moe.n_experts, D}});
      for (int e = 0; e < c.moe.n_experts; ++e)
        add_expert(D, c.moe.intermediate, fmt::format("{}feed_forward.experts.{}.", p, e), out);
    }
  }
  out.push_back({"final_layernorm.weight", Shape{D}});
  out.push_back({"head.weight", Shape{H, D}});
  out.push_back({"head.bias", Shape{H}});
  return out;
}

}  // namespace tickrt
