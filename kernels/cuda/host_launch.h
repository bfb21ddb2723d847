// The host emulator of the CUDA kernels: runs a kernel body over its whole grid sequentially on the CPU, every
// block and every thread of each block, with the coordinates the GPU would give them. Kernel bodies use no
// shared memory and no barriers (common_kernels.cuh), so this sequential order is one of the orders the GPU may
// run them in. Streams and graph branches collapse into program order. Compiled by g++ (no CUDA needed).
#pragma once
#include <cstdint>

#include "kernels/cuda/launch_index.h"

namespace tickrt::cuda {

class HostLauncher {
 public:
  template <class K>
  void launch(const K& k) {
    const Grid g = k.grid();
    for (int bz = 0; bz < g.z; ++bz)
      for (int by = 0; by < g.y; ++by)
        for (int bx = 0; bx < g.x; ++bx)
          for (int tx = 0; tx < kThreads; ++tx) k(Idx{bx, by, bz, tx, kThreads});
    ++launches_;
  }
  void begin_branch() { ++branches_; }
  void end_branch() {}
  void join() {}

  int64_t launches() const { return launches_; }  // kernels launched so far (tests count them)
  int64_t branches() const { return branches_; }

 private:
  int64_t launches_ = 0, branches_ = 0;
};

}  // namespace tickrt::cuda
