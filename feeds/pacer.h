// Open-loop pacing: send each message at an absolute time on a schedule fixed at the start, never "after the
// previous send". Falling behind does not shift the schedule (no coordinated omission); the lag is measured.
#pragma once
#include <cstdint>

namespace tickrt::feeds {

struct PacingStats {
  std::uint64_t count = 0;
  std::int64_t max_lag_ns = 0;  // worst lateness of a send against its schedule
  double mean_lag_ns = 0;
};

class Pacer {
 public:
  // The schedule starts at `start_steady_ns` (CLOCK_MONOTONIC; feeds/clock.h steady_ns()).
  explicit Pacer(std::int64_t start_steady_ns);

  // Waits until start + offset_ns: sleeps while far away, spins the last stretch (sleep wakes late by tens of
  // microseconds). Returns the lateness in ns (>= 0) at return and records it.
  std::int64_t wait_until(std::int64_t offset_ns) noexcept;

  PacingStats stats() const noexcept;
  std::int64_t start_ns() const noexcept { return start_ns_; }

 private:
  std::int64_t start_ns_;
  std::uint64_t count_ = 0;
  std::int64_t max_lag_ns_ = 0;
  long double sum_lag_ns_ = 0;
};

}  // namespace tickrt::feeds
