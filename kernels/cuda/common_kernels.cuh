// Kernel bodies shared by every layer: the batched linear (matrix · rows), RMSNorm and LayerNorm of rows, and
// the fused gate/up product of an MLP. Each kernel is a struct of plain pointers and sizes with a TICKRT_HD
// operator()(Idx) (one thread's work) and grid() (the launch that covers the problem). No shared memory and
// no barriers: every thread's result depends only on global memory written by earlier launches, so the host
// emulator (host_launch.h) can run the blocks and threads in any order. Compiled by g++ and nvcc.
#pragma once
#include <cstdint>

#include "kernels/cuda/launch_index.h"
#include "kernels/tick_math.h"

namespace tickrt::cuda {

constexpr int kRowTile = 4;  // batch rows per thread in the linears: each weight read serves four rows

enum class Act : int { none = 0, silu = 1 };

// y [rows, out] (=|+=) act(x [rows, in] · Wt + bias) + add1 + add2. Weights are stored transposed, Wt [in, out],
// so the threads of a warp (consecutive outputs o) read consecutive addresses. Thread = one output column o for
// kRowTile rows; grid (ceil(out/kThreads), ceil(rows/kRowTile)).
struct LinearK {
  const float* x = nullptr;     // [rows, x_stride]
  const float* wt = nullptr;    // [in, out]
  const float* bias = nullptr;  // [out] or null
  const float* add1 = nullptr;  // [rows, y_stride] or null: added after the activation (residuals)
  const float* add2 = nullptr;  // [rows, y_stride] or null
  float* y = nullptr;           // [rows, y_stride]
  int x_stride = 0, y_stride = 0;
  int rows = 0, in = 0, out = 0;
  Act act = Act::none;
  bool accumulate = false;  // y += result (a residual added in place)

  Grid grid() const { return {ceil_div(out, kThreads), ceil_div(rows, kRowTile), 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int o = ix.gx();
    const int r0 = ix.by * kRowTile;
    if (o >= out || r0 >= rows) return;
    const int nr = rows - r0 < kRowTile ? rows - r0 : kRowTile;
    float acc[kRowTile] = {0.0f, 0.0f, 0.0f, 0.0f};
    const float* xr = x + int64_t{r0} * x_stride;
    for (int c = 0; c < in; ++c) {
      const float w = wt[int64_t{c} * out + o];
      for (int rb = 0; rb < kRowTile; ++rb)
        if (rb < nr) acc[rb] += xr[int64_t{rb} * x_stride + c] * w;
    }
    for (int rb = 0; rb < nr; ++rb) {
      float v = acc[rb];
      if (bias) v += bias[o];
      if (act == Act::silu) v = math::silu(v);
      const int64_t at = int64_t{r0 + rb} * y_stride + o;
      if (add1 && add2) {
        v += add1[at] + add2[at];
      } else if (add1) {
        v += add1[at];
      }
      y[at] = accumulate ? y[at] + v : v;
    }
  }
};

// g [rows, inter] = silu(x · gate_t) ⊙ (x · up_t): the hidden activation of an MLP (or Megalodon's swiglu FFN)
// in one pass over both weights. gate_t, up_t: [in, inter]. Grid (ceil(inter/kThreads), ceil(rows/kRowTile)).
struct GateUpK {
  const float* x = nullptr;  // [rows, in]
  const float* gate_t = nullptr;
  const float* up_t = nullptr;
  float* g = nullptr;  // [rows, inter]
  int rows = 0, in = 0, inter = 0;

  Grid grid() const { return {ceil_div(inter, kThreads), ceil_div(rows, kRowTile), 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int o = ix.gx();
    const int r0 = ix.by * kRowTile;
    if (o >= inter || r0 >= rows) return;
    const int nr = rows - r0 < kRowTile ? rows - r0 : kRowTile;
    float ga[kRowTile] = {0.0f, 0.0f, 0.0f, 0.0f};
    float ua[kRowTile] = {0.0f, 0.0f, 0.0f, 0.0f};
    const float* xr = x + int64_t{r0} * in;
    for (int c = 0; c < in; ++c) {
      const float wg = gate_t[int64_t{c} * inter + o], wu = up_t[int64_t{c} * inter + o];
      for (int rb = 0; rb < kRowTile; ++rb)
        if (rb < nr) {
          const float xv = xr[int64_t{rb} * in + c];
          ga[rb] += xv * wg;
          ua[rb] += xv * wu;
        }
    }
    for (int rb = 0; rb < nr; ++rb) g[int64_t{r0 + rb} * inter + o] = math::swiglu(ga[rb], ua[rb]);
  }
};

// y [rows, n] = w ⊙ x / sqrt(mean(x²) + eps), one thread per row (MODEL-SPEC §3). Grid (ceil(rows/kThreads)).
struct RmsNormRowsK {
  const float* x = nullptr;  // [rows, n]
  const float* w = nullptr;  // [n]
  float* y = nullptr;        // [rows, n]
  int rows = 0, n = 0;
  float eps = 0.0f;

  Grid grid() const { return {ceil_div(rows, kThreads), 1, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int r = ix.gx();
    if (r >= rows) return;
    const float* xr = x + int64_t{r} * n;
    float* yr = y + int64_t{r} * n;
    float ss = 0.0f;
    for (int i = 0; i < n; ++i) ss += xr[i] * xr[i];
    const float s = math::rms_scale(ss / static_cast<float>(n), eps);
    for (int i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * s);
  }
};

// Mean and biased variance of x [n] (two passes, as the CPU backend).
TICKRT_HD void row_moments(const float* x, int n, float& mean, float& var) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += x[j];
  mean = sum / static_cast<float>(n);
  float ss = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float dx = x[j] - mean;
    ss += dx * dx;
  }
  var = ss / static_cast<float>(n);
}

// y [rows, n] = (x − mean)/sqrt(var + eps) · scale + bias per row (Megalodon's LayerNorm; scale = 1 + weight,
// folded at load). One thread per row. Grid (ceil(rows/kThreads)).
struct LayerNormRowsK {
  const float* x = nullptr;      // [rows, n]
  const float* scale = nullptr;  // [n]
  const float* bias = nullptr;   // [n]
  float* y = nullptr;            // [rows, n]
  int rows = 0, n = 0;
  float eps = 0.0f;

  Grid grid() const { return {ceil_div(rows, kThreads), 1, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int r = ix.gx();
    if (r >= rows) return;
    const float* xr = x + int64_t{r} * n;
    float mean, var;
    row_moments(xr, n, mean, var);
    const float inv = math::inv_std(var, eps);
    for (int j = 0; j < n; ++j) y[int64_t{r} * n + j] = math::affine_norm(xr[j], mean, inv, scale[j], bias[j]);
  }
};

}  // namespace tickrt::cuda
