// PackedLinear: y = W x (+ b) for a batch of k vectors.
//
// Packed layout (private to this file): the out rows are cut into panels of kPanel = 16 rows (the last panel
// zero-padded). Panel p stores, for each input column i in order, the 16 weights W[16p + r, i], r = 0..15:
//   packed_[(p * in + i) * 16 + r]                                      // [panels, in, 16]
// so one panel is a single contiguous stream and one 16-float load gives one column of the panel (one zmm, or
// two ymm). The kernel walks panels in the outer loop and, for each panel, runs every batch row through it in
// blocks of kBlock rows with the accumulators in registers; a panel (64·in bytes) stays in L1 while the whole
// batch uses it, so the weights are streamed from memory once per call whatever k is.
//
// Every output is the same chain of fused multiply-adds over i = 0..in-1 whatever the batch size or the row's
// position in it, so a row's result does not depend on k (batched and single steps agree bit for bit).
#include "kernels/cpu/linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tickrt::cpu {
namespace {

constexpr int kPanel = 16;  // rows per panel: one AVX-512 vector, two AVX2 vectors

#if defined(__AVX512F__)
constexpr int kBlock = 8;   // batch rows per register block: 8 zmm accumulators

// Applies one panel to rows x[0..nb) (nb <= kBlock); acc[b] gets the 16 outputs of row b.
template <int NB>
inline void panel_block(const float* w, int in, const float* x, int64_t x_stride, __m512* acc) {
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_setzero_ps();
  for (int i = 0; i < in; ++i) {
    const __m512 wi = _mm512_loadu_ps(w + static_cast<int64_t>(i) * kPanel);
    for (int b = 0; b < NB; ++b) acc[b] = _mm512_fmadd_ps(wi, _mm512_set1_ps(x[b * x_stride + i]), acc[b]);
  }
}

template <int NB>
inline void run_block(const float* w, int in, const float* x, int64_t x_stride, const float* bias16,
                      float* y, int64_t y_stride, int rows_valid) {
  __m512 acc[NB];
  panel_block<NB>(w, in, x, x_stride, acc);
  const __mmask16 mask = static_cast<__mmask16>((1u << rows_valid) - 1u);
  const __m512 b = _mm512_maskz_loadu_ps(mask, bias16);
  for (int r = 0; r < NB; ++r) _mm512_mask_storeu_ps(y + r * y_stride, mask, _mm512_add_ps(acc[r], b));
}

#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kBlock = 4;   // 4 rows x 2 ymm = 8 accumulators of 16 ymm registers

template <int NB>
inline void run_block(const float* w, int in, const float* x, int64_t x_stride, const float* bias16,
                      float* y, int64_t y_stride, int rows_valid) {
  __m256 lo[NB], hi[NB];
  for (int b = 0; b < NB; ++b) lo[b] = hi[b] = _mm256_setzero_ps();
  for (int i = 0; i < in; ++i) {
    const __m256 wl = _mm256_loadu_ps(w + static_cast<int64_t>(i) * kPanel);
    const __m256 wh = _mm256_loadu_ps(w + static_cast<int64_t>(i) * kPanel + 8);
    for (int b = 0; b < NB; ++b) {
      const __m256 xb = _mm256_set1_ps(x[b * x_stride + i]);
      lo[b] = _mm256_fmadd_ps(wl, xb, lo[b]);
      hi[b] = _mm256_fmadd_ps(wh, xb, hi[b]);
    }
  }
  for (int b = 0; b < NB; ++b) {
    alignas(32) float out[kPanel];
    _mm256_store_ps(out, lo[b]);
    _mm256_store_ps(out + 8, hi[b]);
    for (int r = 0; r < rows_valid; ++r) y[b * y_stride + r] = out[r] + bias16[r];
  }
}

#else
constexpr int kBlock = 4;

template <int NB>
inline void run_block(const float* w, int in, const float* x, int64_t x_stride, const float* bias16,
                      float* y, int64_t y_stride, int rows_valid) {
  float acc[NB][kPanel] = {};
  for (int i = 0; i < in; ++i) {
    const float* wi = w + static_cast<int64_t>(i) * kPanel;
    for (int b = 0; b < NB; ++b) {
      const float xb = x[b * x_stride + i];
      for (int r = 0; r < kPanel; ++r) acc[b][r] = std::fma(wi[r], xb, acc[b][r]);
    }
  }
  for (int b = 0; b < NB; ++b)
    for (int r = 0; r < rows_valid; ++r) y[b * y_stride + r] = acc[b][r] + bias16[r];
}
#endif

// Dispatches a partial block (the batch tail) to the instantiation for its size.
template <int NB = kBlock>
inline void run_tail(int nb, const float* w, int in, const float* x, int64_t x_stride, const float* bias16,
                     float* y, int64_t y_stride, int rows_valid) {
  if constexpr (NB > 0) {
    if (nb == NB) return run_block<NB>(w, in, x, x_stride, bias16, y, y_stride, rows_valid);
    run_tail<NB - 1>(nb, w, in, x, x_stride, bias16, y, y_stride, rows_valid);
  }
}

}  // namespace

