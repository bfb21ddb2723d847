// Kernel bodies of the MoE FFN (MODEL-SPEC §3), grouped by expert: each expert runs its products once over the
// batch rows routed to it.
//   MoeRouteK    per row: softmax over the router logits, top-k (ties to the lower index), picks in expert order
//   MoeGroupK    per expert: the list of picks routed to it, in row order (deterministic, no atomics)
//   MoeGateUpK   per (expert, hidden column, rows of its list): silu(gate·u) ⊙ up·u
//   MoeDownK     per (expert, output column, rows of its list): down · hidden, one output row per pick
//   MoeCombineK  per (row, column): h += Σ_picks p_e · expert_e(u), in increasing expert order (as the CPU)
// A pick is row·top_k + j; its hidden and output rows live at that index. Conventions as common_kernels.cuh.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cuda/common_kernels.cuh"
#include "kernels/cuda/launch_index.h"
#include "kernels/tick_math.h"

namespace tickrt::cuda {

constexpr int kMaxExperts = 64;  // per-thread router arrays (checked at load)

struct MoeDims {
  int D = 0, E = 0, top_k = 0, I = 0;
};

// Grid (ceil(rows/kThreads)).
struct MoeRouteK {
  MoeDims m;
  const int32_t* slots = nullptr;  // [rows]: padding rows route nowhere
  int n_slots = 0;
  const float* logits = nullptr;  // [rows, E]
  int32_t* pick_e = nullptr;      // [rows, top_k] expert of each pick, −1 for padding rows
  float* pick_w = nullptr;        // [rows, top_k] its router probability (not renormalised: Jamba)
  int rows = 0;

  Grid grid() const { return {ceil_div(rows, kThreads), 1, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int r = ix.gx();
    if (r >= rows) return;
    int32_t* pe = pick_e + int64_t{r} * m.top_k;
    float* pw = pick_w + int64_t{r} * m.top_k;
    if (!live_slot(slots[r], n_slots)) {
      for (int j = 0; j < m.top_k; ++j) pe[j] = -1;
      return;
    }
    float p[kMaxExperts];
    const float* lg = logits + int64_t{r} * m.E;
    float mx = lg[0];
    for (int e = 1; e < m.E; ++e) mx = lg[e] > mx ? lg[e] : mx;
    float sum = 0.0f;
    for (int e = 0; e < m.E; ++e) sum += (p[e] = expf(lg[e] - mx));
    const float inv = 1.0f / sum;
    for (int e = 0; e < m.E; ++e) p[e] *= inv;
    int idx[kMaxExperts];
    math::moe_top_k(p, m.E, m.top_k, idx);
    for (int j = 1; j < m.top_k; ++j)  // insertion sort: increasing expert index, the CPU's summation order
      for (int i = j; i > 0 && idx[i - 1] > idx[i]; --i) {
        const int tmp = idx[i];
        idx[i] = idx[i - 1];
        idx[i - 1] = tmp;
      }
    for (int j = 0; j < m.top_k; ++j) {
      pe[j] = idx[j];
      pw[j] = p[idx[j]];
    }
  }
};

// list[e, 0..count[e]) = the picks routed to expert e, in row order. Grid (ceil(E/kThreads)).
struct MoeGroupK {
  MoeDims m;
  const int32_t* pick_e = nullptr;  // [rows, top_k]
  int32_t* list = nullptr;          // [E, rows]
  int32_t* count = nullptr;         // [E]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.E, kThreads), 1, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int e = ix.gx();
    if (e >= m.E) return;
    int n = 0;
    for (int p = 0; p < rows * m.top_k; ++p)
      if (pick_e[p] == e) list[int64_t{e} * rows + n++] = p;
    count[e] = n;
  }
};

// hidden[pick, :] = silu(u[row]·gate_e) ⊙ (u[row]·up_e) for the picks of expert e = blockIdx.z.
// gate_t, up_t: [E, D, I]. Grid (ceil(I/kThreads), ceil(rows/kRowTile), E).
struct MoeGateUpK {
  MoeDims m;
  const int32_t* list = nullptr;   // [E, rows]
  const int32_t* count = nullptr;  // [E]
  const float* u = nullptr;        // [rows, D]
  const float* gate_t = nullptr;
  const float* up_t = nullptr;
  float* hidden = nullptr;  // [rows·top_k, I]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.I, kThreads), ceil_div(rows, kRowTile), m.E}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int o = ix.gx(), e = ix.bz, i0 = ix.by * kRowTile;
    const int n = count[e];
    if (o >= m.I || i0 >= n) return;
    const int nr = n - i0 < kRowTile ? n - i0 : kRowTile;
    int pick[kRowTile];
    for (int rb = 0; rb < nr; ++rb) pick[rb] = list[int64_t{e} * rows + i0 + rb];
    const float* gw = gate_t + int64_t{e} * m.D * m.I;
    const float* uw = up_t + int64_t{e} * m.D * m.I;
    float ga[kRowTile] = {0.0f, 0.0f, 0.0f, 0.0f};
    float ua[kRowTile] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c = 0; c < m.D; ++c) {
      const float wg = gw[int64_t{c} * m.I + o], wu = uw[int64_t{c} * m.I + o];
      for (int rb = 0; rb < nr; ++rb) {
        const float xv = u[int64_t{pick[rb] / m.top_k} * m.D + c];
        ga[rb] += xv * wg;
        ua[rb] += xv * wu;
      }
    }
    for (int rb = 0; rb < nr; ++rb) hidden[int64_t{pick[rb]} * m.I + o] = math::swiglu(ga[rb], ua[rb]);
  }
};

