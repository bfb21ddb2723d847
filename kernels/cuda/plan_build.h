// Definitions of plan.h (included at its end): folding the weights, batch buckets, scratch layout.
#pragma once
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/attention_mixer.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/megalodon.h"
#include "kernels/cuda/plan.h"

namespace tickrt::cuda {
namespace plan_detail {

// The float arena under construction: every piece starts on a 64-byte boundary.
class ArenaBuilder {
 public:
  explicit ArenaBuilder(std::vector<float>& a) : a_(a) {}
  uint64_t put(const float* p, std::size_t n) {
    const uint64_t off = begin(n);
    std::copy(p, p + n, a_.begin() + static_cast<std::ptrdiff_t>(off));
    return off;
  }
  uint64_t put(const std::vector<float>& v) { return put(v.data(), v.size()); }
  // Reserves n floats (zero) and returns their offset.
  uint64_t begin(std::size_t n) {
    const uint64_t off = (a_.size() + 15) / 16 * 16;
    a_.resize(off + n, 0.0f);
    return off;
  }
  float* at(uint64_t off) { return a_.data() + off; }

 private:
  std::vector<float>& a_;
};

inline const Tensor& tensor(const Weights& w, const std::string& name, std::vector<int64_t> shape) {
  const Tensor& t = cpu::tensor(w, name, [&] {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }());
  return t;
}

// Rows [row0, row0 + rows) of W [out, in] written transposed into dst [in, ld] at column col0.
inline void transpose_into(ArenaBuilder& ab, uint64_t dst, int ld, int col0, const Tensor& W, int row0, int rows,
                           int in) {
  float* d = ab.at(dst);
  for (int o = 0; o < rows; ++o)
    for (int c = 0; c < in; ++c) d[int64_t{c} * ld + col0 + o] = W.data[int64_t{row0 + o} * in + c];
}

inline LinearW linear(ArenaBuilder& ab, const Weights& w, const std::string& name, int out, int in,
                      const std::string& bias_name = "") {
  const Tensor& W = tensor(w, name, {out, in});
  LinearW l;
  l.in = in;
  l.out = out;
  l.wt = ab.begin(static_cast<std::size_t>(out) * in);
  transpose_into(ab, l.wt, out, 0, W, 0, out, in);
  if (!bias_name.empty()) l.bias = ab.put(tensor(w, bias_name, {out}).data);
  return l;
}

inline std::vector<float> offset_scale(const Tensor& t) {
  std::vector<float> s(t.data.size());
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0f + t.data[i];
  return s;
}

inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("cuda backend: " + what);
}

inline void plan_mamba(ArenaBuilder& ab, const ModelConfig& cfg, const Weights& w, int i, LayerPlan& L) {
  const std::string p = "layers." + std::to_string(i) + ".mamba.";
  const int D = cfg.d_model, E = cfg.mamba_d_inner(), N = cfg.mamba.d_state, K = cfg.mamba.d_conv;
  const int R = cpu::mamba_dt_rank(cfg);
  const bool pb = cfg.mamba.proj_bias;
  L.in_proj = linear(ab, w, p + "in_proj.weight", 2 * E, D, pb ? p + "in_proj.bias" : "");
  L.x_proj = linear(ab, w, p + "x_proj.weight", R + 2 * N, E);
  L.out_proj = linear(ab, w, p + "out_proj.weight", D, E, pb ? p + "out_proj.bias" : "");
  L.conv_w = ab.put(tensor(w, p + "conv1d.weight", {E, 1, K}).data);
  L.conv_b = cfg.mamba.conv_bias ? ab.put(tensor(w, p + "conv1d.bias", {E}).data)
                                 : ab.put(std::vector<float>(static_cast<std::size_t>(E), 0.0f));
  std::vector<float> A = tensor(w, p + "A_log", {E, N}).data;
  for (float& a : A) a = math::mamba_A(a);
  L.A = ab.put(A);
  L.Dskip = ab.put(tensor(w, p + "D", {E}).data);
  L.dt_w = ab.put(tensor(w, p + "dt_proj.weight", {E, R}).data);  // [E, R] row-major: one row per thread
  L.dt_b = ab.put(tensor(w, p + "dt_proj.bias", {E}).data);
  if (cfg.mamba.inner_norms) {
    L.dt_norm = ab.put(tensor(w, p + "dt_layernorm.weight", {R}).data);
    L.b_norm = ab.put(tensor(w, p + "b_layernorm.weight", {N}).data);
    L.c_norm = ab.put(tensor(w, p + "c_layernorm.weight", {N}).data);
  }
  cpu::StateLayout layout;  // the CPU mixer's sections, in its order
  L.mamba = MambaDims{E, N, K, R, layout.add(sizeof(float) * E * K), 0};
  L.mamba.ssm_off = layout.add(sizeof(float) * E * N);
}

inline int64_t mamba_state_bytes(const LayerPlan& L) {
  cpu::StateLayout layout;
  layout.add(sizeof(float) * L.mamba.E * L.mamba.K);
  layout.add(sizeof(float) * L.mamba.E * L.mamba.N);
  return static_cast<int64_t>(layout.bytes());
}

inline void plan_attention(ArenaBuilder& ab, const ModelConfig& cfg, const Weights& w, int i, int max_batch,
                           LayerPlan& L) {
  const std::string p = "layers." + std::to_string(i) + ".self_attn.";
  const cpu::AttentionShape s = cpu::AttentionShape::from_config(cfg);
  const cpu::AttentionLayout lay = cpu::AttentionLayout::of(s);
  const int D = s.d_model, qw = s.q_width(), kvw = s.kv_width();
  require(s.head_dim <= kMaxHeadDim, "attention head_dim " + std::to_string(s.head_dim) + " exceeds " +
                                         std::to_string(kMaxHeadDim));
  const Tensor& Wk = tensor(w, p + "k_proj.weight", {kvw, D});
  const Tensor& Wv = tensor(w, p + "v_proj.weight", {kvw, D});
  const Tensor& Wq = tensor(w, p + "q_proj.weight", {qw, D});
  const int width = 2 * kvw + qw;
  L.kvq = LinearW{ab.begin(static_cast<std::size_t>(D) * width), kNone, D, width};
  transpose_into(ab, L.kvq.wt, width, 0, Wk, 0, kvw, D);
  transpose_into(ab, L.kvq.wt, width, kvw, Wv, 0, kvw, D);
  transpose_into(ab, L.kvq.wt, width, 2 * kvw, Wq, 0, qw, D);
  L.o_proj = linear(ab, w, p + "o_proj.weight", D, qw);
  AttnDims& a = L.attn;
  a.D = D;
  a.Hq = s.n_heads;
  a.Hkv = s.n_kv_heads;
  a.hd = s.head_dim;
  a.W = s.window;
  a.P = s.every;
  a.lag = s.lag;
  a.ring = s.ring;
  a.entries = s.entries;
  a.t_off = lay.t;
  a.entry_tick_off = lay.entry_tick;
  a.entry_status_off = lay.entry_status;
  a.entry_q_off = lay.entry_q;
  a.entry_o_off = lay.entry_o;
  a.keys_off = lay.keys;
  a.values_off = lay.values;
  // Flash-decoding splits: at least 8 keys each, at most 256 splits, and the partials of a full batch within
  // 256 MiB: [rows, Hq, S, hd + 2] floats.
  const int64_t budget = (int64_t{256} << 20) / (int64_t{4} * std::max(1, max_batch) * a.Hq * (a.hd + 2));
  const int64_t cap = std::max<int64_t>(1, std::min<int64_t>(256, budget));
  a.splits = static_cast<int>(std::min<int64_t>(cap, (a.W + 7) / 8));
  a.split_len = (a.W + a.splits - 1) / a.splits;
  a.splits = (a.W + a.split_len - 1) / a.split_len;
}

inline void plan_ffn(ArenaBuilder& ab, const ModelConfig& cfg, const Weights& w, int i, LayerPlan& L) {
  const std::string p = "layers." + std::to_string(i) + ".feed_forward.";
  const int D = cfg.d_model;
  L.pre_ff_norm = ab.put(tensor(w, "layers." + std::to_string(i) + ".pre_ff_layernorm.weight", {D}).data);
  if (L.ffn == FfnType::mlp) {
    const int I = cpu::mlp_intermediate(cfg);
    L.gate = linear(ab, w, p + "gate_proj.weight", I, D);
    L.up = linear(ab, w, p + "up_proj.weight", I, D);
    L.down = linear(ab, w, p + "down_proj.weight", D, I);
    return;
  }
  const int E = cfg.moe.n_experts, k = cfg.moe.top_k, I = cpu::moe_intermediate(cfg);
  require(E > 0 && k > 0 && k <= E, "moe needs 0 < top_k <= n_experts");
  require(E <= kMaxExperts, "moe n_experts " + std::to_string(E) + " exceeds " + std::to_string(kMaxExperts));
  L.moe = MoeDims{D, E, k, I};
  L.router = linear(ab, w, p + "router.weight", E, D);
  L.e_gate = ab.begin(static_cast<std::size_t>(E) * D * I);
  L.e_up = ab.begin(static_cast<std::size_t>(E) * D * I);
  L.e_down = ab.begin(static_cast<std::size_t>(E) * I * D);
  for (int e = 0; e < E; ++e) {
    const std::string q = p + "experts." + std::to_string(e) + ".";
    transpose_into(ab, L.e_gate + uint64_t(e) * D * I, I, 0, tensor(w, q + "gate_proj.weight", {I, D}), 0, I, D);
    transpose_into(ab, L.e_up + uint64_t(e) * D * I, I, 0, tensor(w, q + "up_proj.weight", {I, D}), 0, I, D);
    transpose_into(ab, L.e_down + uint64_t(e) * I * D, D, 0, tensor(w, q + "down_proj.weight", {D, I}), 0, D, I);
  }
}

inline void plan_megalodon(ArenaBuilder& ab, const ModelConfig& cfg, const Weights& w, int i, LayerPlan& L) {
  const cpu::MegalodonDims d = cpu::MegalodonDims::from(cfg);
  const cpu::MegalodonStateLayout lay = cpu::MegalodonStateLayout::of(d);
  require(d.dz <= kMaxMegaHead && d.dv <= kMaxMegaHead, "megalodon head widths exceed " + std::to_string(kMaxMegaHead));
  const std::string p = "layers." + std::to_string(i) + ".";
  const int D = d.D, Z = d.Z, V = d.V, n = d.n, F = d.F;
  L.mega = MegaDims{D, Z, V, d.heads, d.dz, d.dv, n, d.C, d.G, F, d.eps,
                    lay.timenorm, lay.chunk_len, lay.cema_h, lay.keys, lay.values};
  L.swiglu = d.swiglu;
  L.tn_scale = ab.put(offset_scale(tensor(w, p + "mega.timenorm.weight", {D})));
  L.tn_bias = ab.put(tensor(w, p + "mega.timenorm.bias", {D}).data);
  const Tensor& alpha = tensor(w, p + "mega.cema.alpha", {D, n, 1});
  const Tensor& delta = tensor(w, p + "mega.cema.delta", {D, n, 1});
  const Tensor& theta = tensor(w, p + "mega.cema.theta", {D, 1, 1});
  const Tensor& gamma = tensor(w, p + "mega.cema.gamma", {D, n, 2});
  std::vector<float> cema(static_cast<std::size_t>(D) * n * 5);  // [D, n, (p, q_re, q_im, eta_re, eta_im)]
  for (int c = 0; c < D; ++c)
    for (int k = 0; k < n; ++k) {
      const int64_t at = int64_t{c} * n + k;
      const math::CemaCoeff q = math::cema_coeff(alpha.data[at], delta.data[at], theta.data[c],
                                                 gamma.data[2 * at], gamma.data[2 * at + 1], k, n);
      float* o = &cema[static_cast<std::size_t>(at) * 5];
      o[0] = q.p;
      o[1] = q.q_re;
      o[2] = q.q_im;
      o[3] = q.eta_re;
      o[4] = q.eta_im;
    }
  L.cema = ab.put(cema);
  L.omega = ab.put(tensor(w, p + "mega.cema.omega", {D, 1}).data);
  L.rms_scale = ab.put(offset_scale(tensor(w, p + "mega.rmsnorm.weight", {D})));
  L.wz = linear(ab, w, p + "mega.wz.weight", Z, D, p + "mega.wz.bias");
  L.wv = linear(ab, w, p + "mega.wv.weight", V, D, p + "mega.wv.bias");
  L.wr = linear(ab, w, p + "mega.wr.weight", V, D, p + "mega.wr.bias");
  L.wh1 = linear(ab, w, p + "mega.wh1.weight", D, D, p + "mega.wh1.bias");
  L.wh2 = linear(ab, w, p + "mega.wh2.weight", D, V);
  const Tensor& mg = tensor(w, p + "mega.gamma", {2, Z});
  const Tensor& mb = tensor(w, p + "mega.beta", {2, Z});
  const float inv_sqrt_dz = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.dz)));
  std::vector<float> qs(Z), ks(Z);
  for (int j = 0; j < Z; ++j) {
    qs[j] = (mg.data[j] + 1.0f) * inv_sqrt_dz;
    ks[j] = (mg.data[Z + j] + 1.0f) * inv_sqrt_dz;
  }
  L.q_scale = ab.put(qs);
  L.k_scale = ab.put(ks);
  L.q_bias = ab.put(mb.data.data(), static_cast<std::size_t>(Z));
  L.k_bias = ab.put(mb.data.data() + Z, static_cast<std::size_t>(Z));
  const int half = d.dz / 2;
  std::vector<float> rc(static_cast<std::size_t>(d.C) * half), rs(rc.size());
  for (int q = 0; q < d.C; ++q)
    for (int j = 0; j < half; ++j) {
      const double angle = q * math::rope_inv_freq(j, d.dz, d.rope_base);
      rc[static_cast<std::size_t>(q) * half + j] = static_cast<float>(std::cos(angle));
      rs[static_cast<std::size_t>(q) * half + j] = static_cast<float>(std::sin(angle));
    }
  L.rope_cos = ab.put(rc);
  L.rope_sin = ab.put(rs);
  L.ln_scale = ab.put(offset_scale(tensor(w, p + "nffn.norm.weight", {D})));
  L.ln_bias = ab.put(tensor(w, p + "nffn.norm.bias", {D}).data);
  L.fc1 = linear(ab, w, p + "nffn.fc1.weight", F, D);
  if (d.swiglu) L.fc3 = linear(ab, w, p + "nffn.fc3.weight", F, D);
  L.fc2 = linear(ab, w, p + "nffn.fc2.weight", D, F);
}

}  // namespace plan_detail

