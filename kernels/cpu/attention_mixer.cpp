// The attention mixer with periodic refresh (MODEL-SPEC §5); state layout in attention_mixer.h.
//
// Every tick appends k_t, v_t to the ring. At refresh ticks (t ≡ 0 mod P) the query is projected and the
// refresh computed (inline, in this tick); its output o_r is kept in an entry until it is no longer the newest
// refresh ≤ t − ℓ. The mixer's output at tick t is o_ρ(t), or zero before the first one (t < ℓ).
// Projections run as row-wise matrix products over the batch (q_proj and o_proj only over the rows that
// refresh); the ring writes and the refreshes walk the rows in order, which for the sequence form (all rows
// one instrument) is the tick order.
#include "kernels/cpu/attention_mixer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/mixer.h"
#include "kernels/cpu/simd.h"

namespace tickrt::cpu {

AttentionShape AttentionShape::from_config(const ModelConfig& cfg) {
  AttentionShape s;
  s.d_model = cfg.d_model;
  s.n_heads = cfg.attention.n_heads;
  s.n_kv_heads = attn_kv_heads(cfg);
  if (s.n_heads <= 0 || cfg.d_model % s.n_heads != 0 || s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0)
    throw std::runtime_error("cpu backend: attention n_heads must divide d_model and be a multiple of n_kv_heads");
  s.head_dim = cfg.d_model / s.n_heads;
  s.window = cfg.attention.window;
  s.every = cfg.attention.refresh_every;
  s.lag = cfg.attention.refresh_lag;
  if (s.window <= 0 || s.every <= 0 || s.lag < 0)
    throw std::runtime_error("cpu backend: attention window and refresh_every must be > 0, refresh_lag >= 0");
  s.ring = s.window + s.lag;
  s.entries = (s.lag + s.every - 1) / s.every + 1;
  return s;
}

AttentionLayout AttentionLayout::of(const AttentionShape& s) {
  StateLayout b;
  AttentionLayout L;
  L.t = b.add(sizeof(int64_t));
  L.entry_tick = b.add(sizeof(int64_t) * s.entries);
  L.entry_status = b.add(sizeof(int64_t) * s.entries);
  L.entry_q = b.add(sizeof(float) * s.entries * s.q_width());
  L.entry_o = b.add(sizeof(float) * s.entries * s.d_model);
  L.keys = b.add(sizeof(float) * int64_t{s.ring} * s.kv_width());
  L.values = b.add(sizeof(float) * int64_t{s.ring} * s.kv_width());
  L.bytes = b.bytes();
  return L;
}

void attention_refresh(const AttentionShape& s, const AttentionLayout& L, const std::byte* state, int64_t r,
                       const float* q, float* a, float* scores) {
  const float* keys = at_offset<float>(state, L.keys);      // [ring, Hkv·hd]
  const float* values = at_offset<float>(state, L.values);  // [ring, Hkv·hd]
  const int hd = s.head_dim, kvw = s.kv_width();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t begin = math::attn_window_begin(r, s.window);
  const int n = static_cast<int>(r - begin + 1);
  for (int j = 0; j < s.n_heads; ++j) {
    const int g = math::attn_kv_head(j, s.n_heads, s.n_kv_heads);
    const float* qj = q + int64_t{j} * hd;
    float m = -INFINITY;
    for (int i = 0; i < n; ++i) {
      const float* kr = keys + ((begin + i) % s.ring) * kvw + int64_t{g} * hd;
      scores[i] = dot(qj, kr, hd) * scale;
      m = std::max(m, scores[i]);
    }
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) {
      scores[i] = std::exp(scores[i] - m);
      sum += scores[i];
    }
    const float inv = 1.0f / sum;
    float* aj = a + int64_t{j} * hd;
    for (int c = 0; c < hd; ++c) aj[c] = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float p = scores[i] * inv;
      const float* vr = values + ((begin + i) % s.ring) * kvw + int64_t{g} * hd;
      for (int c = 0; c < hd; ++c) aj[c] += p * vr[c];
    }
  }
}

