// Setup of the CPU Megalodon block: reads and checks the layer's tensors, folds them into the forms the
// per-tick math uses (offset scales, CEMA coefficients, RoPE tables), packs the linears, reserves scratch.
#include "kernels/cpu/megalodon_layer.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tickrt::cpu {
namespace {

// The tensor `prefix + name`, checked against the expected shape (the error names the tensor).
const Tensor& tensor(const Weights& w, const std::string& prefix, const std::string& name,
                     std::vector<int64_t> shape) {
  const std::string full = prefix + name;
  const Tensor& t = w.at(full);
  if (t.shape != shape) {
    auto dims = [](const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); };
    throw std::runtime_error(
        fmt::format("weights: tensor {} has shape {}, expected {}", full, dims(t.shape), dims(shape)));
  }
  if (static_cast<int64_t>(t.data.size()) != t.numel())
    throw std::runtime_error(
        fmt::format("weights: tensor {} holds {} values for its shape", full, t.data.size()));
  return t;
}

// 1 + weight: Megalodon's norm scales are offsets (MODEL-SPEC §6).
std::vector<float> offset_scale(const Tensor& t) {
  std::vector<float> s(t.data.size());
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0f + t.data[i];
  return s;
}

}  // namespace

MegalodonLayer::MegalodonLayer(const ModelConfig& cfg, const Weights& w, int layer_index, int max_batch)
    : d_(MegalodonDims::from(cfg)), layout_(MegalodonStateLayout::of(d_)) {
  if (max_batch <= 0)
    throw std::runtime_error(fmt::format("megalodon layer {}: max_batch must be positive", layer_index));
  const std::string pre = fmt::format("layers.{}.", layer_index);
  const int64_t D = d_.D, Z = d_.Z, V = d_.V, n = d_.n, F = d_.F;

  tn_scale_ = offset_scale(tensor(w, pre, "mega.timenorm.weight", {D}));
  tn_bias_ = tensor(w, pre, "mega.timenorm.bias", {D}).data;

  // CEMA: p, q = r·e^{iθ}, η per (d, k), derived once in double (tick_math.h).
  const Tensor& alpha = tensor(w, pre, "mega.cema.alpha", {D, n, 1});
  const Tensor& delta = tensor(w, pre, "mega.cema.delta", {D, n, 1});
  const Tensor& theta = tensor(w, pre, "mega.cema.theta", {D, 1, 1});
  const Tensor& gamma = tensor(w, pre, "mega.cema.gamma", {D, n, 2});
  cema_.resize(static_cast<std::size_t>(D * n));
  for (int64_t c = 0; c < D; ++c)
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = c * n + k;
      cema_[i] = math::cema_coeff(alpha.data[i], delta.data[i], theta.data[c], gamma.data[2 * i],
                                  gamma.data[2 * i + 1], static_cast<int>(k), d_.n);
    }
  omega_ = tensor(w, pre, "mega.cema.omega", {D, 1}).data;
  rms_scale_ = offset_scale(tensor(w, pre, "mega.rmsnorm.weight", {D}));

  wz_ = PackedLinear(tensor(w, pre, "mega.wz.weight", {Z, D}), &tensor(w, pre, "mega.wz.bias", {Z}));
  wv_ = PackedLinear(tensor(w, pre, "mega.wv.weight", {V, D}), &tensor(w, pre, "mega.wv.bias", {V}));
  wr_ = PackedLinear(tensor(w, pre, "mega.wr.weight", {V, D}), &tensor(w, pre, "mega.wr.bias", {V}));
  wh1_ = PackedLinear(tensor(w, pre, "mega.wh1.weight", {D, D}), &tensor(w, pre, "mega.wh1.bias", {D}));
  wh2_ = PackedLinear(tensor(w, pre, "mega.wh2.weight", {D, V}), nullptr);

  // Normalised attention: q = ẑ ⊙ (gamma[0] + 1)/√dz + beta[0], k likewise with row 1.
  const Tensor& mg = tensor(w, pre, "mega.gamma", {2, Z});
  const Tensor& mb = tensor(w, pre, "mega.beta", {2, Z});
  const float inv_sqrt_dz = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d_.dz)));
  q_scale_.resize(Z);
  k_scale_.resize(Z);
  for (int64_t j = 0; j < Z; ++j) {
    q_scale_[j] = (mg.data[j] + 1.0f) * inv_sqrt_dz;
    k_scale_[j] = (mg.data[Z + j] + 1.0f) * inv_sqrt_dz;
  }
  q_bias_.assign(mb.data.begin(), mb.data.begin() + Z);
  k_bias_.assign(mb.data.begin() + Z, mb.data.end());

  // RoPE: angle = position · rope_base^(−2i/dz), position = index inside the chunk, so C rows suffice.
  const int half = d_.dz / 2;
  rope_cos_.resize(static_cast<std::size_t>(d_.C) * half);
  rope_sin_.resize(rope_cos_.size());
  for (int p = 0; p < d_.C; ++p)
    for (int i = 0; i < half; ++i) {
      const double angle = p * math::rope_inv_freq(i, d_.dz, d_.rope_base);
      rope_cos_[static_cast<std::size_t>(p) * half + i] = static_cast<float>(std::cos(angle));
      rope_sin_[static_cast<std::size_t>(p) * half + i] = static_cast<float>(std::sin(angle));
    }

  ln_scale_ = offset_scale(tensor(w, pre, "nffn.norm.weight", {D}));
  ln_bias_ = tensor(w, pre, "nffn.norm.bias", {D}).data;
  fc1_ = PackedLinear(tensor(w, pre, "nffn.fc1.weight", {F, D}), nullptr);
  if (d_.swiglu) fc3_ = PackedLinear(tensor(w, pre, "nffn.fc3.weight", {F, D}), nullptr);
  fc2_ = PackedLinear(tensor(w, pre, "nffn.fc2.weight", {D, F}), nullptr);

  max_rows_ = std::max(max_batch, d_.C);
  const auto rows = static_cast<std::size_t>(max_rows_);
  xn_.resize(rows * D);
  mx_.resize(rows * D);
  z_.resize(rows * Z);
  q_.resize(rows * Z);
  v_.resize(rows * V);
  g_.resize(rows * V);
  gated_.resize(rows * V);
  hx_.resize(rows * D);
  y_.resize(rows * D);
  ln_.resize(rows * D);
  out_.resize(rows * D);
  f1_.resize(rows * F);
  if (d_.swiglu) f3_.resize(rows * F);
  scores_.resize(static_cast<std::size_t>(d_.C));
  pos_.resize(rows);
  row_states_.resize(static_cast<std::size_t>(d_.C));
}

std::unique_ptr<Layer> make_megalodon_layer(const ModelConfig& cfg, const Weights& w, int i, int max_batch) {
  if (i < 0 || i >= static_cast<int>(cfg.layers.size()) || cfg.layers[i].type != LayerType::megalodon)
    throw std::runtime_error(fmt::format("config: layers[{}] is not a megalodon layer", i));
  return std::make_unique<MegalodonLayer>(cfg, w, i, max_batch);
}

}  // namespace tickrt::cpu
