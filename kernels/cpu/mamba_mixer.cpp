// The mamba mixer (MODEL-SPEC §4), stepped for k instruments at once or run over n consecutive ticks of one.
//
// Both forms share one implementation: the work is split into stages that are either row-wise matrix products
// (in_proj, x_proj, dt_proj, out_proj: one pass over each weight for all rows) or loops over the rows in order
// that touch the state (the convolution window and the selective scan). For a batch, every row has its own
// state; for a sequence, every row points at the same state, so visiting rows in order is the recurrence.
//
// State layout (per instrument, little-endian float32):
//   conv_state [E_i, K]   pre-convolution x of the last K ticks, last column newest
//   ssm_state  [E_i, N]
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/mixer.h"
#include "kernels/cpu/simd.h"

namespace tickrt::cpu {
namespace {

class MambaMixer final : public Mixer {
 public:
  MambaMixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows)
      : D_(cfg.d_model), E_(cfg.mamba_d_inner()), N_(cfg.mamba.d_state), K_(cfg.mamba.d_conv),
        R_(mamba_dt_rank(cfg)), inner_norms_(cfg.mamba.inner_norms), eps_(static_cast<float>(cfg.rms_norm_eps)) {
    const std::string p = "layers." + std::to_string(layer) + ".mamba.";
    const bool pb = cfg.mamba.proj_bias;
    in_proj_ = PackedLinear(tensor(w, p + "in_proj.weight", int64_t{2} * E_ * D_),
                            pb ? &tensor(w, p + "in_proj.bias", 2 * E_) : nullptr);
    x_proj_ = PackedLinear(tensor(w, p + "x_proj.weight", int64_t{R_ + 2 * N_} * E_), nullptr);
    dt_proj_ = PackedLinear(tensor(w, p + "dt_proj.weight", int64_t{E_} * R_), &tensor(w, p + "dt_proj.bias", E_));
    out_proj_ = PackedLinear(tensor(w, p + "out_proj.weight", int64_t{D_} * E_),
                             pb ? &tensor(w, p + "out_proj.bias", D_) : nullptr);
    conv_w_ = tensor(w, p + "conv1d.weight", int64_t{E_} * K_).data;  // [E_i, K]
    conv_b_.assign(E_, 0.0f);
    if (cfg.mamba.conv_bias) conv_b_ = tensor(w, p + "conv1d.bias", E_).data;
    const auto& a_log = tensor(w, p + "A_log", int64_t{E_} * N_).data;
    A_.resize(a_log.size());  // [E_i, N]
    for (size_t i = 0; i < a_log.size(); ++i) A_[i] = math::mamba_A(a_log[i]);
    Dskip_ = tensor(w, p + "D", E_).data;
    if (inner_norms_) {
      dt_norm_ = tensor(w, p + "dt_layernorm.weight", R_).data;
      b_norm_ = tensor(w, p + "b_layernorm.weight", N_).data;
      c_norm_ = tensor(w, p + "c_layernorm.weight", N_).data;
    }
    conv_off_ = layout_.add(sizeof(float) * E_ * K_);
    ssm_off_ = layout_.add(sizeof(float) * E_ * N_);
    xz_.resize(static_cast<size_t>(max_rows) * 2 * E_);
    xc_.resize(static_cast<size_t>(max_rows) * E_);
    dbc_.resize(static_cast<size_t>(max_rows) * (R_ + 2 * N_));
    dt_.resize(static_cast<size_t>(max_rows) * E_);
    y_.resize(static_cast<size_t>(max_rows) * E_);
    same_state_.resize(static_cast<size_t>(max_rows));
  }

  std::size_t state_bytes() const override { return layout_.bytes(); }

  void step(int k, std::byte* const* states, const float* u, float* out) override { run(k, states, u, out); }

  void sequence(std::byte* state, const float* u, int n, float* out) override {
    for (int i = 0; i < n; ++i) same_state_[i] = state;
    run(n, same_state_.data(), u, out);
  }

 private:
  void run(int k, std::byte* const* states, const float* u, float* out) {
    const int xz_w = 2 * E_, dbc_w = R_ + 2 * N_;
    in_proj_.apply(u, k, xz_.data());  // [k, 2E_i]: x then z
    for (int r = 0; r < k; ++r) conv_row(states[r], xz_.data() + int64_t{r} * xz_w, xc_.data() + int64_t{r} * E_);
    x_proj_.apply(xc_.data(), k, dbc_.data());  // [k, R + 2N]: δ, B, C
    if (inner_norms_) {
      for (int r = 0; r < k; ++r) {
        float* row = dbc_.data() + int64_t{r} * dbc_w;
        rmsnorm_row(row, dt_norm_.data(), R_, eps_, row);
        rmsnorm_row(row + R_, b_norm_.data(), N_, eps_, row + R_);
        rmsnorm_row(row + R_ + N_, c_norm_.data(), N_, eps_, row + R_ + N_);
      }
    }
    dt_proj_.apply_strided(dbc_.data(), dbc_w, k, dt_.data(), E_);  // [k, E_i], bias included
    for (int64_t i = 0; i < int64_t{k} * E_; ++i) dt_[i] = math::softplus(dt_[i]);
    for (int r = 0; r < k; ++r)
      scan_row(states[r], dt_.data() + int64_t{r} * E_, dbc_.data() + int64_t{r} * dbc_w + R_,
               xc_.data() + int64_t{r} * E_, xz_.data() + int64_t{r} * xz_w + E_, y_.data() + int64_t{r} * E_);
    out_proj_.apply(y_.data(), k, out);  // [k, D]
  }

