// Kernel bodies of the Megalodon block (MODEL-SPEC §6) over the CPU backend's state layout
// (kernels/cpu/megalodon.h). One step:
//   MegaStatsK   per (row, group): this tick's group moments folded into the TimestepNorm statistics
//   MegaCemaK    per (row, channel): TimestepNorm applied (xn) fused with the CEMA update over the n components
//   MegaNormK    per row: RMSNorm (offset scale) of the CEMA output → mx; the row's in-chunk position
//   (wz, wr, wh1, wv: linears)
//   MegaAttendK  per (row, head): head norm, normalised-attention affine, RoPE, key/value into the chunk cache,
//                causal chunk attention (scale 1, online softmax) gated by g; empties the cache at chunk end
//   (wh2 + residuals, LayerNorm, fc1/fc3, fc2: common kernels)
// Conventions as common_kernels.cuh.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cuda/launch_index.h"
#include "kernels/tick_math.h"

namespace tickrt::cuda {

constexpr int kMaxMegaHead = 256;  // per-thread q and accumulator arrays (dz, dv; checked at load)

struct MegaDims {
  int D = 0, Z = 0, V = 0, heads = 0, dz = 0, dv = 0, n = 0, C = 0, G = 0, F = 0;
  float eps = 0.0f;
  uint64_t timenorm_off = 0, chunk_len_off = 0, cema_off = 0, keys_off = 0, values_off = 0;
  TICKRT_HD int group() const { return D / G; }
};

// Grid (ceil(G/kThreads), rows). gstat[r, g] = (mean, 1/sqrt(var + eps)) after the update.
struct MegaStatsK {
  MegaDims m;
  StateRef st;
  const float* x = nullptr;  // [rows, D] block input
  float* gstat = nullptr;    // [rows, G, 2]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.G, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int g = ix.gx(), r = ix.by;
    if (g >= m.G || r >= rows) return;
    float* out = gstat + (int64_t{r} * m.G + g) * 2;
    std::byte* s = st.row(r);
    if (!s) {
      out[0] = 0.0f;
      out[1] = 1.0f;
      return;
    }
    const float* xg = x + int64_t{r} * m.D + int64_t{g} * m.group();
    float sum = 0.0f;
    for (int j = 0; j < m.group(); ++j) sum += xg[j];
    const float gm = sum / static_cast<float>(m.group());
    float ss = 0.0f;
    for (int j = 0; j < m.group(); ++j) ss += (xg[j] - gm) * (xg[j] - gm);
    const float gv = ss / static_cast<float>(m.group());
    std::byte* gs = s + m.timenorm_off + 16 * static_cast<uint64_t>(g);  // {int64 count; float mean; float var}
    int64_t& count = *reinterpret_cast<int64_t*>(gs);
    float& mean = *reinterpret_cast<float*>(gs + 8);
    float& var = *reinterpret_cast<float*>(gs + 12);
    math::timestep_norm_update(count, mean, var, gm, gv);
    out[0] = mean;
    out[1] = math::inv_std(var, m.eps);
  }
};

// xn = TimestepNorm(x); CEMA h[c, k] ← q·h + p·xn; c_out = Σ_k Re(η·h) + omega·xn. cema: [D, n, 5] floats
// (p, q_re, q_im, eta_re, eta_im). Grid (ceil(D/kThreads), rows).
struct MegaCemaK {
  MegaDims m;
  StateRef st;
  const float* x = nullptr;      // [rows, D]
  const float* gstat = nullptr;  // [rows, G, 2]
  const float* tn_scale = nullptr;  // [D] 1 + weight
  const float* tn_bias = nullptr;   // [D]
  const float* cema = nullptr;      // [D, n, 5]
  const float* omega = nullptr;     // [D]
  float* xn = nullptr;    // [rows, D]
  float* cout = nullptr;  // [rows, D]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.D, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int c = ix.gx(), r = ix.by;
    if (c >= m.D || r >= rows) return;
    const float* gs = gstat + (int64_t{r} * m.G + c / m.group()) * 2;
    const int64_t at = int64_t{r} * m.D + c;
    const float v = math::affine_norm(x[at], gs[0], gs[1], tn_scale[c], tn_bias[c]);
    xn[at] = v;
    std::byte* s = st.row(r);
    if (!s) {
      cout[at] = omega[c] * v;
      return;
    }
    float* hc = reinterpret_cast<float*>(s + m.cema_off) + int64_t{c} * m.n * 2;  // [n, 2]
    const float* cf = cema + int64_t{c} * m.n * 5;
    float acc = 0.0f;
    for (int k = 0; k < m.n; ++k) {
      const math::CemaCoeff q{cf[5 * k], cf[5 * k + 1], cf[5 * k + 2], cf[5 * k + 3], cf[5 * k + 4]};
      acc += math::cema_step(hc[2 * k], hc[2 * k + 1], q, v);
    }
    cout[at] = acc + omega[c] * v;
  }
};