PackedLinear::PackedLinear(const Tensor& W, const Tensor* bias, int64_t row_begin, int64_t rows) {
  if (W.shape.size() != 2) throw std::runtime_error("PackedLinear: weight is not 2-D");
  const int64_t total_rows = W.shape[0];
  if (rows < 0) rows = total_rows - row_begin;
  if (row_begin < 0 || rows <= 0 || row_begin + rows > total_rows)
    throw std::runtime_error("PackedLinear: row range out of bounds of the weight");
  out_ = static_cast<int>(rows);
  in_ = static_cast<int>(W.shape[1]);
  const int panels = (out_ + kPanel - 1) / kPanel;
  packed_.assign(static_cast<size_t>(panels) * in_ * kPanel, 0.0f);  // [panels, in, 16]
  for (int o = 0; o < out_; ++o) {
    const float* src = W.data.data() + (row_begin + o) * in_;
    float* panel = packed_.data() + static_cast<int64_t>(o / kPanel) * in_ * kPanel;
    for (int i = 0; i < in_; ++i) panel[static_cast<int64_t>(i) * kPanel + o % kPanel] = src[i];
  }
  // Bias padded to whole panels so the store of the last panel reads 16 valid floats.
  bias_.assign(static_cast<size_t>(panels) * kPanel, 0.0f);
  if (bias) {
    if (static_cast<int64_t>(bias->data.size()) != total_rows) throw std::runtime_error("PackedLinear: bias length differs from weight rows");
    std::copy_n(bias->data.data() + row_begin, out_, bias_.begin());
  }
}

void PackedLinear::apply(const float* x, int k, float* y) const { apply_strided(x, in_, k, y, out_); }

void PackedLinear::apply_strided(const float* x, int64_t x_stride, int k, float* y, int64_t y_stride) const {
  const int panels = (out_ + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    const float* w = packed_.data() + static_cast<int64_t>(p) * in_ * kPanel;  // [in, 16]
    const float* b = bias_.data() + p * kPanel;
    const int rows_valid = std::min(kPanel, out_ - p * kPanel);
    float* yp = y + p * kPanel;
    int r = 0;
    for (; r + kBlock <= k; r += kBlock)
      run_block<kBlock>(w, in_, x + r * x_stride, x_stride, b, yp + r * y_stride, y_stride, rows_valid);
    if (r < k) run_tail(k - r, w, in_, x + r * x_stride, x_stride, b, yp + r * y_stride, y_stride, rows_valid);
  }
}

int64_t PackedLinear::weight_bytes() const { return static_cast<int64_t>(packed_.size() * sizeof(float)); }

}  // namespace tickrt::cpu
