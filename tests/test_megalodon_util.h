// Helpers for the megalodon tests: a one-layer megalodon config, deterministic random weights at the
// shapes of MODEL-SPEC §6, per-instrument state buffers and a max-abs-difference helper.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/model.h"
#include "kernels/cpu/cpu_layer.h"
#include "kernels/cpu/megalodon.h"

namespace tickrt::test {

struct MegaShape {
  int D = 32, Z = 32, V = 48, heads = 2, n = 8, C = 8, G = 2, F = 64;
  bool swiglu = true;
};

inline ModelConfig megalodon_config(const MegaShape& s) {
  ModelConfig c;
  c.n_features = s.D;
  c.d_model = s.D;
  c.outputs = {"y"};
  c.layers = {LayerSpec{LayerType::megalodon, FfnType::none}};
  c.megalodon.z_dim = s.Z;
  c.megalodon.value_dim = s.V;
  c.megalodon.n_heads = s.heads;
  c.megalodon.cema_ndim = s.n;
  c.megalodon.chunk_size = s.C;
  c.megalodon.norm_groups = s.G;
  c.megalodon.ffn_hidden = s.F;
  c.megalodon.swiglu = s.swiglu;
  return c;
}

// Layer 0's megalodon tensors (MODEL-SPEC §6 names and shapes), filled with seeded random values at scales
// that keep every part of the block active: norm offsets and biases non-zero, CEMA decays spread over
// (0, 1), linears ~ 1/√in.
inline Weights megalodon_weights(const MegaShape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Weights w;
  const int64_t D = s.D, Z = s.Z, V = s.V, n = s.n, F = s.F;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale) {
    Tensor t;
    t.shape = shape;
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    t.data.resize(static_cast<std::size_t>(count));
    for (float& v : t.data) v = scale * normal(rng);
    w.tensors["layers.0." + name] = std::move(t);
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    add(name, {out, in}, 1.0f / std::sqrt(static_cast<float>(in)));
  };
  add("mega.timenorm.weight", {D}, 0.2f);
  add("mega.timenorm.bias", {D}, 0.2f);
  add("mega.cema.alpha", {D, n, 1}, 1.0f);
  add("mega.cema.delta", {D, n, 1}, 1.0f);
  add("mega.cema.theta", {D, 1, 1}, 1.0f);
  add("mega.cema.gamma", {D, n, 2}, 1.0f);
  add("mega.cema.omega", {D, 1}, 0.5f);
  add("mega.rmsnorm.weight", {D}, 0.2f);
  linear("mega.wz.weight", Z, D);
  add("mega.wz.bias", {Z}, 0.1f);
  linear("mega.wv.weight", V, D);
  add("mega.wv.bias", {V}, 0.1f);
  linear("mega.wr.weight", V, D);
  add("mega.wr.bias", {V}, 0.1f);
  linear("mega.wh1.weight", D, D);
  add("mega.wh1.bias", {D}, 0.1f);
  linear("mega.wh2.weight", D, V);
  add("mega.gamma", {2, Z}, 0.3f);
  add("mega.beta", {2, Z}, 0.3f);
  add("nffn.norm.weight", {D}, 0.2f);
  add("nffn.norm.bias", {D}, 0.2f);
  linear("nffn.fc1.weight", F, D);
  if (s.swiglu) linear("nffn.fc3.weight", F, D);
  linear("nffn.fc2.weight", D, F);
  return w;
}

// Block inputs [T, D]: noise around a slowly drifting level, so TimestepNorm's running moments move.
inline std::vector<float> megalodon_inputs(int64_t T, int D, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(T * D));
  for (int64_t t = 0; t < T; ++t)
    for (int j = 0; j < D; ++j)
      x[t * D + j] = 0.5f * std::sin(0.01f * static_cast<float>(t) + static_cast<float>(j)) + normal(rng);
  return x;
}

// One instrument's state: zeroed (the reset state), 64-byte aligned, copyable (copies keep the alignment).
struct StateBuf {
  struct alignas(64) Line {
    std::byte b[64];
  };
  std::vector<Line> lines;
  std::size_t size = 0;
  explicit StateBuf(std::size_t n) : lines((n + 63) / 64, Line{}), size(n) {}
  std::byte* get() { return lines.front().b; }
  void reset() { std::fill(lines.begin(), lines.end(), Line{}); }
};

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return a.size() == b.size() ? m : INFINITY;
}

}  // namespace tickrt::test