// mx = RMSNorm_(1+w)(c_out); pos[r] = in-chunk position of this tick (chunk_len advanced, back to 0 at C).
// Grid (ceil(rows/kThreads)).
struct MegaNormK {
  MegaDims m;
  StateRef st;
  const float* cout = nullptr;   // [rows, D]
  const float* scale = nullptr;  // [D] 1 + mega.rmsnorm.weight
  float* mx = nullptr;           // [rows, D]
  int64_t* pos = nullptr;        // [rows], −1 for padding rows
  int rows = 0;

  Grid grid() const { return {ceil_div(rows, kThreads), 1, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int r = ix.gx();
    if (r >= rows) return;
    const float* cr = cout + int64_t{r} * m.D;
    float ss = 0.0f;
    for (int j = 0; j < m.D; ++j) ss += cr[j] * cr[j];
    const float s = math::rms_scale(ss / static_cast<float>(m.D), m.eps);
    for (int j = 0; j < m.D; ++j) mx[int64_t{r} * m.D + j] = cr[j] * s * scale[j];
    std::byte* b = st.row(r);
    if (!b) {
      pos[r] = -1;
      return;
    }
    int64_t& chunk_len = *reinterpret_cast<int64_t*>(b + m.chunk_len_off);
    const int64_t p = (chunk_len >= 0 && chunk_len < m.C) ? chunk_len : 0;  // foreign bytes: an empty chunk
    chunk_len = (p + 1 == m.C) ? 0 : p + 1;
    pos[r] = p;
  }
};

// Head hd of row r (grid (ceil(heads/kThreads), rows)): q, k from z (head RMS norm, affine, RoPE at pos), k and v
// into cache row pos, attention over cache rows 0..pos, gated[r, head] = attn ⊙ g. At pos = C − 1 the head's
// columns of the cache are zeroed afterwards (the chunk ends; equal histories give equal state bytes).
struct MegaAttendK {
  MegaDims m;
  StateRef st;
  const int64_t* pos = nullptr;  // [rows]
  const float* z = nullptr;      // [rows, Z]
  const float* v = nullptr;      // [rows, V] silu(wv·xn + b)
  const float* g = nullptr;      // [rows, V] silu(wr·mx + b)
  const float* q_scale = nullptr; const float* q_bias = nullptr;  // [Z]
  const float* k_scale = nullptr; const float* k_bias = nullptr;  // [Z]
  const float* rope_cos = nullptr; const float* rope_sin = nullptr;  // [C, dz/2]
  float* gated = nullptr;  // [rows, V]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.heads, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int hd = ix.gx(), r = ix.by;
    if (hd >= m.heads || r >= rows) return;
    const int64_t p = pos[r];
    if (p < 0) return;
    std::byte* s = st.row(r);
    float* keys = reinterpret_cast<float*>(s + m.keys_off);      // [C, Z]
    float* values = reinterpret_cast<float*>(s + m.values_off);  // [C, V]
    const int zo = hd * m.dz, vo = hd * m.dv, half = m.dz / 2;
    const float* zr = z + int64_t{r} * m.Z + zo;
    float ss = 0.0f;
    for (int j = 0; j < m.dz; ++j) ss += zr[j] * zr[j];
    const float sc = math::rms_scale(ss / static_cast<float>(m.dz), m.eps);
    float q[kMaxMegaHead];
    float* key = keys + p * m.Z + zo;
    for (int j = 0; j < m.dz; ++j) {
      const float zn = zr[j] * sc;
      q[j] = zn * q_scale[zo + j] + q_bias[zo + j];
      key[j] = zn * k_scale[zo + j] + k_bias[zo + j];
    }
    const float* cs = rope_cos + p * half;
    const float* sn = rope_sin + p * half;
    for (int i = 0; i < half; ++i) {
      math::rope_rotate(q[2 * i], q[2 * i + 1], cs[i], sn[i]);
      math::rope_rotate(key[2 * i], key[2 * i + 1], cs[i], sn[i]);
    }
    for (int j = 0; j < m.dv; ++j) values[p * m.V + vo + j] = v[int64_t{r} * m.V + vo + j];
    float mx = -INFINITY, l = 0.0f;
    float acc[kMaxMegaHead];
    for (int j = 0; j < m.dv; ++j) acc[j] = 0.0f;
    for (int64_t t = 0; t <= p; ++t) {
      const float* kt = keys + t * m.Z + zo;
      float score = 0.0f;
      for (int j = 0; j < m.dz; ++j) score += q[j] * kt[j];
      const float rescale = math::online_softmax_update(score, mx, l);
      const float w = expf(score - mx);
      const float* vt = values + t * m.V + vo;
      for (int j = 0; j < m.dv; ++j) acc[j] = acc[j] * rescale + w * vt[j];
    }
    const float inv = 1.0f / l;
    for (int j = 0; j < m.dv; ++j)
      gated[int64_t{r} * m.V + vo + j] = acc[j] * inv * g[int64_t{r} * m.V + vo + j];
    if (p == m.C - 1) {
      for (int t = 0; t < m.C; ++t) {
        for (int j = 0; j < m.dz; ++j) keys[int64_t{t} * m.Z + zo + j] = 0.0f;
        for (int j = 0; j < m.dv; ++j) values[int64_t{t} * m.V + vo + j] = 0.0f;
      }
    }
  }
};

}  // namespace tickrt::cuda
