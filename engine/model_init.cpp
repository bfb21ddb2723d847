// Random initialisation (init_model), following the reference implementations' distributions (MODEL-SPEC §9).
// tools/train/tickmodel.py initialises the same architecture with PyTorch's own RNG: the distributions agree,
// the numbers do not (and need not). Here the numbers are a pure function of (config, seed) on every platform:
// std::mt19937_64 is fully specified by the standard, and the uniform/normal transforms below are our own
// (std::*_distribution output is implementation-defined). Each tensor draws from its own generator seeded by
// (seed, tensor name), so adding a layer never changes the other layers' weights.
//
// What each tensor gets (and from where):
//   Linear weight [out, in] (embed, head, projections, router, experts, Megalodon wz/wv/wr/wh1/wh2, nffn fc*):
//       U(-1/sqrt(in), 1/sqrt(in)) = PyTorch nn.Linear's default kaiming_uniform_(a=sqrt(5)); its bias likewise.
//   RMSNorm weights (input/pre_ff/final/dt/b/c layernorms): 1 (Jamba; the weight is the direct scale).
//   Mamba (mamba_simple.py): A_log[d, n] = log(n + 1) (S4D-real), D = 1, dt_proj.weight U(+-R^-0.5),
//       dt_proj.bias = softplus^-1(dt) with dt log-uniform in [1e-3, 1e-1] floored at 1e-4,
//       conv1d weight and bias U(+-1/sqrt(K)) (nn.Conv1d default with fan_in = K for a depthwise conv).
//   Megalodon norms (timenorm, rmsnorm, nffn.norm): weight 0 and bias 0 (offset scales: effective scale 1 + w).
//   CEMA (complex_exponential_moving_average.py _reset_parameters): alpha, delta ~ N(0, 0.2);
//       theta = logit(f) with f_j = exp(-j log(D)/D), j = 1..D, randomly permuted over channels (clamped into
//       (1e-6, 1 - 1e-6) so D = 1 stays finite); gamma real part ~ N(0, 1), imaginary part 0;
//       omega ~ N(0, 0.25) truncated to [-1, 1].
//   mega.gamma ~ N(0, 0.02), mega.beta = 0 (moving_average_gated_attention.py reset_parameters).
#include "engine/model_init.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>

#include "engine/hash.h"

