// Per-stage latency recording from a tick's stage stamps (ARCHITECTURE "Data flow of one tick"):
//   stamps: t_recv ──decode──► t_decoded ──model──► t_model ──publish──► t_sent
// N+1 monotonic stamps give N stage histograms (stamps[i+1] - stamps[i]) plus one end-to-end histogram
// (stamps[N] - stamps[0]), all in nanoseconds and of one geometry so threads' recorders merge with add().
//
// Threads: like HdrHistogram, one StageLatencies per recording thread; the reader merges copies at report time.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/hdr_histogram.h"

namespace tickrt {

// A monotonic stamp clock for callers that measure within one process. All stamps of one tick must come from
// one clock: the engine stamps with feeds::realtime_ns() so its stamps compare with the publisher's send time.
inline int64_t latency_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class StageLatencies {
 public:
  // stage_names: one per interval between consecutive stamps, e.g. {"decode", "model", "publish"}.
  // Throws std::runtime_error on an empty list, an empty or duplicate name, or the name "total" (reserved).
  explicit StageLatencies(std::vector<std::string> stage_names, int64_t highest_ns = 60'000'000'000,
                          int significant_digits = 3);

  // Hot path: stamps has stage_count() + 1 entries. A wrong-sized span is not recorded and is counted in
  // rejected_wrong_size(); stamps out of order record 0 and are counted by the stage histogram's negative_count().
  // expected_interval_ns > 0 (the open-loop send interval) corrects coordinated omission on the end-to-end
  // histogram only: a stall delays every later tick end to end, while each stage saw just its own samples.
  void record(std::span<const int64_t> stamps, int64_t expected_interval_ns = 0) noexcept;

  // Reader side.
  void add(const StageLatencies& other);  // throws std::runtime_error when stage names or geometry differ
  void reset() noexcept;
  size_t stage_count() const noexcept { return names_.size(); }
  const std::string& stage_name(size_t i) const { return names_.at(i); }
  const HdrHistogram& stage(size_t i) const { return stages_.at(i); }
  const HdrHistogram& total() const noexcept { return total_; }
  int64_t rejected_wrong_size() const noexcept { return rejected_wrong_size_; }

  // One line per stage and the total: count, p50, p90, p99, p99.9, p99.99, max in microseconds.
  std::string summary() const;
  // Writes <dir>/<prefix><stage>.hgrm for every stage and <dir>/<prefix>total.hgrm (values printed in us).
  // Returns the paths written; throws std::runtime_error naming a file it cannot write.
  std::vector<std::string> write_hgrm_files(const std::string& dir, const std::string& prefix = "") const;

 private:
  std::vector<std::string> names_;   // [stage_count]
  std::vector<HdrHistogram> stages_; // [stage_count], stamps[i+1] - stamps[i]
  HdrHistogram total_;               // stamps.back() - stamps.front()
  int64_t rejected_wrong_size_ = 0;
};

}  // namespace tickrt
