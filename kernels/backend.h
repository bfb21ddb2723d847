// The interface every backend implements (ARCHITECTURE "Backends"): the CPU backend is the reference,
// the CUDA backend must agree with it (MODEL-SPEC §8). Per-instrument state lives in one slab of
// max_instruments x state_bytes(), addressed by slot.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/model.h"

namespace tickrt {

struct StepOutput {
  uint32_t context_age = 0;    // ticks since the attention refresh whose output this tick used (0 if no attention)
  bool late_refresh = false;   // set by the engine's stale policy (issue 4); the backend leaves it false
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::size_t state_bytes() const = 0;  // per instrument; fixed by the config, never grows
  virtual int max_instruments() const = 0;
  virtual int max_batch() const = 0;

  // Zeroes all state of one instrument (MODEL-SPEC §7).
  virtual void reset(int32_t slot) = 0;

  // Advances k distinct instruments one tick. x: [k, F] normalised features; y: [k, H]; info: [k] or null.
  // Hot path: allocates nothing, throws nothing, FTZ/DAZ set by the caller's thread (see set_ftz_daz()).
  virtual void step(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) = 0;

  // Sequence form for one instrument (backtests): starts from the slot's current state and leaves it as
  // T steps would. x: [T, F]; y: [T, H]. Agrees with step() within MODEL-SPEC §8.
  virtual void sequence(int32_t slot, const float* x, int64_t T, float* y) = 0;

  // Raw state of one instrument in the portable layout (little-endian, float32/int64 as MODEL-SPEC §7):
  // state_bytes() bytes. Used by snapshots; a CPU snapshot restores into CUDA and back.
  virtual void read_state(int32_t slot, std::byte* out) const = 0;
  virtual void write_state(int32_t slot, const std::byte* in) = 0;
};

// Makes "cpu" (or "cuda" when built with it; otherwise throws saying so).
std::unique_ptr<Backend> make_backend(const std::string& name, const Model& model, int max_instruments,
                                      int max_batch);

// Flush denormals to zero on this thread (MODEL-SPEC §8: exp(dt*A) underflows on long runs).
void set_ftz_daz();

}  // namespace tickrt
