// The interface every backend implements (ARCHITECTURE "Backends"): the CPU backend is the reference,
// the CUDA backend must agree with it (MODEL-SPEC §8). Per-instrument state lives in one slab of
// max_instruments x state_bytes(), addressed by slot.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/model.h"

namespace tickrt {

struct StepOutput {
  uint32_t context_age = 0;    // ticks since the attention refresh whose output this tick used (0 if no attention)
  bool late_refresh = false;   // set by the engine's stale policy (issue 4); the backend leaves it false
};

// Where attention refreshes run (MODEL-SPEC §5). inline_refresh: inside step(), at the refresh tick.
// The deferred modes need refresh_lag >= 1: step() stores the refresh's query and queues a RefreshJob, and
// another thread runs it with run_refresh() while ticks keep flowing. The tick r + l that needs refresh r's
// output waits for it (deferred_wait: the numbers are exactly the inline ones), or, if it is not ready yet,
// uses the previous refresh and reports late_refresh (deferred_stale; the late job is still awaited before
// tick r + l + 1 overwrites the oldest key it reads).
enum class RefreshMode { inline_refresh, deferred_wait, deferred_stale };

struct RefreshJob {
  int32_t slot = 0;
  int32_t layer = 0;
  int64_t tick = 0;  // the refresh tick r
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

  // Deferred refreshes (see RefreshMode). Setup: set_refresh_mode throws when the backend or the model
  // (refresh_lag 0) cannot defer. Hot-path thread: take_refresh_jobs() after each step() returns the jobs that
  // step queued. One refresh thread: run_refresh(). reset/read_state/write_state of a slot wait for that
  // slot's jobs in flight; sequence() always refreshes inline.
  virtual void set_refresh_mode(RefreshMode mode) {
    if (mode != RefreshMode::inline_refresh) throw std::runtime_error(name() + " backend: refreshes run inline only");
  }
  virtual int take_refresh_jobs(RefreshJob* out, int max) {
    (void)out;
    (void)max;
    return 0;
  }
  virtual void run_refresh(const RefreshJob& job) { (void)job; }
  virtual uint64_t late_refreshes() const { return 0; }
};

// Makes "cpu" (or "cuda" when built with it; otherwise throws saying so).
std::unique_ptr<Backend> make_backend(const std::string& name, const Model& model, int max_instruments,
                                      int max_batch);

// Flush denormals to zero on this thread (MODEL-SPEC §8: exp(dt*A) underflows on long runs).
void set_ftz_daz();

}  // namespace tickrt
