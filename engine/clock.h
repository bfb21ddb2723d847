// The one clock of tickrt's stamps: CLOCK_REALTIME in ns since the epoch. It is what publishers stamp into
// Tick.send_time_ns, so stamps taken by the generator, the engine and a subscriber on one host compare
// directly (across hosts they are only as good as the hosts' clock sync). clock_gettime here is a vDSO call
// (tens of ns), cheap enough for every stage of every tick.
#pragma once
#include <time.h>

#include <cstdint>

namespace tickrt {

inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace tickrt
