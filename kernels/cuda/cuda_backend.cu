// The CUDA backend (ARCHITECTURE "Backends"): weights and the per-instrument state slab in device memory
// (cudaMalloc, never managed memory), pinned host staging for inputs and outputs (cudaHostAlloc), one stream
// for ticks and one for refreshes. A step is the StepProgram (step_program.h) captured once per batch bucket
// into a CUDA graph at construction; step(k) copies the slots (padded with the sentinel −1 up to the bucket)
// and features into the graph's static input buffers, launches the graph and copies the outputs back.
// The state bytes are the CPU backend's layout, so read_state / write_state copy device <-> host verbatim.
// sequence() is T single-instrument steps: correctness over speed for backtests.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/plan.h"
#include "kernels/cuda/step_program.h"

namespace tickrt {
namespace cuda {
namespace {

// Setup-time check: throws naming the call that failed.
void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string("cuda backend: ") + what + ": " + cudaGetErrorString(err));
}

template <class K>
__global__ void run_kernel(K k) {
  k(Idx{static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y), static_cast<int>(blockIdx.z),
        static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)});
}

// Launches kernel bodies on the tick stream, or on the refresh stream inside a branch (step_program.h).
class DeviceLauncher {
 public:
  DeviceLauncher(cudaStream_t tick, cudaStream_t refresh, cudaEvent_t* events, int n_events)
      : tick_(tick), refresh_(refresh), cur_(tick), events_(events), n_events_(n_events) {}

  template <class K>
  void launch(const K& k) {
    const Grid g = k.grid();
    if (g.x <= 0 || g.y <= 0 || g.z <= 0) return;
    run_kernel<K><<<dim3(g.x, g.y, g.z), kThreads, 0, cur_>>>(k);
    check(cudaGetLastError(), "kernel launch");
  }
  void begin_branch() {
    cudaEvent_t ev = next_event();
    check(cudaEventRecord(ev, tick_), "cudaEventRecord (fork)");
    check(cudaStreamWaitEvent(refresh_, ev, 0), "cudaStreamWaitEvent (fork)");
    cur_ = refresh_;
  }
  void end_branch() { cur_ = tick_; }
  void join() {
    cudaEvent_t ev = next_event();
    check(cudaEventRecord(ev, refresh_), "cudaEventRecord (join)");
    check(cudaStreamWaitEvent(tick_, ev, 0), "cudaStreamWaitEvent (join)");
  }

 private:
  cudaEvent_t next_event() {
    if (used_ >= n_events_) throw std::runtime_error("cuda backend: more refresh branches than events");
    return events_[used_++];
  }
  cudaStream_t tick_, refresh_, cur_;
  cudaEvent_t* events_;
  int n_events_, used_ = 0;
};

template <class T>
struct DeviceFree {
  void operator()(T* p) const { cudaFree(p); }
};
template <class T>
struct HostFree {
  void operator()(T* p) const { cudaFreeHost(p); }
};
template <class T>
using DeviceBuf = std::unique_ptr<T, DeviceFree<T>>;
template <class T>
using PinnedBuf = std::unique_ptr<T, HostFree<T>>;

template <class T>
DeviceBuf<T> device_alloc(std::size_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, std::max<std::size_t>(bytes, 1));
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("cuda backend: cudaMalloc of ") + std::to_string(bytes) + " bytes for " +
                             what + ": " + cudaGetErrorString(err));
  return DeviceBuf<T>(static_cast<T*>(p));
}
template <class T>
PinnedBuf<T> pinned_alloc(std::size_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t err = cudaHostAlloc(&p, std::max<std::size_t>(bytes, 1), cudaHostAllocDefault);
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("cuda backend: cudaHostAlloc of ") + std::to_string(bytes) + " bytes for " +
                             what + ": " + cudaGetErrorString(err));
  return PinnedBuf<T>(static_cast<T*>(p));
}

