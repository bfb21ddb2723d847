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

// ---- attention (MODEL-SPEC §5) ------------------------------------------------------------------------

// ---- ffn / moe (MODEL-SPEC §3) ------------------------------------------------------------------------

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
