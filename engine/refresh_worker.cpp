#include "engine/refresh_worker.h"

#include <pthread.h>
#include <sched.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tickrt {

namespace {
void pause() {
#if defined(__SSE2__)
  _mm_pause();
#endif
}
}  // namespace

RefreshWorker::RefreshWorker(Backend& backend, size_t capacity, int cpu) : backend_(backend) {
  size_t n = 64;
  while (n < capacity) n <<= 1;
  ring_.resize(n);
  mask_ = n - 1;
  batch_.resize(n);
  thread_ = std::thread([this, cpu] { loop(cpu); });
}

RefreshWorker::~RefreshWorker() {
  stop_.store(true, std::memory_order_release);
  wakeups_.fetch_add(1, std::memory_order_release);  // atomic::wait only returns once the value changed
  wakeups_.notify_one();
  thread_.join();
}

void RefreshWorker::dispatch() {
  const int n = backend_.take_refresh_jobs(batch_.data(), static_cast<int>(batch_.size()));
  if (n == 0) return;
  uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (head - tail >= ring_.size()) {  // full: never block the hot thread, never drop a job
      backend_.run_refresh(batch_[i]);
      ++ran_inline_;
      continue;
    }
    ring_[head & mask_] = batch_[i];
    ++head;
    ++dispatched_;
  }
  head_.store(head, std::memory_order_release);
  wakeups_.fetch_add(1, std::memory_order_release);
  wakeups_.notify_one();
}

void RefreshWorker::drain() {
  while (completed_.load(std::memory_order_acquire) < dispatched_) pause();
}

void RefreshWorker::loop(int cpu) {
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  set_ftz_daz();
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  while (true) {
    const uint32_t seen = wakeups_.load(std::memory_order_acquire);
    uint64_t head = head_.load(std::memory_order_acquire);
    if (head == tail) {
      // Spin briefly (a refresh is usually dispatched every few ticks), then sleep until the next dispatch.
      for (int spins = 0; spins < 2000 && head == tail; ++spins) {
        pause();
        head = head_.load(std::memory_order_acquire);
      }
      if (head == tail) {
        if (stop_.load(std::memory_order_acquire)) return;
        wakeups_.wait(seen, std::memory_order_acquire);
        continue;
      }
    }
    for (; tail != head; ++tail) {
      backend_.run_refresh(ring_[tail & mask_]);
      tail_.store(tail + 1, std::memory_order_release);
      completed_.fetch_add(1, std::memory_order_release);
    }
  }
}

}  // namespace tickrt
