// The two halves of a decoder layer (MODEL-SPEC §3): a stateful mixer (mamba or attention) and a stateless
// FFN (MLP or MoE). decoder_layer.cpp composes them with the norms and residuals.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/model.h"

namespace tickrt::cpu {

class Mixer {
 public:
  virtual ~Mixer() = default;
  virtual std::size_t state_bytes() const = 0;  // multiple of 64; all-zero is the reset state
  // k distinct instruments, one tick each: u [k, D] (normed input) -> out [k, D]. states[i]: row i's state.
  virtual void step(int k, std::byte* const* states, const float* u, float* out) = 0;
  // One instrument, n consecutive ticks (n <= the rows reserved at construction): u [n, D] -> out [n, D].
  virtual void sequence(std::byte* state, const float* u, int n, float* out) = 0;
  virtual uint32_t context_age(const std::byte* state) const { (void)state; return 0; }
};

class Ffn {
 public:
  virtual ~Ffn() = default;
  // out [k, D] = FFN(u [k, D]), rows independent; k <= the rows reserved at construction.
  virtual void apply(int k, const float* u, float* out) = 0;
};

// max_rows: the largest k or n the layer will be called with (scratch is reserved for it).
std::unique_ptr<Mixer> make_mamba_mixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows);
std::unique_ptr<Mixer> make_attention_mixer(const ModelConfig& cfg, const Weights& w, int layer, int max_rows);
std::unique_ptr<Ffn> make_mlp(const ModelConfig& cfg, const Weights& w, int layer, int max_rows);
std::unique_ptr<Ffn> make_moe(const ModelConfig& cfg, const Weights& w, int layer, int max_rows);

}  // namespace tickrt::cpu