  // Shifts the conv window one tick, appends x [E_i], writes xc [E_i] = silu(conv + bias).
  void conv_row(std::byte* state, const float* x, float* xc) const {
    float* cs = at_offset<float>(state, conv_off_);  // [E_i, K]
    for (int d = 0; d < E_; ++d) {
      float* win = cs + int64_t{d} * K_;
      for (int j = 0; j + 1 < K_; ++j) win[j] = win[j + 1];
      win[K_ - 1] = x[d];
      xc[d] = math::mamba_conv_silu(win, conv_w_.data() + int64_t{d} * K_, K_, conv_b_[d]);
    }
  }

  // Selective state update and gated output for one tick: bc = [B (N), C (N)], z [E_i] -> y [E_i].
  void scan_row(std::byte* state, const float* dt, const float* bc, const float* xc, const float* z, float* y) const {
    float* s = at_offset<float>(state, ssm_off_);  // [E_i, N]
    const float* B = bc;
    const float* C = bc + N_;
#if defined(__AVX512F__)
    // The same update 16 state entries at a time (exp16 for expf; (Δ·B)·x as in the scalar form).
    for (int d = 0; d < E_; ++d) {
      float* sd = s + int64_t{d} * N_;
      const float* Ad = A_.data() + int64_t{d} * N_;
      const __m512 dtv = _mm512_set1_ps(dt[d]), xv = _mm512_set1_ps(xc[d]);
      __m512 acc = _mm512_setzero_ps();
      for (int n = 0; n < N_; n += 16) {
        const __mmask16 m = N_ - n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (N_ - n)) - 1u);
        const __m512 decay = exp16(_mm512_mul_ps(dtv, _mm512_maskz_loadu_ps(m, Ad + n)));
        const __m512 drive = _mm512_mul_ps(_mm512_mul_ps(dtv, _mm512_maskz_loadu_ps(m, B + n)), xv);
        const __m512 sn = _mm512_fmadd_ps(decay, _mm512_maskz_loadu_ps(m, sd + n), drive);
        _mm512_mask_storeu_ps(sd + n, m, sn);
        acc = _mm512_fmadd_ps(sn, _mm512_maskz_loadu_ps(m, C + n), acc);
      }
      y[d] = math::mamba_output(sum16(acc), Dskip_[d], xc[d], z[d]);
    }
#else
    for (int d = 0; d < E_; ++d) {
      float* sd = s + int64_t{d} * N_;
      const float* Ad = A_.data() + int64_t{d} * N_;
      float sc = 0.0f;
      for (int n = 0; n < N_; ++n) {
        sd[n] = math::mamba_state_update(sd[n], dt[d], Ad[n], B[n], xc[d]);
        sc += sd[n] * C[n];
      }
      y[d] = math::mamba_output(sc, Dskip_[d], xc[d], z[d]);
    }
#endif
  }

  int D_, E_, N_, K_, R_;
  bool inner_norms_;
  float eps_;
  PackedLinear in_proj_, x_proj_, dt_proj_, out_proj_;
  std::vector<float> conv_w_;  // [E_i, K]
  std::vector<float> conv_b_;  // [E_i] (zeros without conv_bias)
  std::vector<float> A_;       // [E_i, N] = −exp(A_log)
  std::vector<float> Dskip_;   // [E_i]
  std::vector<float> dt_norm_, b_norm_, c_norm_;  // [R], [N], [N] when inner_norms
  StateLayout layout_;
  std::size_t conv_off_ = 0, ssm_off_ = 0;
  // Scratch for max_rows rows, reserved at construction.
  std::vector<float> xz_;   // [rows, 2E_i]
  std::vector<float> xc_;   // [rows, E_i]
  std::vector<float> dbc_;  // [rows, R + 2N]
  std::vector<float> dt_;   // [rows, E_i]
  std::vector<float> y_;    // [rows, E_i]
  std::vector<std::byte*> same_state_;  // [rows], the sequence's one state repeated
};

}  // namespace

std::unique_ptr<Mixer> make_mamba_mixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows) {
  return std::make_unique<MambaMixer>(cfg, w, layer, max_rows);
}

}  // namespace tickrt::cpu