namespace {

class AttentionMixer final : public Mixer {
 public:
  AttentionMixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows)
      : s_(AttentionShape::from_config(cfg)), L_(AttentionLayout::of(s_)) {
    const std::string p = "layers." + std::to_string(layer) + ".self_attn.";
    const int64_t D = s_.d_model;
    q_proj_ = PackedLinear(tensor(w, p + "q_proj.weight", s_.q_width() * D), nullptr);
    k_proj_ = PackedLinear(tensor(w, p + "k_proj.weight", s_.kv_width() * D), nullptr);
    v_proj_ = PackedLinear(tensor(w, p + "v_proj.weight", s_.kv_width() * D), nullptr);
    o_proj_ = PackedLinear(tensor(w, p + "o_proj.weight", D * s_.q_width()), nullptr);
    const auto rows = static_cast<size_t>(max_rows);
    k_.resize(rows * s_.kv_width());
    v_.resize(rows * s_.kv_width());
    u_ref_.resize(rows * D);
    q_.resize(rows * s_.q_width());
    a_.resize(rows * s_.q_width());
    o_.resize(rows * D);
    row_t_.resize(rows);
    ref_rows_.resize(rows);
    scores_.resize(static_cast<size_t>(s_.window));
  }

  std::size_t state_bytes() const override { return L_.bytes; }

  void step(int k, std::byte* const* states, const float* u, float* out) override {
    k_proj_.apply(u, k, k_.data());  // [k, Hkv·hd]
    v_proj_.apply(u, k, v_.data());
    int nref = 0;
    for (int r = 0; r < k; ++r) {
      row_t_[r] = *at_offset<int64_t>(states[r], L_.t);
      append_kv(states[r], row_t_[r], r);
      if (row_t_[r] % s_.every == 0) ref_rows_[nref++] = r;
    }
    project_queries(u, nref);
    for (int j = 0; j < nref; ++j) {
      const int r = ref_rows_[j];
      attention_refresh(s_, L_, states[r], row_t_[r], q_.data() + int64_t{j} * s_.q_width(),
                        a_.data() + int64_t{j} * s_.q_width(), scores_.data());
    }
    o_proj_.apply(a_.data(), nref, o_.data());  // [nref, D]
    for (int j = 0; j < nref; ++j) store_entry(states[ref_rows_[j]], row_t_[ref_rows_[j]], j);
    for (int r = 0; r < k; ++r) {
      write_output(states[r], row_t_[r], out + int64_t{r} * s_.d_model);
      *at_offset<int64_t>(states[r], L_.t) = row_t_[r] + 1;
    }
  }

  void sequence(std::byte* state, const float* u, int n, float* out) override {
    const int64_t t0 = *at_offset<int64_t>(state, L_.t);
    k_proj_.apply(u, n, k_.data());
    v_proj_.apply(u, n, v_.data());
    int nref = 0;
    for (int i = 0; i < n; ++i)
      if ((t0 + i) % s_.every == 0) ref_rows_[nref++] = i;
    project_queries(u, nref);
    // Ring writes and refreshes in tick order: a refresh reads the ring exactly as the step at its tick would.
    for (int i = 0, j = 0; i < n; ++i) {
      append_kv(state, t0 + i, i);
      if (j < nref && ref_rows_[j] == i) {
        attention_refresh(s_, L_, state, t0 + i, q_.data() + int64_t{j} * s_.q_width(),
                          a_.data() + int64_t{j} * s_.q_width(), scores_.data());
        ++j;
      }
    }
    o_proj_.apply(a_.data(), nref, o_.data());
    // Outputs: refreshes of this chunk come from o_, older ones from the state's entries (not yet overwritten).
    const int64_t first_ref = nref > 0 ? t0 + ref_rows_[0] : INT64_MAX;
    for (int i = 0; i < n; ++i) {
      const int64_t t = t0 + i;
      const int64_t rho = math::attn_refresh_tick(t, s_.every, s_.lag);
      float* o = out + int64_t{i} * s_.d_model;
      if (rho >= first_ref) {
        std::memcpy(o, o_.data() + (rho - first_ref) / s_.every * s_.d_model, sizeof(float) * s_.d_model);
      } else {
        write_output(state, t, o);
      }
    }
    for (int j = 0; j < nref; ++j) store_entry(state, t0 + ref_rows_[j], j);
    *at_offset<int64_t>(state, L_.t) = t0 + n;
  }

