// The CPU megalodon block against a brute-force reference written straight from MODEL-SPEC §6 (raw weights,
// double precision, the chunk kept as a growing list): step() must agree within 1e-5 for hundreds of ticks.
#include <catch2/catch.hpp>
#include <complex>
#include <vector>

#include "test_megalodon_util.h"

namespace {

using tickrt::test::MegaShape;
using cd = std::complex<double>;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double silu(double x) { return x * sigmoid(x); }

// MODEL-SPEC §6, steps 1-7, one tick at a time.
class ReferenceMegalodon {
 public:
  ReferenceMegalodon(const MegaShape& s, const tickrt::Weights& w)
      : s_(s), w_(w), count_(s.G, 0), mean_(s.G, 0.0), var_(s.G, 0.0), h_(std::size_t(s.D) * s.n) {}

  std::vector<double> step(const std::vector<double>& x) {
    const int D = s_.D, n = s_.n, G = s_.G, gsz = D / G, dz = s_.Z / s_.heads, dv = s_.V / s_.heads;
    const double eps = 1e-5;
    // 1. TimestepNorm.
    std::vector<double> xn(D);
    for (int g = 0; g < G; ++g) {
      double gm = 0, gv = 0;
      for (int j = 0; j < gsz; ++j) gm += x[g * gsz + j];
      gm /= gsz;
      for (int j = 0; j < gsz; ++j) gv += (x[g * gsz + j] - gm) * (x[g * gsz + j] - gm);
      gv /= gsz;
      const double cnt = double(count_[g]), nn = cnt + 1, c1 = cnt / nn, c2 = 1 / nn, delta = gm - mean_[g];
      mean_[g] = c1 * mean_[g] + c2 * gm;
      var_[g] = c1 * var_[g] + c2 * gv + c1 * c2 * delta * delta;
      count_[g] += 1;
      for (int j = g * gsz; j < (g + 1) * gsz; ++j)
        xn[j] = (x[j] - mean_[g]) / std::sqrt(var_[g] + eps) * (1 + W("mega.timenorm.weight", j)) +
                W("mega.timenorm.bias", j);
    }
    // 2. CEMA.
    std::vector<double> c(D);
    for (int d = 0; d < D; ++d) {
      const double phi = sigmoid(W("mega.cema.theta", d)) * 2 * M_PI / n;
      for (int k = 0; k < n; ++k) {
        const double p = sigmoid(W("mega.cema.alpha", d * n + k));
        const double r = 1 - p * sigmoid(W("mega.cema.delta", d * n + k));
        const cd q = std::polar(r, (k + 1) * phi);
        const cd eta = cd(W("mega.cema.gamma", 2 * (d * n + k)), W("mega.cema.gamma", 2 * (d * n + k) + 1)) /
                       std::sqrt(double(n));
        cd& h = h_[std::size_t(d) * n + k];
        h = q * h + p * xn[d];
        c[d] += (eta * h).real();
      }
      c[d] += W("mega.cema.omega", d) * xn[d];
    }
    // 3. mx, z, q, k, v, g.
    double ms = 0;
    for (double v : c) ms += v * v;
    ms /= D;
    std::vector<double> mx(D);
    for (int d = 0; d < D; ++d) mx[d] = c[d] / std::sqrt(ms + eps) * (1 + W("mega.rmsnorm.weight", d));
    const auto z = linear("mega.wz", mx, s_.Z, true);
    std::vector<double> q(s_.Z), k(s_.Z);
    for (int hd = 0; hd < s_.heads; ++hd) {
      double zs = 0;
      for (int j = hd * dz; j < (hd + 1) * dz; ++j) zs += z[j] * z[j];
      const double inv = 1 / std::sqrt(zs / dz + eps);
      for (int j = hd * dz; j < (hd + 1) * dz; ++j) {
        q[j] = z[j] * inv * (W("mega.gamma", j) + 1) / std::sqrt(double(dz)) + W("mega.beta", j);
        k[j] =
            z[j] * inv * (W("mega.gamma", s_.Z + j) + 1) / std::sqrt(double(dz)) + W("mega.beta", s_.Z + j);
      }
    }
    auto v = linear("mega.wv", xn, s_.V, true);
    auto g = linear("mega.wr", mx, s_.V, true);
    for (auto& e : v) e = silu(e);
    for (auto& e : g) e = silu(e);
    // 4. RoPE at the in-chunk position; 5. chunk-local causal attention, scale 1.
    const int64_t pos = t_ % s_.C;
    if (pos == 0) keys_.clear(), values_.clear();
    for (int hd = 0; hd < s_.heads; ++hd)
      for (int i = 0; i < dz / 2; ++i) {
        const double a = pos * std::pow(10000.0, -2.0 * i / dz), cs = std::cos(a), sn = std::sin(a);
        for (auto* u : {&q, &k}) {
          double& x0 = (*u)[hd * dz + 2 * i];
          double& x1 = (*u)[hd * dz + 2 * i + 1];
          const double r0 = x0 * cs - x1 * sn, r1 = x0 * sn + x1 * cs;
          x0 = r0, x1 = r1;
        }
      }
    keys_.push_back(k);
    values_.push_back(v);
    std::vector<double> attn(s_.V, 0.0);
    for (int hd = 0; hd < s_.heads; ++hd) {
      std::vector<double> sc(keys_.size());
      double best = -1e300, sum = 0;
      for (std::size_t t = 0; t < keys_.size(); ++t) {
        for (int j = hd * dz; j < (hd + 1) * dz; ++j) sc[t] += q[j] * keys_[t][j];
        best = std::max(best, sc[t]);
      }
      for (auto& e : sc) sum += (e = std::exp(e - best));
      for (std::size_t t = 0; t < keys_.size(); ++t)
        for (int j = hd * dv; j < (hd + 1) * dv; ++j) attn[j] += sc[t] / sum * values_[t][j];
    }
    // 6. y = x + wh1·mx + b + wh2·(attn ⊙ g).
    for (int j = 0; j < s_.V; ++j) attn[j] *= g[j];
    const auto h1 = linear("mega.wh1", mx, D, true);
    const auto h2 = linear("mega.wh2", attn, D, false);
    std::vector<double> y(D);
    for (int d = 0; d < D; ++d) y[d] = x[d] + h1[d] + h2[d];
    // 7. out = x + FFN(LayerNorm(y)).
    double m = 0, var = 0;
    for (double e : y) m += e;
    m /= D;
    for (double e : y) var += (e - m) * (e - m);
    var /= D;
    std::vector<double> ln(D);
    for (int d = 0; d < D; ++d)
      ln[d] = (y[d] - m) / std::sqrt(var + eps) * (1 + W("nffn.norm.weight", d)) + W("nffn.norm.bias", d);
    auto a = linear("nffn.fc1", ln, s_.F, false);
    if (s_.swiglu) {
      const auto b = linear("nffn.fc3", ln, s_.F, false);
      for (int j = 0; j < s_.F; ++j) a[j] = silu(a[j]) * b[j];
    } else {
      for (auto& e : a) e = silu(e);
    }
    const auto f = linear("nffn.fc2", a, D, false);
    std::vector<double> out(D);
    for (int d = 0; d < D; ++d) out[d] = x[d] + f[d];
    ++t_;
    return out;
  }

