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
#include <atomic>
#include <cmath>
#include <thread>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/mixer.h"
#include "kernels/cpu/simd.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  // Refreshes held: those computed but not yet due (ceil(ℓ/P)) and the one in use; with ℓ ≥ 1 one more, the
  // previous refresh, which the stale policy falls back on while a deferred refresh is late.
  s.entries = (s.lag + s.every - 1) / s.every + (s.lag > 0 ? 2 : 1);
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
    deferred_ticks_.resize(rows);
    late_.resize(rows);
    w_scores_.resize(static_cast<size_t>(s_.window));
    w_a_.resize(static_cast<size_t>(s_.q_width()));
  }

  std::size_t state_bytes() const override { return L_.bytes; }

  void step(int k, std::byte* const* states, const float* u, float* out) override {
    k_proj_.apply(u, k, k_.data());  // [k, Hkv·hd]
    v_proj_.apply(u, k, v_.data());
    int nref = 0;
    for (int r = 0; r < k; ++r) {
      row_t_[r] = *at_offset<int64_t>(states[r], L_.t);
      if (deferred_mode()) await_due(states[r], row_t_[r]);  // before the ring row and an entry are reused
      append_kv(states[r], row_t_[r], r);
      if (row_t_[r] % s_.every == 0) ref_rows_[nref++] = r;
    }
    project_queries(u, nref);
    n_deferred_ = 0;
    if (deferred_mode()) {
      for (int j = 0; j < nref; ++j) {
        const int r = ref_rows_[j];
        store_query(states[r], row_t_[r], j);
        deferred_ticks_[n_deferred_++] = row_t_[r];
      }
    } else {
      for (int j = 0; j < nref; ++j) {
        const int r = ref_rows_[j];
        attention_refresh(s_, L_, states[r], row_t_[r], q_.data() + int64_t{j} * s_.q_width(),
                          a_.data() + int64_t{j} * s_.q_width(), scores_.data());
      }
      o_proj_.apply(a_.data(), nref, o_.data());  // [nref, D]
      for (int j = 0; j < nref; ++j) store_entry(states[ref_rows_[j]], row_t_[ref_rows_[j]], j);
    }
    for (int r = 0; r < k; ++r) {
      late_[r] = write_output(states[r], row_t_[r], out + int64_t{r} * s_.d_model);
      *at_offset<int64_t>(states[r], L_.t) = row_t_[r] + 1;
    }
  }

  void set_refresh_mode(RefreshMode mode) override {
    if (mode != RefreshMode::inline_refresh && s_.lag < 1)
      throw std::runtime_error("cpu backend: refresh_lag is 0, so attention refreshes must run inline");
    mode_ = mode;
  }
  int deferred(const int** rows, const int64_t** ticks) const override {
    *rows = ref_rows_.data();
    *ticks = deferred_ticks_.data();
    return n_deferred_;
  }
  bool late(int row) const override { return late_[row] != 0; }

  // The refresh thread: a = attention over the ring for the stored query, o = o_proj·a, then publish.
  void run_refresh(std::byte* state, int64_t r) override {
    const int64_t e = (r / s_.every) % s_.entries;
    attention_refresh(s_, L_, state, r, at_offset<float>(state, L_.entry_q) + e * s_.q_width(), w_a_.data(),
                      w_scores_.data());
    o_proj_.apply(w_a_.data(), 1, at_offset<float>(state, L_.entry_o) + e * s_.d_model);
    status(state, e).store(entry_ready, std::memory_order_release);
  }
  void quiesce(const std::byte* state) const override {
    for (int e = 0; e < s_.entries; ++e) wait_ready(state, e);
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
  bool deferred_mode() const { return mode_ != RefreshMode::inline_refresh; }

  // Entry statuses are shared with the refresh thread: accessed atomically (release on ready, acquire here).
  static std::atomic_ref<int64_t> status(const std::byte* state, const AttentionLayout& L, int64_t e) {
    return std::atomic_ref<int64_t>(const_cast<int64_t*>(at_offset<int64_t>(state, L.entry_status))[e]);
  }
  std::atomic_ref<int64_t> status(const std::byte* state, int64_t e) const { return status(state, L_, e); }
  bool ready(const std::byte* state, int64_t e) const {
    return status(state, e).load(std::memory_order_acquire) == entry_ready;
  }
  // Spins (then yields) until entry e is not pending.
  void wait_ready(const std::byte* state, int64_t e) const {
    for (int spins = 0; status(state, e).load(std::memory_order_acquire) == entry_pending; ++spins) {
      if (spins < 4096) {
#if defined(__SSE2__)
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }
  // Before tick t reuses a ring row or an entry: every refresh due by t - 1 must be complete (it reads the
  // oldest ring row, which tick t overwrites, and its entry may be the next one reused).
  void await_due(const std::byte* state, int64_t t) const {
    const int64_t* ticks = at_offset<int64_t>(state, L_.entry_tick);
    for (int e = 0; e < s_.entries; ++e)
      if (ticks[e] > 0 && ticks[e] - 1 <= t - s_.lag - 1) wait_ready(state, e);
  }
  // Deferred mode: keeps refresh r's query (q_[j]) in its entry, marked pending for the refresh thread.
  void store_query(std::byte* state, int64_t r, int j) const {
    const int64_t e = (r / s_.every) % s_.entries;
    at_offset<int64_t>(state, L_.entry_tick)[e] = r + 1;
    std::memcpy(at_offset<float>(state, L_.entry_q) + e * s_.q_width(), q_.data() + int64_t{j} * s_.q_width(),
                sizeof(float) * s_.q_width());
    status(state, e).store(entry_pending, std::memory_order_release);
  }

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

  // o [D] = o_ρ(t) from the state's entries, or zeros when there is no refresh ≤ t − ℓ. A deferred refresh
  // still running is awaited, or under the stale policy replaced by the previous refresh: returns true then.
  bool write_output(const std::byte* state, int64_t t, float* o) const {
    const int64_t rho = math::attn_refresh_tick(t, s_.every, s_.lag);
    const int64_t* ticks = at_offset<int64_t>(state, L_.entry_tick);
    if (rho >= 0) {
      const int64_t e = (rho / s_.every) % s_.entries;
      if (ticks[e] == rho + 1) {
        bool late = false;
        int64_t use = e;
        if (deferred_mode() && !ready(state, e)) {
          const int64_t prev = rho - s_.every, pe = (prev / s_.every) % s_.entries;
          if (mode_ == RefreshMode::deferred_stale && prev >= 0 && ticks[pe] == prev + 1 && ready(state, pe)) {
            use = pe;
            late = true;
          } else {
            wait_ready(state, e);
          }
        }
        if (ready(state, use)) {
          std::memcpy(o, at_offset<float>(state, L_.entry_o) + use * s_.d_model, sizeof(float) * s_.d_model);
          return late;
        }
      }
    }
    std::fill(o, o + s_.d_model, 0.0f);
    return false;
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
  RefreshMode mode_ = RefreshMode::inline_refresh;
  std::vector<int64_t> deferred_ticks_;  // [rows] refresh ticks deferred by the last step (rows in ref_rows_)
  int n_deferred_ = 0;
  std::vector<uint8_t> late_;       // [rows]         row used the previous refresh (stale policy)
  // The refresh thread's own scratch (one refresh thread).
  std::vector<float> w_scores_;     // [W]
  std::vector<float> w_a_;          // [Hq·hd]
};

}  // namespace

std::unique_ptr<Mixer> make_attention_mixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows) {
  return std::make_unique<AttentionMixer>(cfg, w, layer, max_rows);
}

}  // namespace tickrt::cpu
