// Small helpers shared by the CPU layers: tensor lookup with named errors, resolved config defaults,
// per-instrument state layout (64-byte aligned sections), and the row-wise RMSNorm / residual loops.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "engine/model.h"
#include "kernels/tick_math.h"

namespace tickrt::cpu {

// The tensor `name` of w, checked against an expected element count; throws naming it.
inline const Tensor& tensor(const Weights& w, const std::string& name, int64_t expect_numel = -1) {
  auto it = w.tensors.find(name);
  if (it == w.tensors.end()) throw std::runtime_error("cpu backend: missing tensor " + name);
  if (expect_numel >= 0 && static_cast<int64_t>(it->second.data.size()) != expect_numel)
    throw std::runtime_error("cpu backend: tensor " + name + " has " + std::to_string(it->second.data.size()) +
                             " values, expected " + std::to_string(expect_numel));
  return it->second;
}

// Config widths with "0 means default" resolved (ModelConfig::from_json resolves them already; configs built
// in memory may not have).
inline int mamba_dt_rank(const ModelConfig& c) { return c.mamba.dt_rank > 0 ? c.mamba.dt_rank : (c.d_model + 15) / 16; }
inline int attn_kv_heads(const ModelConfig& c) {
  return c.attention.n_kv_heads > 0 ? c.attention.n_kv_heads : c.attention.n_heads;
}
inline int mlp_intermediate(const ModelConfig& c) { return c.mlp.intermediate > 0 ? c.mlp.intermediate : 4 * c.d_model; }
inline int moe_intermediate(const ModelConfig& c) { return c.moe.intermediate > 0 ? c.moe.intermediate : 2 * c.d_model; }

constexpr std::size_t kStateAlign = 64;
constexpr std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

// Builds a layer's state layout: each section starts on a 64-byte boundary; the total is a multiple of 64.
class StateLayout {
 public:
  // Reserves `bytes` and returns the section's offset.
  std::size_t add(std::size_t bytes) {
    const std::size_t off = size_;
    size_ += round_up(bytes, kStateAlign);
    return off;
  }
  std::size_t bytes() const { return size_; }

 private:
  std::size_t size_ = 0;
};

template <class T>
inline T* at_offset(std::byte* base, std::size_t off) { return reinterpret_cast<T*>(base + off); }
template <class T>
inline const T* at_offset(const std::byte* base, std::size_t off) { return reinterpret_cast<const T*>(base + off); }

// y = w ⊙ x / sqrt(mean(x²) + eps) for one row of n (MODEL-SPEC §3); y may alias x.
inline void rmsnorm_row(const float* x, const float* w, int n, float eps, float* y) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const float s = math::rms_scale(ss / static_cast<float>(n), eps);
  for (int i = 0; i < n; ++i) y[i] = w[i] * (x[i] * s);
}

// x [rows, n] = rmsnorm(x) row by row into y [rows, n].
inline void rmsnorm_rows(const float* x, const float* w, int rows, int n, float eps, float* y) {
  for (int r = 0; r < rows; ++r) rmsnorm_row(x + static_cast<int64_t>(r) * n, w, n, eps, y + static_cast<int64_t>(r) * n);
}

// h [count] += d [count].
inline void add_into(float* h, const float* d, int64_t count) {
  for (int64_t i = 0; i < count; ++i) h[i] += d[i];
}

}  // namespace tickrt::cpu