// Streams, fork/join events and graph executables, destroyed in reverse even when construction fails midway.
struct GpuHandles {
  cudaStream_t tick = nullptr, refresh = nullptr;
  std::vector<cudaEvent_t> events;      // fork/join events of the refresh branches (reused by every capture)
  std::vector<cudaGraphExec_t> graphs;  // [buckets]
  GpuHandles() = default;
  GpuHandles(const GpuHandles&) = delete;
  GpuHandles& operator=(const GpuHandles&) = delete;
  ~GpuHandles() {
    if (tick) cudaStreamSynchronize(tick);
    for (cudaGraphExec_t g : graphs) cudaGraphExecDestroy(g);
    for (cudaEvent_t e : events)
      if (e) cudaEventDestroy(e);
    if (refresh) cudaStreamDestroy(refresh);
    if (tick) cudaStreamDestroy(tick);
  }
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Model& model, int max_instruments, int max_batch)
      : max_instruments_(max_instruments), max_batch_(max_batch) {
    int devices = 0;
    const cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess) throw std::runtime_error(std::string("no CUDA device: ") + cudaGetErrorString(err));
    if (devices == 0) throw std::runtime_error("no CUDA device: cudaGetDeviceCount found none");
    if (max_instruments <= 0 || max_batch <= 0)
      throw std::runtime_error("cuda backend: max_instruments and max_batch must be positive");
    if (max_batch > 65535) throw std::runtime_error("cuda backend: max_batch above 65535 (the grid's y limit)");
    plan_ = build_plan(model, max_batch);
    buckets_ = batch_buckets(max_batch);
    layout_ = scratch_layout(plan_, max_batch);

    weights_ = device_alloc<float>(plan_.arena.size() * sizeof(float), "weights");
    check(cudaMemcpy(weights_.get(), plan_.arena.data(), plan_.arena.size() * sizeof(float), cudaMemcpyHostToDevice),
          "cudaMemcpy weights");
    const std::size_t slab_bytes = plan_.state_bytes * static_cast<std::size_t>(max_instruments);
    slab_ = device_alloc<std::byte>(slab_bytes, "the state slab");
    check(cudaMemset(slab_.get(), 0, slab_bytes), "cudaMemset state slab");
    scratch_ = device_alloc<std::byte>(layout_.bytes, "step scratch");
    check(cudaMemset(scratch_.get(), 0, layout_.bytes), "cudaMemset scratch");

    const auto rows = static_cast<std::size_t>(max_batch);
    h_slots_ = pinned_alloc<int32_t>(rows * sizeof(int32_t), "slots staging");
    h_x_ = pinned_alloc<float>(rows * plan_.F * sizeof(float), "input staging");
    h_y_ = pinned_alloc<float>(rows * plan_.H * sizeof(float), "output staging");
    h_age_ = pinned_alloc<uint32_t>(rows * sizeof(uint32_t), "context age staging");
    h_state_ = pinned_alloc<std::byte>(plan_.state_bytes, "state staging");

    check(cudaStreamCreateWithFlags(&gpu_.tick, cudaStreamNonBlocking), "cudaStreamCreate (ticks)");
    check(cudaStreamCreateWithFlags(&gpu_.refresh, cudaStreamNonBlocking), "cudaStreamCreate (refreshes)");
    tick_ = gpu_.tick;
    gpu_.events.assign(static_cast<std::size_t>(plan_.n_attention + 1), nullptr);
    for (auto& e : gpu_.events) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    for (int b : buckets_) gpu_.graphs.push_back(capture(b));
  }

  std::string name() const override { return "cuda"; }
  std::size_t state_bytes() const override { return plan_.state_bytes; }
  int max_instruments() const override { return max_instruments_; }
  int max_batch() const override { return max_batch_; }

  void reset(int32_t slot) override {
    if (!live_slot(slot, max_instruments_)) return;
    cudaMemsetAsync(state(slot), 0, plan_.state_bytes, tick_);
    cudaStreamSynchronize(tick_);
  }

  void step(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) override {
    for (int b = 0; b < k; b += max_batch_) {
      const int n = std::min(max_batch_, k - b);
      step_block(slots + b, n, x + int64_t{b} * plan_.F, y + int64_t{b} * plan_.H, info ? info + b : nullptr);
    }
  }

  // T steps of one instrument, each a single-row graph launch (documented in kernels/cuda/README.md).
  void sequence(int32_t slot, const float* x, int64_t T, float* y) override {
    for (int64_t t = 0; t < T; ++t) step(&slot, 1, x + t * plan_.F, y + t * plan_.H, nullptr);
  }

  void read_state(int32_t slot, std::byte* out) const override {
    if (!live_slot(slot, max_instruments_)) return;
    cudaMemcpyAsync(h_state_.get(), const_cast<CudaBackend*>(this)->state(slot), plan_.state_bytes,
                    cudaMemcpyDeviceToHost, tick_);
    cudaStreamSynchronize(tick_);
    std::memcpy(out, h_state_.get(), plan_.state_bytes);
  }
  void write_state(int32_t slot, const std::byte* in) override {
    if (!live_slot(slot, max_instruments_)) return;
    std::memcpy(h_state_.get(), in, plan_.state_bytes);
    cudaMemcpyAsync(state(slot), h_state_.get(), plan_.state_bytes, cudaMemcpyHostToDevice, tick_);
    cudaStreamSynchronize(tick_);
  }

 private:
  std::byte* state(int32_t slot) { return slab_.get() + static_cast<std::size_t>(slot) * plan_.state_bytes; }
  std::byte* scratch(uint64_t off) const { return scratch_.get() + off; }

  // The whole step over `rows` rows, captured into a graph on the tick stream.
  cudaGraphExec_t capture(int rows) {
    check(cudaStreamBeginCapture(tick_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    DeviceLauncher launcher(gpu_.tick, gpu_.refresh, gpu_.events.data(), static_cast<int>(gpu_.events.size()));
    const StepMemory mem{weights_.get(), slab_.get(), max_instruments_, scratch_.get(), &layout_};
    StepProgram<DeviceLauncher>(launcher, plan_, mem).enqueue(rows);
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(tick_, &graph), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(err, "cudaGraphInstantiate");
    return exec;
  }

  // Hot path: no allocation, no exception. A CUDA failure is counted and the outputs are NaN.
  void step_block(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) {
    std::size_t bi = 0;
    while (buckets_[bi] < k) ++bi;
    const int rows = buckets_[bi];
    std::copy(slots, slots + k, h_slots_.get());
    std::fill(h_slots_.get() + k, h_slots_.get() + rows, -1);  // sentinel rows write nowhere
    std::memcpy(h_x_.get(), x, sizeof(float) * static_cast<std::size_t>(k) * plan_.F);
    cudaError_t err = cudaMemcpyAsync(scratch(layout_.slots), h_slots_.get(), sizeof(int32_t) * rows,
                                      cudaMemcpyHostToDevice, tick_);
    if (err == cudaSuccess)
      err = cudaMemcpyAsync(scratch(layout_.x), h_x_.get(), sizeof(float) * static_cast<std::size_t>(k) * plan_.F,
                            cudaMemcpyHostToDevice, tick_);
    if (err == cudaSuccess) err = cudaGraphLaunch(gpu_.graphs[bi], tick_);
    if (err == cudaSuccess)
      err = cudaMemcpyAsync(h_y_.get(), scratch(layout_.y), sizeof(float) * static_cast<std::size_t>(k) * plan_.H,
                            cudaMemcpyDeviceToHost, tick_);
    if (err == cudaSuccess && info)
      err = cudaMemcpyAsync(h_age_.get(), scratch(layout_.age), sizeof(uint32_t) * k, cudaMemcpyDeviceToHost, tick_);
    if (err == cudaSuccess) err = cudaStreamSynchronize(tick_);
    if (err != cudaSuccess) {
      ++errors_;
      std::fill(y, y + static_cast<std::size_t>(k) * plan_.H, NAN);
      if (info) std::fill(info, info + k, StepOutput{});
      return;
    }
    std::memcpy(y, h_y_.get(), sizeof(float) * static_cast<std::size_t>(k) * plan_.H);
    if (info)
      for (int r = 0; r < k; ++r) info[r] = StepOutput{plan_.n_attention > 0 ? h_age_.get()[r] : 0u, false};
  }

  int max_instruments_, max_batch_;
  Plan plan_;
  std::vector<int> buckets_;
  ScratchLayout layout_;
  DeviceBuf<float> weights_;       // the plan's arena
  DeviceBuf<std::byte> slab_;      // [max_instruments, state_bytes]
  DeviceBuf<std::byte> scratch_;   // ScratchLayout for max_batch rows (the graphs' static buffers)
  PinnedBuf<int32_t> h_slots_;     // [max_batch]
  PinnedBuf<float> h_x_, h_y_;     // [max_batch, F], [max_batch, H]
  PinnedBuf<uint32_t> h_age_;      // [max_batch]
  PinnedBuf<std::byte> h_state_;   // [state_bytes]
  GpuHandles gpu_;                 // declared after the buffers: destroyed first (synchronises the stream)
  cudaStream_t tick_ = nullptr;    // gpu_.tick
  uint64_t errors_ = 0;            // failed steps (their outputs are NaN)
};

}  // namespace
}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(const Model& model, int max_instruments, int max_batch) {
  return std::make_unique<cuda::CudaBackend>(model, max_instruments, max_batch);
}

}  // namespace tickrt
