// Kernel bodies of the attention mixer with periodic refresh (MODEL-SPEC §5) over the CPU backend's state
// layout (kernels/cpu/attention_mixer.h: t, entries, KV ring of W + ℓ rows). One step of a layer:
//   AttnTickK      per row: the row's tick t from the state (t ← t + 1), its context age
//   AttnAppendK    per (row, column): k_t, v_t into ring row t mod (W + ℓ)
//   AttnPartialK   per (refreshing row, query head, split): flash-decoding partial over one split of the
//                  window (running max, denominator and weighted value sum: online softmax)
//   AttnCombineK   per (refreshing row, column): merges the splits into a_r
//   (o_proj: a linear)
//   AttnStoreK     per (refreshing row, column): q_r, o_r into entry (r/P) mod S, marked ready
//   AttnOutputK    per (row, column): h += o_ρ(t) from the entries (zero when none)
// Rows whose tick is not a refresh tick leave the refresh kernels at once. Conventions as common_kernels.cuh.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cuda/launch_index.h"
#include "kernels/tick_math.h"

namespace tickrt::cuda {

constexpr int kMaxHeadDim = 256;  // per-thread accumulators of the attention kernels (checked at load)

struct AttnDims {
  int D = 0, Hq = 0, Hkv = 0, hd = 0;
  int W = 0, P = 1, lag = 0;
  int ring = 0;     // W + ℓ
  int entries = 0;  // S = ceil(ℓ/P) + 1
  int splits = 1, split_len = 1;  // flash-decoding: the window in `splits` pieces of `split_len` keys
  uint64_t t_off = 0, entry_tick_off = 0, entry_status_off = 0, entry_q_off = 0, entry_o_off = 0;
  uint64_t keys_off = 0, values_off = 0;
  TICKRT_HD int qw() const { return Hq * hd; }
  TICKRT_HD int kvw() const { return Hkv * hd; }
  TICKRT_HD bool refreshes(int64_t t) const { return t >= 0 && t % P == 0; }
  TICKRT_HD int64_t entry_of(int64_t r) const { return (r / P) % entries; }
};

// kvq [rows, 2·kvw + qw]: the fused k|v|q projection of the normed input (one linear).
TICKRT_HD int kvq_width(const AttnDims& a) { return 2 * a.kvw() + a.qw(); }

// row_t[r] = the tick this step is for (−1 for padding rows); t ← t + 1; age[r] = t − ρ(t) (t + 1 before the
// first refresh), the max over attention layers (`first` layer writes, later ones take the max).
// Grid (ceil(rows/kThreads)).
struct AttnTickK {
  AttnDims a;
  StateRef st;
  int64_t* row_t = nullptr;   // [rows]
  uint32_t* age = nullptr;    // [rows]
  bool first = true;
  int rows = 0;

  Grid grid() const { return {ceil_div(rows, kThreads), 1, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int r = ix.gx();
    if (r >= rows) return;
    std::byte* s = st.row(r);
    if (!s) {
      row_t[r] = -1;
      if (first) age[r] = 0;
      return;
    }
    int64_t* tp = reinterpret_cast<int64_t*>(s + a.t_off);
    const int64_t t = *tp < 0 ? 0 : *tp;  // foreign state bytes never index outside the ring
    row_t[r] = t;
    *tp = t + 1;
    const int64_t d = t - math::attn_refresh_tick(t, a.P, a.lag);
    const uint32_t ag = d > int64_t{UINT32_MAX} ? UINT32_MAX : static_cast<uint32_t>(d);
    age[r] = first || ag > age[r] ? ag : age[r];
  }
};

// Ring row t mod (W + ℓ) ← k_t, v_t. Grid (ceil(kvw/kThreads), rows).
struct AttnAppendK {
  AttnDims a;
  StateRef st;
  const int64_t* row_t = nullptr;  // [rows]
  const float* kvq = nullptr;      // [rows, kvq_width]
  int rows = 0;

