// The CUDA backend's kernels run on the CPU through the host emulator (host_launch.h), behind the Backend
// interface: the same plan, the same step program, the same batch buckets padded with the sentinel slot, the
// same state layout; only the memory (host vectors instead of cudaMalloc) and the launcher differ. Tests compare
// it with the CPU backend so the indexing and math of the GPU path are exercised on machines without a GPU.
// Slow by design (one emulated thread at a time): a test tool, not a backend to serve with.
#pragma once
#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/host_launch.h"
#include "kernels/cuda/plan.h"
#include "kernels/cuda/step_program.h"

namespace tickrt::cuda {

class HostEmulatedBackend final : public Backend {
 public:
  HostEmulatedBackend(const Model& model, int max_instruments, int max_batch)
      : plan_(build_plan(model, max_batch)), max_instruments_(max_instruments), max_batch_(max_batch) {
    if (max_instruments <= 0 || max_batch <= 0)
      throw std::runtime_error("cuda host emulator: max_instruments and max_batch must be positive");
    buckets_ = batch_buckets(max_batch);
    layout_ = scratch_layout(plan_, max_batch);
    slab_.assign(plan_.state_bytes * static_cast<std::size_t>(max_instruments) / sizeof(uint64_t), 0);
    scratch_.assign(layout_.bytes / sizeof(uint64_t) + 1, 0);
  }

  std::string name() const override { return "cuda-host-emulator"; }
  std::size_t state_bytes() const override { return plan_.state_bytes; }
  int max_instruments() const override { return max_instruments_; }
  int max_batch() const override { return max_batch_; }
  void reset(int32_t slot) override { std::memset(state(slot), 0, plan_.state_bytes); }

  void step(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) override {
    for (int b = 0; b < k; b += max_batch_) {
      const int n = std::min(max_batch_, k - b);
      step_block(slots + b, n, x + int64_t{b} * plan_.F, y + int64_t{b} * plan_.H, info ? info + b : nullptr);
    }
  }

  // T steps of one instrument (as the CUDA backend's sequence form).
  void sequence(int32_t slot, const float* x, int64_t T, float* y) override {
    for (int64_t t = 0; t < T; ++t) step(&slot, 1, x + t * plan_.F, y + t * plan_.H, nullptr);
  }

  void read_state(int32_t slot, std::byte* out) const override {
    std::memcpy(out, slab() + static_cast<std::size_t>(slot) * plan_.state_bytes, plan_.state_bytes);
  }
  void write_state(int32_t slot, const std::byte* in) override { std::memcpy(state(slot), in, plan_.state_bytes); }

  const Plan& plan() const { return plan_; }
  const HostLauncher& launcher() const { return launcher_; }
  int last_bucket() const { return last_bucket_; }

 private:
  std::byte* slab() { return reinterpret_cast<std::byte*>(slab_.data()); }
  const std::byte* slab() const { return reinterpret_cast<const std::byte*>(slab_.data()); }
  std::byte* state(int32_t slot) { return slab() + static_cast<std::size_t>(slot) * plan_.state_bytes; }
  std::byte* scratch() { return reinterpret_cast<std::byte*>(scratch_.data()); }

  void step_block(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) {
    const int rows = bucket_for(buckets_, k);
    last_bucket_ = rows;
    auto* s = reinterpret_cast<int32_t*>(scratch() + layout_.slots);  // [rows], padded with the sentinel
    std::copy(slots, slots + k, s);
    std::fill(s + k, s + rows, -1);
    std::memcpy(scratch() + layout_.x, x, sizeof(float) * static_cast<std::size_t>(k) * plan_.F);
    const StepMemory mem{plan_.arena.data(), slab(), max_instruments_, scratch(), &layout_};
    StepProgram<HostLauncher>(launcher_, plan_, mem).enqueue(rows);
    std::memcpy(y, scratch() + layout_.y, sizeof(float) * static_cast<std::size_t>(k) * plan_.H);
    if (!info) return;
    const auto* age = reinterpret_cast<const uint32_t*>(scratch() + layout_.age);
    for (int r = 0; r < k; ++r) info[r] = StepOutput{plan_.n_attention > 0 ? age[r] : 0u, false};
  }

  Plan plan_;
  int max_instruments_, max_batch_;
  std::vector<int> buckets_;
  ScratchLayout layout_;
  std::vector<uint64_t> slab_;     // [max_instruments, state_bytes] (8-byte aligned)
  std::vector<uint64_t> scratch_;  // ScratchLayout bytes
  HostLauncher launcher_;
  int last_bucket_ = 0;
};

}  // namespace tickrt::cuda
