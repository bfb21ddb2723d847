// The two halves of a decoder layer (MODEL-SPEC §3): a stateful mixer (mamba or attention) and a stateless
// FFN (MLP or MoE). decoder_layer.cpp composes them with the norms and residuals.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/model.h"
#include "kernels/backend.h"

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
  // Deferred refreshes (kernels/backend.h RefreshMode); mixers without refreshes ignore them.
  virtual void set_refresh_mode(RefreshMode mode) { (void)mode; }
  // Rows of the last step() whose refresh was deferred, and their refresh ticks.
  virtual int deferred(const int** rows, const int64_t** ticks) const {
    (void)rows;
    (void)ticks;
    return 0;
  }
  // Row r of the last step() used an older refresh than ρ(t) (stale policy).
  virtual bool late(int row) const { (void)row; return false; }
  virtual void run_refresh(std::byte* state, int64_t tick) { (void)state; (void)tick; }
  // Waits until no refresh of this state is in flight.
  virtual void quiesce(const std::byte* state) const { (void)state; }
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