  Grid grid() const { return {ceil_div(a.kvw(), kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int c = ix.gx(), r = ix.by;
    if (c >= a.kvw() || r >= rows || row_t[r] < 0) return;
    std::byte* s = st.row(r);
    const int64_t at = (row_t[r] % a.ring) * a.kvw() + c;
    const float* src = kvq + int64_t{r} * kvq_width(a);
    reinterpret_cast<float*>(s + a.keys_off)[at] = src[c];
    reinterpret_cast<float*>(s + a.values_off)[at] = src[a.kvw() + c];
  }
};

// One split of one query head of a refreshing row: keys (r − W, r] ∩ [0, r] numbered 0..n−1 from the oldest,
// this split takes [split·split_len, (split+1)·split_len). Writes the split's running max m, denominator l and
// unnormalised value sum acc [hd]; an empty split writes m = −inf, l = 0. Grid (ceil(Hq·splits/kThreads), rows).
struct AttnPartialK {
  AttnDims a;
  StateRef st;
  const int64_t* row_t = nullptr;  // [rows]
  const float* kvq = nullptr;      // [rows, kvq_width]: q at column 2·kvw
  float* part_m = nullptr;         // [rows, Hq, splits]
  float* part_l = nullptr;         // [rows, Hq, splits]
  float* part_acc = nullptr;       // [rows, Hq, splits, hd]
  int rows = 0;

  Grid grid() const { return {ceil_div(a.Hq * a.splits, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int id = ix.gx(), r = ix.by;
    if (id >= a.Hq * a.splits || r >= rows) return;
    const int64_t t = row_t[r];
    if (!a.refreshes(t)) return;
    const int j = id / a.splits, sp = id % a.splits;
    const int g = math::attn_kv_head(j, a.Hq, a.Hkv);
    const std::byte* s = st.row(r);
    const float* keys = reinterpret_cast<const float*>(s + a.keys_off);      // [ring, kvw]
    const float* values = reinterpret_cast<const float*>(s + a.values_off);  // [ring, kvw]
    const float* q = kvq + int64_t{r} * kvq_width(a) + 2 * a.kvw() + j * a.hd;
    const float scale = 1.0f / sqrtf(static_cast<float>(a.hd));
    const int64_t begin = math::attn_window_begin(t, a.W);
    const int64_t n = t - begin + 1;
    const int64_t i0 = int64_t{sp} * a.split_len;
    const int64_t i1 = i0 + a.split_len < n ? i0 + a.split_len : n;
    float m = -INFINITY, l = 0.0f;
    float acc[kMaxHeadDim];
    for (int c = 0; c < a.hd; ++c) acc[c] = 0.0f;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t row = ((begin + i) % a.ring) * a.kvw() + int64_t{g} * a.hd;
      float score = 0.0f;
      for (int c = 0; c < a.hd; ++c) score += q[c] * keys[row + c];
      score *= scale;
      const float rescale = math::online_softmax_update(score, m, l);
      const float p = expf(score - m);
      for (int c = 0; c < a.hd; ++c) acc[c] = acc[c] * rescale + p * values[row + c];
    }
    const int64_t at = (int64_t{r} * a.Hq + j) * a.splits + sp;
    part_m[at] = m;
    part_l[at] = l;
    for (int c = 0; c < a.hd; ++c) part_acc[at * a.hd + c] = acc[c];
  }
};

// a[r, j·hd + c] = Σ_s e^{m_s − M} acc_s[c] / Σ_s e^{m_s − M} l_s over the splits of head j (M = max m_s).
// Grid (ceil(qw/kThreads), rows).
struct AttnCombineK {
  AttnDims a;
  const int64_t* row_t = nullptr;
  const float* part_m = nullptr;
  const float* part_l = nullptr;
  const float* part_acc = nullptr;
  float* out = nullptr;  // [rows, qw]
  int rows = 0;

  Grid grid() const { return {ceil_div(a.qw(), kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int col = ix.gx(), r = ix.by;
    if (col >= a.qw() || r >= rows || !a.refreshes(row_t[r])) return;
    const int j = col / a.hd, c = col % a.hd;
    const int64_t base = (int64_t{r} * a.Hq + j) * a.splits;
    float M = -INFINITY;
    for (int s = 0; s < a.splits; ++s) M = part_m[base + s] > M ? part_m[base + s] : M;
    float L = 0.0f, acc = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
      if (part_l[base + s] == 0.0f) continue;  // empty split
      const float w = expf(part_m[base + s] - M);
      L += w * part_l[base + s];
      acc += w * part_acc[(base + s) * a.hd + c];
    }
    out[int64_t{r} * a.qw() + col] = acc / L;
  }
};

// Entry (r/P) mod S of a refreshing row ← refresh tick + 1, status ready, q_r, o_r.
// Grid (ceil(max(qw, D)/kThreads), rows).
struct AttnStoreK {
  AttnDims a;
  StateRef st;
  const int64_t* row_t = nullptr;
  const float* kvq = nullptr;  // [rows, kvq_width]
  const float* o = nullptr;    // [rows, D] o_proj of the combined attention
  int rows = 0;

  Grid grid() const { return {ceil_div(a.qw() > a.D ? a.qw() : a.D, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int c = ix.gx(), r = ix.by;
    if (r >= rows || !a.refreshes(row_t[r])) return;
    const int64_t t = row_t[r];
    std::byte* s = st.row(r);
    const int64_t e = a.entry_of(t);
    if (c < a.qw())
      reinterpret_cast<float*>(s + a.entry_q_off)[e * a.qw() + c] = kvq[int64_t{r} * kvq_width(a) + 2 * a.kvw() + c];
    if (c < a.D) reinterpret_cast<float*>(s + a.entry_o_off)[e * a.D + c] = o[int64_t{r} * a.D + c];
    if (c == 0) {
      reinterpret_cast<int64_t*>(s + a.entry_tick_off)[e] = t + 1;
      reinterpret_cast<int64_t*>(s + a.entry_status_off)[e] = 2;  // ready (cpu::entry_ready)
    }
  }
};

// h[r, c] += o_ρ(t)[c] when the entry of ρ(t) holds it, ready; else nothing (a zero output).
// Grid (ceil(D/kThreads), rows).
struct AttnOutputK {
  AttnDims a;
  StateRef st;
  const int64_t* row_t = nullptr;
  float* h = nullptr;  // [rows, D]
  int rows = 0;

  Grid grid() const { return {ceil_div(a.D, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int c = ix.gx(), r = ix.by;
    if (c >= a.D || r >= rows || row_t[r] < 0) return;
    const int64_t rho = math::attn_refresh_tick(row_t[r], a.P, a.lag);
    if (rho < 0) return;
    const std::byte* s = st.row(r);
    const int64_t e = a.entry_of(rho);
    if (reinterpret_cast<const int64_t*>(s + a.entry_tick_off)[e] != rho + 1 ||
        reinterpret_cast<const int64_t*>(s + a.entry_status_off)[e] != 2)
      return;
    h[int64_t{r} * a.D + c] += reinterpret_cast<const float*>(s + a.entry_o_off)[e * a.D + c];
  }
};

}  // namespace tickrt::cuda
