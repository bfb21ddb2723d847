// The two clocks of the feed path. Wall-clock (CLOCK_REALTIME) nanoseconds stamp messages (send_time_ns,
// receive times) so that two processes on one host can compare them; steady nanoseconds pace schedules and
// measure intervals, immune to clock steps.
#pragma once
#include <time.h>

#include <cstdint>

namespace tickrt::feeds {

inline std::int64_t realtime_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t steady_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace tickrt::feeds