namespace tickrt {
namespace {

// Deterministic uniform and normal draws on top of std::mt19937_64.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(splitmix64(seed)) {}
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller (one value per call; the second is discarded to keep the stream simple).
  double normal() {
    double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // N(0, std) restricted to [lo, hi] by rejection (as torch.nn.init.trunc_normal_'s distribution).
  double truncated_normal(double std, double lo, double hi) {
    for (;;) {
      double v = std * normal();
      if (v >= lo && v <= hi) return v;
    }
  }
  // Uniform integer in [0, n) (n small): multiply-shift on 53 bits, bias negligible for init purposes.
  std::size_t below(std::size_t n) { return std::min(n - 1, static_cast<std::size_t>(uniform() * n)); }

  static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

 private:
  std::mt19937_64 g_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void fill_uniform(Tensor& t, Rng& rng, double bound) {
  for (float& v : t.data) v = static_cast<float>(rng.uniform(-bound, bound));
}
void fill_normal(Tensor& t, Rng& rng, double std) {
  for (float& v : t.data) v = static_cast<float>(std * rng.normal());
}
void fill_const(Tensor& t, float c) { std::fill(t.data.begin(), t.data.end(), c); }

// softplus^-1(dt) = dt + log(-expm1(-dt)), as mamba_simple.py computes inv_dt.
void fill_dt_bias(Tensor& t, Rng& rng) {
  const double lo = std::log(1e-3), hi = std::log(1e-1);
  for (float& v : t.data) {
    double dt = std::max(std::exp(rng.uniform(lo, hi)), 1e-4);
    v = static_cast<float>(dt + std::log(-std::expm1(-dt)));
  }
}

// theta [D, 1, 1]: logit of exponentially spaced frequencies, permuted over channels.
void fill_cema_theta(Tensor& t, Rng& rng) {
  const int64_t D = t.shape[0];
  std::vector<double> f(static_cast<std::size_t>(D));
  for (int64_t j = 0; j < D; ++j) {
    double x = std::exp(-static_cast<double>(j + 1) * std::log(static_cast<double>(D)) / static_cast<double>(D));
    f[static_cast<std::size_t>(j)] = std::clamp(x, 1e-6, 1.0 - 1e-6);
  }
  for (std::size_t i = f.size(); i > 1; --i) std::swap(f[i - 1], f[rng.below(i)]);  // Fisher-Yates
  for (std::size_t j = 0; j < f.size(); ++j) t.data[j] = static_cast<float>(std::log(f[j] / (1.0 - f[j])));
}

// The fan-in of the linear weight that `bias_name` belongs to ("x.bias" -> "x.weight" [out, in]).
int64_t bias_fan_in(const std::string& bias_name, const std::vector<TensorSpec>& specs) {
  const std::string weight = bias_name.substr(0, bias_name.size() - 4) + "weight";
  for (const auto& s : specs)
    if (s.name == weight && s.shape.size() >= 2) return s.shape[1];
  throw std::logic_error(fmt::format("init_model: no linear weight for bias '{}'", bias_name));
}

void init_tensor(const std::string& name, Tensor& t, Rng& rng, const ModelConfig& cfg,
                 const std::vector<TensorSpec>& specs) {
  if (ends_with(name, "layernorm.weight")) return fill_const(t, 1.0f);  // Jamba RMSNorms
  if (name.find(".mega.timenorm.") != std::string::npos || ends_with(name, ".mega.rmsnorm.weight") ||
      name.find(".nffn.norm.") != std::string::npos)
    return fill_const(t, 0.0f);  // Megalodon offset norms
  if (ends_with(name, ".mamba.A_log")) {  // [E, N]
    const int64_t N = t.shape[1];
    for (int64_t i = 0; i < t.numel(); ++i) t.data[static_cast<std::size_t>(i)] = static_cast<float>(std::log(double(i % N + 1)));
    return;
  }
  if (ends_with(name, ".mamba.D")) return fill_const(t, 1.0f);
  if (ends_with(name, ".mamba.dt_proj.bias")) return fill_dt_bias(t, rng);
  if (ends_with(name, ".mamba.dt_proj.weight")) return fill_uniform(t, rng, 1.0 / std::sqrt(double(cfg.mamba.dt_rank)));
  if (ends_with(name, ".mamba.conv1d.weight") || ends_with(name, ".mamba.conv1d.bias"))
    return fill_uniform(t, rng, 1.0 / std::sqrt(double(cfg.mamba.d_conv)));
  if (ends_with(name, ".cema.alpha") || ends_with(name, ".cema.delta")) return fill_normal(t, rng, 0.2);
  if (ends_with(name, ".cema.theta")) return fill_cema_theta(t, rng);
  if (ends_with(name, ".cema.gamma")) {  // [D, n, 2]: real ~ N(0, 1), imaginary 0
    for (std::size_t i = 0; i < t.data.size(); i += 2) {
      t.data[i] = static_cast<float>(rng.normal());
      t.data[i + 1] = 0.0f;
    }
    return;
  }
  if (ends_with(name, ".cema.omega")) {
    for (float& v : t.data) v = static_cast<float>(rng.truncated_normal(0.25, -1.0, 1.0));
    return;
  }
  if (ends_with(name, ".mega.gamma")) return fill_normal(t, rng, 0.02);
  if (ends_with(name, ".mega.beta")) return fill_const(t, 0.0f);
  if (ends_with(name, ".weight") && t.shape.size() == 2)  // every remaining weight is a Linear [out, in]
    return fill_uniform(t, rng, 1.0 / std::sqrt(double(t.shape[1])));
  if (ends_with(name, ".bias")) return fill_uniform(t, rng, 1.0 / std::sqrt(double(bias_fan_in(name, specs))));
  throw std::logic_error(fmt::format("init_model: no initialisation rule for tensor '{}'", name));
}

}  // namespace

Model init_model(const ModelConfig& cfg, uint64_t seed) {
  Model m;
  m.config = cfg;
  const std::vector<TensorSpec> specs = expected_tensors(cfg);
  for (const TensorSpec& s : specs) {
    Tensor t;
    t.shape = s.shape;
    t.data.assign(static_cast<std::size_t>(t.numel()), 0.0f);
    Rng rng(seed ^ fnv1a64(s.name));
    init_tensor(s.name, t, rng, cfg, specs);
    m.weights.tensors.emplace(s.name, std::move(t));
  }
  m.hash = m.compute_hash();
  return m;
}

void perturb_weights(Model& model, uint64_t seed, float stddev) {
  for (auto& [name, t] : model.weights.tensors) {
    Rng rng(seed ^ fnv1a64(name) ^ 0x5bd1e995ULL);
    for (float& v : t.data) v += static_cast<float>(stddev * rng.normal());
  }
  model.hash = model.compute_hash();
}

}  // namespace tickrt
