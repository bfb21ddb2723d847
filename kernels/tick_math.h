// The per-element math of every layer (MODEL-SPEC), in one header compiled by g++ for the CPU backend and by
// nvcc for the CUDA kernels. Functions here are pure, scalar and allocation-free; loops over vectors live in
// kernels/cpu (and kernels/cuda), so the two backends differ only in how they iterate.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define TICKRT_HD __host__ __device__ __forceinline__
#else
#define TICKRT_HD inline
#endif

namespace tickrt::math {

// ---- common activations (MODEL-SPEC notation) ---------------------------------------------------------
TICKRT_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
TICKRT_HD float silu(float x) { return x / (1.0f + expf(-x)); }
// PyTorch's softplus with threshold 20: x above it is returned as is.
TICKRT_HD float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
// 1 / sqrt(mean_sq + eps): the RMSNorm scale, given the mean of squares.
TICKRT_HD float rms_scale(float mean_sq, float eps) { return 1.0f / sqrtf(mean_sq + eps); }

// ---- mamba (MODEL-SPEC §4) ----------------------------------------------------------------------------
// Depthwise causal conv of one channel over its K-tap window (oldest first, newest last) plus bias, then silu.
TICKRT_HD float mamba_conv_silu(const float* window, const float* taps, int K, float bias) {
  float acc = bias;
  for (int j = 0; j < K; ++j) acc += window[j] * taps[j];
  return silu(acc);
}
// Δ = softplus(dt_proj·δ + bias): the bias sits inside the softplus.
TICKRT_HD float mamba_dt(float dt_proj_out, float bias) { return softplus(dt_proj_out + bias); }
// A = −exp(A_log), computed once at load.
TICKRT_HD float mamba_A(float A_log) { return -expf(A_log); }
// One selective state update for channel d, state index n: s ← exp(Δ·A)·s + Δ·B·x.
TICKRT_HD float mamba_state_update(float s, float dt, float A, float B, float x) {
  return expf(dt * A) * s + dt * B * x;
}
// Output of channel d: (Σ_n s·C + D·x) gated by silu(z); `sc` is Σ_n s[n]·C[n].
TICKRT_HD float mamba_output(float sc, float D, float x, float z) { return (sc + D * x) * silu(z); }

// ---- attention (MODEL-SPEC §5) ------------------------------------------------------------------------
// Query head j reads KV head ⌊j·Hkv/Hq⌋ (grouped-query attention).
TICKRT_HD int attn_kv_head(int j, int n_heads, int n_kv_heads) { return j * n_kv_heads / n_heads; }
// The largest refresh tick ≤ t − lag (refresh ticks are multiples of `every`), or −1 when there is none.
TICKRT_HD int64_t attn_refresh_tick(int64_t t, int every, int lag) {
  const int64_t u = t - lag;
  return u < 0 ? -1 : (u / every) * every;
}
// First key tick of the window of a refresh at tick r: keys s ∈ (r − W, r], never before the reset (tick 0).
TICKRT_HD int64_t attn_window_begin(int64_t r, int window) { return r - window + 1 > 0 ? r - window + 1 : 0; }
// Online softmax: folds one score into the running (max m, denominator l) and returns the factor by which the
// accumulated numerator must be rescaled; the new key's weight is then exp(score − m).
TICKRT_HD float online_softmax_update(float score, float& m, float& l) {
  if (score <= m) {
    l += expf(score - m);
    return 1.0f;
  }
  const float rescale = expf(m - score);  // m = −inf on the first key: rescale = 0
  l = l * rescale + 1.0f;
  m = score;
  return rescale;
}

// ---- ffn / moe (MODEL-SPEC §3) ------------------------------------------------------------------------
// The MLP / expert hidden activation: silu(gate·u) ⊙ (up·u), per element.
TICKRT_HD float swiglu(float gate, float up) { return silu(gate) * up; }
// Whether expert a ranks above expert b in the top-k: larger probability first, ties to the lower index.
TICKRT_HD bool moe_ranks_above(float pa, int a, float pb, int b) { return pa > pb || (pa == pb && a < b); }
// Top-k of probabilities p [E] into idx [k] (best first), by repeated selection (E is small).
TICKRT_HD void moe_top_k(const float* p, int E, int k, int* idx) {
  for (int j = 0; j < k; ++j) {
    int best = -1;
    for (int e = 0; e < E; ++e) {
      bool taken = false;
      for (int i = 0; i < j; ++i) taken = taken || idx[i] == e;
      if (!taken && (best < 0 || moe_ranks_above(p[e], e, p[best], best))) best = e;
    }
    idx[j] = best;
  }
}

// ---- megalodon (MODEL-SPEC §6) ------------------------------------------------------------------------

// Normalise with given moments, then apply an affine map: (x - mean) * inv_std * scale + bias. Used by
// TimestepNorm and LayerNorm, whose Megalodon scales are offsets (scale = 1 + weight, folded at load time).
TICKRT_HD float affine_norm(float x, float mean, float inv_std, float scale, float bias) {
  return (x - mean) * inv_std * scale + bias;
}
// 1 / sqrt(var + eps): the LayerNorm / TimestepNorm scale, given the (biased) variance.
TICKRT_HD float inv_std(float var, float eps) { return 1.0f / sqrtf(var + eps); }

// TimestepNorm (MODEL-SPEC §6.1): folds one tick's group moments (gm, gv: mean and biased variance of the
// group's features at this tick) into the running statistics, weighting every tick equally. The current
// tick is included, so the first tick after a reset gives mean = gm, var = gv. Coefficients in double as
// the spec requires; the stored statistics stay float32.
TICKRT_HD void timestep_norm_update(int64_t& count, float& mean, float& var, float gm, float gv) {
  const double n = static_cast<double>(count) + 1.0;
  const double c1 = static_cast<double>(count) / n;
  const double c2 = 1.0 / n;
  const double delta = static_cast<double>(gm) - static_cast<double>(mean);
  const double new_mean = c1 * mean + c2 * gm;
  const double new_var = c1 * var + c2 * gv + c1 * c2 * delta * delta;
  mean = static_cast<float>(new_mean);
  var = static_cast<float>(new_var);
  count += 1;
}

// CEMA coefficients of one (channel d, component k) pair, derived from the raw weights at load time
// (MODEL-SPEC §6.2): p = σ(alpha), r = 1 − σ(alpha)σ(delta), θ = (k+1)·σ(theta)·2π/n, q = r·e^{iθ},
// η = (gamma_re + i·gamma_im)/√n. Computed in double, rounded once.
struct CemaCoeff {
  float p;
  float q_re, q_im;
  float eta_re, eta_im;
};
TICKRT_HD CemaCoeff cema_coeff(float alpha, float delta, float theta, float gamma_re, float gamma_im, int k,
                               int n) {
  const double sa = 1.0 / (1.0 + exp(-static_cast<double>(alpha)));
  const double sd = 1.0 / (1.0 + exp(-static_cast<double>(delta)));
  const double st = 1.0 / (1.0 + exp(-static_cast<double>(theta)));
  const double r = 1.0 - sa * sd;
  const double angle = static_cast<double>(k + 1) * st * 6.283185307179586476925286766559 / n;
  const double inv_sqrt_n = 1.0 / sqrt(static_cast<double>(n));
  CemaCoeff c;
  c.p = static_cast<float>(sa);
  c.q_re = static_cast<float>(r * cos(angle));
  c.q_im = static_cast<float>(r * sin(angle));
  c.eta_re = static_cast<float>(gamma_re * inv_sqrt_n);
  c.eta_im = static_cast<float>(gamma_im * inv_sqrt_n);
  return c;
}

// One CEMA tick of one (d, k) component: h ← q·h + p·x (complex h, q; real p, x). Returns Re(η·h) of the
// updated h, this component's contribution to the output c_d (the caller adds omega_d·x_d).
TICKRT_HD float cema_step(float& h_re, float& h_im, const CemaCoeff& c, float x) {
  const float px = c.p * x;
  const float re = c.q_re * h_re - c.q_im * h_im + px;
  const float im = c.q_re * h_im + c.q_im * h_re;
  h_re = re;
  h_im = im;
  return c.eta_re * re - c.eta_im * im;
}

// RoPE inverse frequency of pair i in a head of width dz: rope_base^(−2i/dz) (double; tables are built once).
TICKRT_HD double rope_inv_freq(int i, int dz, double rope_base) {
  return pow(rope_base, -2.0 * static_cast<double>(i) / static_cast<double>(dz));
}
// Rotates the interleaved pair (a, b) = (x[2i], x[2i+1]) by the angle whose cosine and sine are given.
TICKRT_HD void rope_rotate(float& a, float& b, float cos_a, float sin_a) {
  const float ra = a * cos_a - b * sin_a;
  const float rb = a * sin_a + b * cos_a;
  a = ra;
  b = rb;
}

}  // namespace tickrt::math
