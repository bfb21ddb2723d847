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

}  // namespace tickrt::math
