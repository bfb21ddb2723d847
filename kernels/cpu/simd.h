// Small SIMD helpers of the CPU layers. dot(): a float dot product (GCC does not vectorise float reductions
// without -ffast-math). exp16(): exp(x) for 16 floats at once (AVX-512), for the mamba scan's exp(Δ·A) — libm's
// scalar expf was a third of the step. Cephes' single-precision polynomial on x − n·ln2 with the 2^n scaling done by vscalefps: within 2 ulp
// of expf over the float range; large negative arguments give 0 (with FTZ) as expf does.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tickrt::cpu {

#if defined(__AVX512F__)

// The all-lanes masked forms of min/max/roundscale/scalef are used because GCC 12's unmasked ones start from
// _mm512_undefined_ps() and trip -Wmaybe-uninitialized.
constexpr __mmask16 kAll16 = 0xFFFF;

inline __m512 exp16(__m512 x) {
  x = _mm512_mask_min_ps(x, kAll16, x, _mm512_set1_ps(88.3762626647949f));
  x = _mm512_mask_max_ps(x, kAll16, x, _mm512_set1_ps(-103.972084045410f));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_mask_roundscale_ps(t, kAll16, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_mask_scalef_ps(p, kAll16, p, n);
}

// Sum of the 16 lanes (in a fixed order: lanes 0..15).
inline float sum16(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0.0f;
  for (float l : lanes) s += l;
  return s;
}

#endif

// Σ a[i]·b[i], i < n.
inline float dot(const float* a, const float* b, int n) {
#if defined(__AVX512F__)
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return sum16(acc);
#else
  float acc = 0.0f;
  for (int i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
#endif
}

}  // namespace tickrt::cpu
