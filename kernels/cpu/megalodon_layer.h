// The CPU Megalodon block (MODEL-SPEC §6) as a cpu::Layer. Setup (weight folding, scratch) lives in
// megalodon_layer.cpp, the per-tick math in megalodon_forward.cpp. Built by make_megalodon_layer().
//
// step() and sequence() share one row pipeline: a batch of rows, each with its own state pointer. step()
// passes k distinct instruments; sequence() passes up to C consecutive ticks of one instrument, split at
// chunk boundaries, with every row pointing at the same state. The recurrent parts (TimestepNorm, CEMA,
// chunk position) run row by row in order; everything else is matrix-shaped over the rows.
// A layer owns its scratch: step() and sequence() of one layer object must not run concurrently.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_layer.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/megalodon.h"
#include "kernels/tick_math.h"

namespace tickrt::cpu {

class MegalodonLayer final : public Layer {
 public:
  MegalodonLayer(const ModelConfig& cfg, const Weights& w, int layer_index, int max_batch);

  std::size_t state_bytes() const override { return layout_.total; }
  void step(int k, std::byte* const* states, float* h) override;
  void sequence(std::byte* state, float* h, int64_t T) override;

  const MegalodonDims& dims() const { return d_; }
  const MegalodonStateLayout& layout() const { return layout_; }

 private:
  // Advances `rows` rows one tick each; rows sharing a state must be consecutive ticks of one chunk.
  // h [rows, D] in place.
  void forward_rows(int rows, std::byte* const* states, float* h);
  // Per-row recurrent front: TimestepNorm -> xn, CEMA -> c, RMSNorm -> mx; returns the row's chunk position.
  int64_t recurrent_front(std::byte* state, const float* x, float* xn, float* mx);
  // Per-row q, k (head norm, normalised-attention affine, RoPE at `pos`); k and v go to the chunk cache.
  void project_qkv(std::byte* state, int64_t pos, const float* z, const float* v, float* q);
  // Per-row chunk attention over cached keys 0..pos, gated by g: out [V] = attn ⊙ g.
  void attend(const std::byte* state, int64_t pos, const float* q, const float* g, float* out);

  MegalodonDims d_;
  MegalodonStateLayout layout_;
  int max_rows_ = 0;  // max(max_batch, C): the most rows forward_rows() is ever given

  // Parameters folded at load time.
  std::vector<float> tn_scale_, tn_bias_;   // [D] TimestepNorm: 1 + weight, bias
  std::vector<math::CemaCoeff> cema_;       // [D, n] p, q, η
  std::vector<float> omega_;                // [D]
  std::vector<float> rms_scale_;            // [D] 1 + mega.rmsnorm.weight
  std::vector<float> q_scale_, q_bias_;     // [Z] (gamma[0] + 1)/√dz, beta[0]
  std::vector<float> k_scale_, k_bias_;     // [Z] (gamma[1] + 1)/√dz, beta[1]
  std::vector<float> rope_cos_, rope_sin_;  // [C, dz/2] for in-chunk position and pair index
  std::vector<float> ln_scale_, ln_bias_;   // [D] FFN LayerNorm: 1 + weight, bias
  PackedLinear wz_, wv_, wr_, wh1_, wh2_;   // [Z,D] [V,D] [V,D] [D,D] [D,V]
  PackedLinear fc1_, fc3_, fc2_;            // [F,D] [F,D] (swiglu only) [D,F]

  // Scratch for up to max_rows_ rows, reserved at construction.
  std::vector<float> xn_, mx_;            // [rows, D] TimestepNorm output, RMSNorm(CEMA) output
  std::vector<float> z_, q_;              // [rows, Z] wz·mx + b, queries after RoPE
  std::vector<float> v_, g_, gated_;      // [rows, V] silu(wv·xn), silu(wr·mx), attn ⊙ g
  std::vector<float> hx_, y_, ln_, out_;  // [rows, D] wh1·mx + b, y, LN(y), fc2 output
  std::vector<float> f1_, f3_;            // [rows, F]
  std::vector<float> scores_;             // [C] one row's attention scores
  std::vector<int64_t> pos_;              // [rows] in-chunk position of each row
  std::vector<std::byte*> row_states_;    // [C] sequence(): the one state, once per row
};

}  // namespace tickrt::cpu