 private:
  double W(const std::string& name, int64_t i) const { return w_.tensors.at("layers.0." + name).data[i]; }
  std::vector<double> linear(const std::string& name, const std::vector<double>& in, int out,
                             bool bias) const {
    const auto& Wt = w_.tensors.at("layers.0." + name + ".weight").data;
    std::vector<double> y(out);
    for (int o = 0; o < out; ++o) {
      double acc = bias ? W(name + ".bias", o) : 0.0;
      for (std::size_t i = 0; i < in.size(); ++i) acc += double(Wt[o * in.size() + i]) * in[i];
      y[o] = acc;
    }
    return y;
  }

  MegaShape s_;
  const tickrt::Weights& w_;
  std::vector<int64_t> count_;
  std::vector<double> mean_, var_;
  std::vector<cd> h_;  // [D, n]
  std::vector<std::vector<double>> keys_, values_;
  int64_t t_ = 0;
};

void check_against_reference(const MegaShape& s, int64_t T) {
  const auto cfg = tickrt::test::megalodon_config(s);
  const auto w = tickrt::test::megalodon_weights(s, 11);
  auto layer = tickrt::cpu::make_megalodon_layer(cfg, w, 0, 1);
  tickrt::test::StateBuf state(layer->state_bytes());
  ReferenceMegalodon ref(s, w);
  const auto x = tickrt::test::megalodon_inputs(T, s.D, 5);
  double worst = 0.0, largest = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> h(x.begin() + t * s.D, x.begin() + (t + 1) * s.D);
    std::byte* st = state.get();
    layer->step(1, &st, h.data());
    const auto want = ref.step(std::vector<double>(x.begin() + t * s.D, x.begin() + (t + 1) * s.D));
    for (int d = 0; d < s.D; ++d) {
      worst = std::max(worst, std::fabs(h[d] - want[d]));
      largest = std::max(largest, std::fabs(want[d]));
    }
  }
  INFO("max |step - reference| = " << worst << ", max |output| = " << largest);
  CHECK(largest > 0.5);  // the block did something measurable
  CHECK(worst <= 1e-5);
}

}  // namespace

TEST_CASE("megalodon: step agrees with the spec reference (heads 2, groups 2, swiglu)", "[megalodon]") {
  check_against_reference(MegaShape{}, 300);
}

TEST_CASE("megalodon: step agrees with the spec reference (one head, no swiglu, C 16)", "[megalodon]") {
  MegaShape s;
  s.heads = 1;
  s.G = 1;
  s.swiglu = false;
  s.C = 16;
  s.Z = 16;
  s.V = 24;
  s.n = 16;
  check_against_reference(s, 300);
}
