// The CUDA backend's view of a model, built once on the host (g++ in the host emulator, nvcc's host compiler
// in cuda_backend.cu): every weight folded and laid out for the kernels in one float arena (linears transposed
// to [in, out]; A = −exp(A_log); Megalodon's offset scales, CEMA coefficients and RoPE tables precomputed
// exactly as the CPU backend folds them), the per-layer kernel dimensions, and the per-instrument state layout,
// taken from the CPU backend's own layout code so that the state bytes are identical (kernels/README.md).
// Also the batch buckets (CUDA graphs are captured per bucket) and the scratch buffers a step needs.
// Header-only (the host emulator tests include it without the CUDA library); definitions in plan_build.h.
// Setup code: allocates and throws std::runtime_error naming the tensor or field at fault.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model.h"
#include "kernels/cuda/attention_kernels.cuh"
#include "kernels/cuda/mamba_kernels.cuh"
#include "kernels/cuda/megalodon_kernels.cuh"
#include "kernels/cuda/moe_kernels.cuh"

namespace tickrt::cuda {

constexpr uint64_t kNone = ~uint64_t{0};  // an absent weight (no bias, no inner norms)

// Offsets (in floats) into the weight arena.
struct LinearW {
  uint64_t wt = kNone;    // [in, out]
  uint64_t bias = kNone;  // [out]
  int in = 0, out = 0;
};

struct LayerPlan {
  LayerType type = LayerType::mamba;
  FfnType ffn = FfnType::none;
  uint64_t state_off = 0;  // the layer's section inside one instrument's state
  uint64_t input_norm = kNone, pre_ff_norm = kNone;  // [D]
  // mamba
  MambaDims mamba;
  LinearW in_proj, x_proj, out_proj;
  uint64_t conv_w = kNone, conv_b = kNone, A = kNone, Dskip = kNone, dt_w = kNone, dt_b = kNone;
  uint64_t dt_norm = kNone, b_norm = kNone, c_norm = kNone;
  // attention
  AttnDims attn;
  LinearW kvq, o_proj;  // kvq: [D, 2·kvw + qw], k | v | q
  int attn_index = -1;  // which attention layer (its own kvq and row_t scratch)
  // ffn: mlp, or moe (experts stacked: gate/up [E, D, I], down [E, I, D])
  LinearW gate, up, down, router;
  MoeDims moe;
  uint64_t e_gate = kNone, e_up = kNone, e_down = kNone;
  // megalodon
  MegaDims mega;
  bool swiglu = true;
  uint64_t tn_scale = kNone, tn_bias = kNone, cema = kNone, omega = kNone, rms_scale = kNone;
  uint64_t q_scale = kNone, q_bias = kNone, k_scale = kNone, k_bias = kNone, rope_cos = kNone, rope_sin = kNone;
  uint64_t ln_scale = kNone, ln_bias = kNone;
  LinearW wz, wv, wr, wh1, wh2, fc1, fc3, fc2;
};

struct Plan {
  int D = 0, F = 0, H = 0;
  float eps = 0.0f;
  LinearW embed, head;
  uint64_t final_norm = kNone;
  std::vector<LayerPlan> layers;
  int n_attention = 0;
  uint64_t state_bytes = 0;   // per instrument, a multiple of 64 (the CPU backend's)
  std::vector<float> arena;   // every weight, 64-byte aligned pieces
};

// Folds `model` for the kernels; max_batch bounds the flash-decoding split count (its scratch).
inline Plan build_plan(const Model& model, int max_batch);

// Batch buckets: the sizes a step is padded up to, one captured graph each: 1, 8, 64, 512, 4096 below
// max_batch, then max_batch itself.
inline std::vector<int> batch_buckets(int max_batch);
// The smallest bucket ≥ k (k ≤ max_batch).
inline int bucket_for(const std::vector<int>& buckets, int k);

// Byte offsets of the scratch buffers of a step over `rows` rows (the largest bucket), one arena.
struct ScratchLayout {
  uint64_t slots = 0;  // int32 [rows]  the step's input: slot per row, −1 for padding
  uint64_t x = 0;      // f32 [rows, F] the step's input
  uint64_t y = 0;      // f32 [rows, H] the step's output
  uint64_t age = 0;    // u32 [rows]    context age (attention)
  uint64_t h = 0, u = 0;              // f32 [rows, D]
  uint64_t xz = 0, xc = 0, dbc = 0, my = 0;  // mamba: [rows, 2E], [rows, E], [rows, R+2N], [rows, E]
  std::vector<uint64_t> kvq, row_t;   // per attention layer: f32 [rows, kvq_width], i64 [rows]
  uint64_t part_m = 0, part_l = 0, part_acc = 0, attn_a = 0, attn_o = 0;  // [rows,Hq,S], .., [rows,Hq,S,hd], [rows,qw], [rows,D]
  uint64_t hidden = 0;                // f32 [rows·top_k, I] (mlp: [rows, I])
  uint64_t logits = 0, pick_w = 0, eo = 0;         // f32 [rows, E], [rows, top_k], [rows·top_k, D]
  uint64_t pick_e = 0, list = 0, count = 0;        // i32 [rows, top_k], [E, rows], [E]
  uint64_t gstat = 0, xn = 0, cout = 0, mx = 0, pos = 0;  // megalodon: [rows,G,2], [rows,D]x3, i64 [rows]
  uint64_t z = 0, mv = 0, mg = 0, hx = 0, gated = 0, my2 = 0, ln = 0, f1 = 0;
  uint64_t bytes = 0;
};
inline ScratchLayout scratch_layout(const Plan& p, int rows);

}  // namespace tickrt::cuda

#include "kernels/cuda/plan_build.h"