inline Plan build_plan(const Model& model, int max_batch) {
  using namespace plan_detail;
  const ModelConfig& cfg = model.config;
  const Weights& w = model.weights;
  Plan p;
  p.D = cfg.d_model;
  p.F = cfg.n_features;
  p.H = cfg.n_outputs();
  p.eps = static_cast<float>(cfg.rms_norm_eps);
  require(p.D > 0 && p.F > 0 && p.H > 0, "model has zero d_model, n_features or outputs");
  ArenaBuilder ab(p.arena);
  p.embed = linear(ab, w, "embed.weight", p.D, p.F, "embed.bias");
  p.head = linear(ab, w, "head.weight", p.H, p.D, "head.bias");
  p.final_norm = ab.put(tensor(w, "final_layernorm.weight", {p.D}).data);
  for (std::size_t i = 0; i < cfg.layers.size(); ++i) {
    const int li = static_cast<int>(i);
    LayerPlan L;
    L.type = cfg.layers[i].type;
    L.ffn = L.type == LayerType::megalodon ? FfnType::none : cfg.layers[i].ffn;
    L.state_off = p.state_bytes;
    int64_t bytes = 0;
    if (L.type == LayerType::megalodon) {
      plan_megalodon(ab, cfg, w, li, L);
      bytes = static_cast<int64_t>(cpu::MegalodonStateLayout::of(cpu::MegalodonDims::from(cfg)).total);
    } else {
      L.input_norm = ab.put(tensor(w, "layers." + std::to_string(i) + ".input_layernorm.weight", {p.D}).data);
      if (L.type == LayerType::mamba) {
        plan_mamba(ab, cfg, w, li, L);
        bytes = mamba_state_bytes(L);
      } else {
        plan_attention(ab, cfg, w, li, max_batch, L);
        L.attn_index = p.n_attention++;
        bytes = static_cast<int64_t>(cpu::AttentionLayout::of(cpu::AttentionShape::from_config(cfg)).bytes);
      }
      if (L.ffn != FfnType::none) plan_ffn(ab, cfg, w, li, L);
    }
    p.state_bytes += cpu::round_up(static_cast<std::size_t>(bytes), cpu::kStateAlign);
    p.layers.push_back(L);
  }
  p.state_bytes = std::max<uint64_t>(p.state_bytes, cpu::kStateAlign);  // as the CPU: a slot is never empty
  return p;
}

