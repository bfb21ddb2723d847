// The refresh thread (MODEL-SPEC §5 with refresh_lag >= 1): the engine's hot thread hands it the attention
// refreshes its steps deferred, through a single-producer single-consumer ring, and keeps stepping; the worker
// runs each with Backend::run_refresh(). The backend itself makes a tick that needs a refresh wait for it (or
// fall back to the previous one under the stale policy), so this class only moves jobs.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "kernels/backend.h"

namespace tickrt {

class RefreshWorker {
 public:
  // capacity: jobs in flight before the hot thread runs one itself (a power of two is used).
  RefreshWorker(Backend& backend, size_t capacity, int cpu = -1);
  ~RefreshWorker();
  RefreshWorker(const RefreshWorker&) = delete;
  RefreshWorker& operator=(const RefreshWorker&) = delete;

  // Hot thread: takes the jobs of the last step from the backend and queues them. Allocates nothing, never
  // blocks: with the ring full, a job runs right here (counted in ran_inline()).
  void dispatch();
  // Waits until every queued job has run (before snapshots and shutdown). Hot thread.
  void drain();

  uint64_t dispatched() const { return dispatched_; }
  uint64_t ran_inline() const { return ran_inline_; }
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }

 private:
  void loop(int cpu);

  Backend& backend_;
  std::vector<RefreshJob> ring_;   // [capacity]
  size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // next slot the hot thread writes
  alignas(64) std::atomic<uint64_t> tail_{0};  // next slot the worker reads
  alignas(64) std::atomic<uint64_t> completed_{0};
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<uint32_t> wakeups_{0};  // bumped by every dispatch and by stop: what the worker waits on
  std::vector<RefreshJob> batch_;  // [capacity] jobs taken from the backend per dispatch
  uint64_t dispatched_ = 0, ran_inline_ = 0;
  std::thread thread_;
};

}  // namespace tickrt
