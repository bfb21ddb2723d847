#include "feeds/pacer.h"

#include <algorithm>
#include <thread>
#include <chrono>

#include "feeds/clock.h"

namespace tickrt::feeds {

namespace {
constexpr std::int64_t kSpinWindowNs = 200'000;  // spin the last 200 us; sleep() overshoots by ~50-100 us
}

Pacer::Pacer(std::int64_t start_steady_ns) : start_ns_(start_steady_ns) {}

std::int64_t Pacer::wait_until(std::int64_t offset_ns) noexcept {
  const std::int64_t target = start_ns_ + offset_ns;
  std::int64_t now = steady_ns();
  if (target - now > kSpinWindowNs) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(target - now - kSpinWindowNs));
    now = steady_ns();
  }
  while (now < target) now = steady_ns();
  const std::int64_t lag = now - target;
  ++count_;
  max_lag_ns_ = std::max(max_lag_ns_, lag);
  sum_lag_ns_ += lag;
  return lag;
}

PacingStats Pacer::stats() const noexcept {
  PacingStats s;
  s.count = count_;
  s.max_lag_ns = max_lag_ns_;
  s.mean_lag_ns = count_ ? static_cast<double>(sum_lag_ns_ / count_) : 0.0;
  return s;
}

}  // namespace tickrt::feeds
