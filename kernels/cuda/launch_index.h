// What a kernel body sees of its launch: block and thread coordinates, passed explicitly so the same body runs
// under the CUDA launcher (cuda_backend.cu: read from blockIdx/threadIdx) and under the host emulator
// (host_launch.h: every block and thread of the grid visited in turn on the CPU). Blocks are 1-D (threads along
// x only); grids are up to 3-D. Compiled by g++ and nvcc alike.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/tick_math.h"

namespace tickrt::cuda {

struct Idx {
  int bx, by, bz;  // blockIdx
  int tx;          // threadIdx.x
  int bdx;         // blockDim.x
  TICKRT_HD int gx() const { return bx * bdx + tx; }  // global thread index along x
};

struct Grid {
  int x = 1, y = 1, z = 1;
};

constexpr int kThreads = 128;  // threads per block of every kernel (a multiple of the warp size)

TICKRT_HD constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// A slot addresses an instrument's state; padding rows of a batch bucket carry the sentinel −1, and any slot
// outside [0, n_slots) is treated the same way: the row computes, but writes no state.
TICKRT_HD bool live_slot(int slot, int n_slots) { return slot >= 0 && slot < n_slots; }

// One layer's view of the per-instrument state slab: row r of a batch owns the layer's section of slot
// slots[r] (the byte layout is the CPU backend's, kernels/README.md), or nothing when its slot is not live.
struct StateRef {
  std::byte* slab = nullptr;    // [n_slots, state_bytes]
  uint64_t state_bytes = 0;     // per instrument, all layers
  uint64_t layer_off = 0;       // this layer's section inside a slot
  const int32_t* slots = nullptr;  // [rows]
  int n_slots = 0;
  TICKRT_HD std::byte* row(int r) const {
    const int s = slots[r];
    return live_slot(s, n_slots) ? slab + static_cast<uint64_t>(s) * state_bytes + layer_off : nullptr;
  }
};

}  // namespace tickrt::cuda