inline std::vector<int> batch_buckets(int max_batch) {
  std::vector<int> b;
  for (int s : {1, 8, 64, 512, 4096})
    if (s < max_batch) b.push_back(s);
  b.push_back(max_batch);
  return b;
}

inline int bucket_for(const std::vector<int>& buckets, int k) {
  for (int b : buckets)
    if (b >= k) return b;
  return buckets.back();
}

inline ScratchLayout scratch_layout(const Plan& p, int rows) {
  ScratchLayout s;
  uint64_t at = 0;
  auto take = [&](uint64_t bytes) {
    const uint64_t off = at;
    at += (std::max<uint64_t>(bytes, 1) + 255) / 256 * 256;  // 256-byte aligned buffers
    return off;
  };
  const uint64_t R = static_cast<uint64_t>(rows), f = sizeof(float);
  uint64_t E = 1, dbc = 1, I = 1, ne = 1, topk = 1, G = 1, Z = 1, V = 1, FF = 1;
  uint64_t part = 1, qw = 1;
  for (const LayerPlan& L : p.layers) {
    if (L.type == LayerType::mamba) {
      E = std::max<uint64_t>(E, L.mamba.E);
      dbc = std::max<uint64_t>(dbc, L.mamba.R + 2 * L.mamba.N);
    }
    if (L.type == LayerType::attention) {
      part = std::max<uint64_t>(part, uint64_t(L.attn.Hq) * L.attn.splits);
      qw = std::max<uint64_t>(qw, L.attn.qw());
    }
    if (L.ffn == FfnType::mlp) I = std::max<uint64_t>(I, L.gate.out);
    if (L.ffn == FfnType::moe) {
      ne = std::max<uint64_t>(ne, L.moe.E);
      topk = std::max<uint64_t>(topk, L.moe.top_k);
      I = std::max<uint64_t>(I, L.moe.I);
    }
    if (L.type == LayerType::megalodon) {
      G = std::max<uint64_t>(G, L.mega.G);
      Z = std::max<uint64_t>(Z, L.mega.Z);
      V = std::max<uint64_t>(V, L.mega.V);
      FF = std::max<uint64_t>(FF, L.mega.F);
    }
  }
  const uint64_t D = p.D;
  s.slots = take(R * sizeof(int32_t));
  s.x = take(R * p.F * f);
  s.y = take(R * p.H * f);
  s.age = take(R * sizeof(uint32_t));
  s.h = take(R * D * f);
  s.u = take(R * D * f);
  s.xz = take(R * 2 * E * f);
  s.xc = take(R * E * f);
  s.dbc = take(R * dbc * f);
  s.my = take(R * E * f);
  for (const LayerPlan& L : p.layers)
    if (L.type == LayerType::attention) {
      s.kvq.push_back(take(R * kvq_width(L.attn) * f));
      s.row_t.push_back(take(R * sizeof(int64_t)));
    }
  uint64_t hd = 1;
  for (const LayerPlan& L : p.layers)
    if (L.type == LayerType::attention) hd = std::max<uint64_t>(hd, L.attn.hd);
  s.part_m = take(R * part * f);
  s.part_l = take(R * part * f);
  s.part_acc = take(R * part * hd * f);
  s.attn_a = take(R * qw * f);
  s.attn_o = take(R * D * f);
  s.hidden = take(R * topk * I * f);
  s.logits = take(R * ne * f);
  s.pick_w = take(R * topk * f);
  s.eo = take(R * topk * D * f);
  s.pick_e = take(R * topk * sizeof(int32_t));
  s.list = take(ne * R * sizeof(int32_t));
  s.count = take(ne * sizeof(int32_t));
  s.gstat = take(R * G * 2 * f);
  s.xn = take(R * D * f);
  s.cout = take(R * D * f);
  s.mx = take(R * D * f);
  s.pos = take(R * sizeof(int64_t));
  s.z = take(R * Z * f);
  s.mv = take(R * V * f);
  s.mg = take(R * V * f);
  s.hx = take(R * D * f);
  s.gated = take(R * V * f);
  s.my2 = take(R * D * f);
  s.ln = take(R * D * f);
  s.f1 = take(R * FF * f);
  s.bytes = at;
  return s;
}

}  // namespace tickrt::cuda