  uint32_t context_age(const std::byte* state) const override {
    const int64_t t = *at_offset<int64_t>(state, L_.t) - 1;  // the last tick stepped
    if (t < 0) return 0;
    const int64_t rho = math::attn_refresh_tick(t, s_.every, s_.lag);
    return static_cast<uint32_t>(std::min<int64_t>(t - rho, UINT32_MAX));  // no refresh yet: t + 1
  }

 private:
  // Writes row `row` of k_/v_ into the ring at tick t.
  void append_kv(std::byte* state, int64_t t, int row) const {
    const int kvw = s_.kv_width();
    const int64_t slot = t % s_.ring;
    std::memcpy(at_offset<float>(state, L_.keys) + slot * kvw, k_.data() + int64_t{row} * kvw, sizeof(float) * kvw);
    std::memcpy(at_offset<float>(state, L_.values) + slot * kvw, v_.data() + int64_t{row} * kvw, sizeof(float) * kvw);
  }

  // q_ [nref, Hq·hd] = q_proj · u of the refreshing rows.
  void project_queries(const float* u, int nref) {
    const int D = s_.d_model;
    for (int j = 0; j < nref; ++j)
      std::memcpy(u_ref_.data() + int64_t{j} * D, u + int64_t{ref_rows_[j]} * D, sizeof(float) * D);
    q_proj_.apply(u_ref_.data(), nref, q_.data());
  }

  // Keeps the refresh of tick r (query q_[j], output o_[j]) in its entry.
  void store_entry(std::byte* state, int64_t r, int j) const {
    const int64_t e = (r / s_.every) % s_.entries;
    at_offset<int64_t>(state, L_.entry_tick)[e] = r + 1;
    at_offset<int64_t>(state, L_.entry_status)[e] = entry_ready;
    std::memcpy(at_offset<float>(state, L_.entry_q) + e * s_.q_width(), q_.data() + int64_t{j} * s_.q_width(),
                sizeof(float) * s_.q_width());
    std::memcpy(at_offset<float>(state, L_.entry_o) + e * s_.d_model, o_.data() + int64_t{j} * s_.d_model,
                sizeof(float) * s_.d_model);
  }

  // o [D] = o_ρ(t) from the state's entries, or zeros when there is no refresh ≤ t − ℓ (or it is not ready).
  void write_output(const std::byte* state, int64_t t, float* o) const {
    const int64_t rho = math::attn_refresh_tick(t, s_.every, s_.lag);
    if (rho >= 0) {
      const int64_t e = (rho / s_.every) % s_.entries;
      if (at_offset<int64_t>(state, L_.entry_tick)[e] == rho + 1 &&
          at_offset<int64_t>(state, L_.entry_status)[e] == entry_ready) {
        std::memcpy(o, at_offset<float>(state, L_.entry_o) + e * s_.d_model, sizeof(float) * s_.d_model);
        return;
      }
    }
    std::fill(o, o + s_.d_model, 0.0f);
  }

  AttentionShape s_;
  AttentionLayout L_;
  PackedLinear q_proj_, k_proj_, v_proj_, o_proj_;
  // Scratch for max_rows rows, reserved at construction.
  std::vector<float> k_, v_;        // [rows, Hkv·hd]
  std::vector<float> u_ref_;        // [rows, D]      inputs of the refreshing rows
  std::vector<float> q_, a_;        // [rows, Hq·hd]  their queries and attention vectors
  std::vector<float> o_;            // [rows, D]      their outputs
  std::vector<int64_t> row_t_;      // [rows]         tick of each row
  std::vector<int> ref_rows_;       // [rows]         rows that refresh this call
  std::vector<float> scores_;       // [W]
};

}  // namespace

std::unique_ptr<Mixer> make_attention_mixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows) {
  return std::make_unique<AttentionMixer>(cfg, w, layer, max_rows);
}

}  // namespace tickrt::cpu
