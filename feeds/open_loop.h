// The open-loop sender: takes ticks from a TickGenerator and publishes each at its scheduled time (absolute,
// from the start), stamping send_time_ns just before handing it to the sink. It never waits for a receiver:
// a sink that cannot take a message drops and counts it, and lateness against the schedule is measured.
#pragma once
#include <atomic>
#include <cstdint>

#include "feeds/generator.h"
#include "feeds/message_sink.h"
#include "feeds/pacer.h"

namespace tickrt::feeds {

struct OpenLoopOptions {
  std::uint64_t count = 0;   // stop after this many ticks (0: no limit)
  double duration_s = 0;     // stop at this schedule offset, seconds (0: no limit); one of the two must be set
  bool paced = true;         // false: as fast as possible (writing a file)
};

struct OpenLoopReport {
  std::uint64_t attempted = 0;  // ticks handed to the sink
  std::uint64_t sent = 0;       // accepted by the sink
  std::uint64_t dropped = 0;    // refused by the sink (e.g. send high-water mark)
  PacingStats pacing;           // lateness against the schedule (paced runs)
  double elapsed_s = 0;         // wall time of the run
  double achieved_rate = 0;     // attempted / elapsed_s
};

// Runs until count/duration is reached or `*stop` becomes true. Throws std::runtime_error when neither
// count nor duration is set.
OpenLoopReport run_open_loop(TickGenerator& generator, MessageSink& sink, const OpenLoopOptions& options,
                             const std::atomic<bool>* stop = nullptr);

}  // namespace tickrt::feeds