// eo[pick, :] = down_e · hidden[pick] for the picks of expert e = blockIdx.z. down_t: [E, I, D].
// Grid (ceil(D/kThreads), ceil(rows/kRowTile), E).
struct MoeDownK {
  MoeDims m;
  const int32_t* list = nullptr;
  const int32_t* count = nullptr;
  const float* hidden = nullptr;  // [rows·top_k, I]
  const float* down_t = nullptr;
  float* eo = nullptr;  // [rows·top_k, D]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.D, kThreads), ceil_div(rows, kRowTile), m.E}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int o = ix.gx(), e = ix.bz, i0 = ix.by * kRowTile;
    const int n = count[e];
    if (o >= m.D || i0 >= n) return;
    const int nr = n - i0 < kRowTile ? n - i0 : kRowTile;
    int pick[kRowTile];
    for (int rb = 0; rb < nr; ++rb) pick[rb] = list[int64_t{e} * rows + i0 + rb];
    const float* dw = down_t + int64_t{e} * m.I * m.D;
    float acc[kRowTile] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c = 0; c < m.I; ++c) {
      const float w = dw[int64_t{c} * m.D + o];
      for (int rb = 0; rb < nr; ++rb) acc[rb] += hidden[int64_t{pick[rb]} * m.I + c] * w;
    }
    for (int rb = 0; rb < nr; ++rb) eo[int64_t{pick[rb]} * m.D + o] = acc[rb];
  }
};

// h[r, c] += Σ_j pick_w[r, j] · eo[r·top_k + j, c]. Grid (ceil(D/kThreads), rows).
struct MoeCombineK {
  MoeDims m;
  const int32_t* pick_e = nullptr;
  const float* pick_w = nullptr;
  const float* eo = nullptr;
  float* h = nullptr;  // [rows, D]
  int rows = 0;

  Grid grid() const { return {ceil_div(m.D, kThreads), rows, 1}; }
  TICKRT_HD void operator()(const Idx& ix) const {
    const int c = ix.gx(), r = ix.by;
    if (c >= m.D || r >= rows || pick_e[int64_t{r} * m.top_k] < 0) return;
    float acc = 0.0f;
    for (int j = 0; j < m.top_k; ++j) {
      const int64_t p = int64_t{r} * m.top_k + j;
      acc += pick_w[p] * eo[p * m.D + c];
    }
    h[int64_t{r} * m.D + c] += acc;
  }
};

}  // namespace tickrt::cuda
