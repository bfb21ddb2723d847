// One layer of the CPU backend (a whole decoder layer: norms, mixer, FFN and residuals, or a whole megalodon
// block). The backend composes embed -> layers -> final norm -> head around these.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/model.h"
#include "kernels/backend.h"

namespace tickrt::cpu {

class Layer {
 public:
  virtual ~Layer() = default;
  // Per-instrument state of this layer in bytes (a multiple of 64), fixed by the config. All-zero bytes
  // are the reset state, so a reset is a memset.
  virtual std::size_t state_bytes() const = 0;
  // Advances k (<= max_batch) instruments one tick: h [k, D] is read and updated in place (the layer adds its
  // own residuals). states[i] points at instrument i's state for this layer (64-byte aligned).
  // Allocates nothing: scratch is reserved at construction for max_batch.
  virtual void step(int k, std::byte* const* states, float* h) = 0;
  // Sequence form for one instrument: h [T, D] updated in place; the state ends as T steps would leave it.
  // Allocates nothing beyond what construction reserved (long sequences are processed in bounded chunks).
  virtual void sequence(std::byte* state, float* h, int64_t T) = 0;
  // Ticks since the refresh whose output the last step used, per batch row (attention layers; 0 otherwise).
  virtual uint32_t context_age(const std::byte* state) const { (void)state; return 0; }
  // Deferred attention refreshes (kernels/backend.h); layers without attention have nothing to defer.
  virtual void set_refresh_mode(RefreshMode mode) { (void)mode; }
  virtual int deferred(const int** rows, const int64_t** ticks) const {
    (void)rows;
    (void)ticks;
    return 0;
  }
  virtual bool late(int row) const { (void)row; return false; }
  virtual void run_refresh(std::byte* state, int64_t tick) { (void)state; (void)tick; }
  virtual void quiesce(const std::byte* state) const { (void)state; }
};

// Megalodon block (MODEL-SPEC §6), layer index i of cfg.
std::unique_ptr<Layer> make_megalodon_layer(const ModelConfig& cfg, const Weights& w, int i, int max_batch);
// Decoder layer with a mamba or attention mixer and its FFN (MODEL-SPEC §3-5).
std::unique_ptr<Layer> make_decoder_layer(const ModelConfig& cfg, const Weights& w, int i, int max_batch);

}  // namespace tickrt::cpu
