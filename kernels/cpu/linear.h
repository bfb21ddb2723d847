// Linear layers of the CPU backend: y = W x (+ b) for a batch of k vectors, with W packed at load time for
// streaming reads (rows interleaved in panels that match the SIMD width), so one pass over the weights serves
// the whole batch. Implemented in kernels/cpu/linear.cpp (AVX-512 / AVX2+FMA / portable paths).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/model.h"

namespace tickrt::cpu {

class PackedLinear {
 public:
  PackedLinear() = default;
  // W: [out, in] (PyTorch layout); bias: [out] or null. Rows [row_begin, row_begin + rows) of W are taken,
  // so one fused weight (e.g. mamba in_proj's x and z halves) can be packed as two linears.
  PackedLinear(const Tensor& W, const Tensor* bias, int64_t row_begin = 0, int64_t rows = -1);
  int out() const { return out_; }
  int in() const { return in_; }
  // y [k, out] = x [k, in] · Wᵀ (+ b). x and y rows are contiguous with strides in() and out() unless given.
  // Allocates nothing.
  void apply(const float* x, int k, float* y) const;
  void apply_strided(const float* x, int64_t x_stride, int k, float* y, int64_t y_stride) const;
  // Bytes of packed weights (for the weight-streaming floor benchmark).
  int64_t weight_bytes() const;
  // The packed weights themselves (weight_bytes() / 4 floats), for that benchmark's streaming pass.
  const float* packed_weights() const { return packed_.data(); }

 private:
  int out_ = 0, in_ = 0;
  std::vector<float> packed_;  // layout private to linear.cpp
  std::vector<float> bias_;    // [out] or empty
};

}  // namespace tickrt::cpu
