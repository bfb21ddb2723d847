// HdrHistogram, written small: a log-linear histogram of non-negative integer values (latencies in ns) with a
// fixed relative precision, constant memory and a record() of a few ns. Bucketing, percentile, mean/stddev and
// `.hgrm` output follow the Java reference (HdrHistogram.AbstractHistogram) so numbers compare one for one.
//
// Geometry (all fixed at construction; the counts array is the only allocation):
//   sub_bucket_count  = 2^ceil(log2(2 * 10^digits))   values below it (in units) are exact
//   unit_magnitude    = floor(log2(lowest_discernible))
//   bucket b covers [sub_bucket_half_count, sub_bucket_count) << (b + unit_magnitude); bucket 0 also covers [0, half)
//   index(v)          = ((b + 1) << half_count_magnitude) + (v >> (b + unit_magnitude)) - half_count,
//                       b = bit_width(v | sub_bucket_mask) - unit_magnitude - (half_count_magnitude + 1)
// so any two values in one slot differ by less than 10^-digits of either (relative error <= 10^-digits).
//
// Threads: NOT thread-safe, on purpose (no atomics, no locks on the hot path). Give each recording thread its own
// histogram of the same geometry; the reader merges them with add() at report time, after the writers have
// handed their histograms over (or stopped). Never read a histogram another thread is recording into.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace tickrt {

class HdrHistogram {
 public:
  // Throws std::runtime_error naming the bad field when: lowest_discernible < 1, digits outside 1..5,
  // highest_trackable < 2 * lowest_discernible, or the geometry does not fit in 63-bit values.
  HdrHistogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits);

  // ---- hot path: no allocation, no locks, no throw -------------------------------------------------------------
  // Values above highest_trackable() are recorded as highest_trackable() and counted in overflow_count();
  // negative values are recorded as 0 and counted in negative_count() (both count samples, so record_n adds n).
  void record(int64_t value) noexcept { record_n(value, 1); }
  void record_n(int64_t value, int64_t count) noexcept {
    if (count <= 0) return;  // nothing to add; a negative count must not un-record samples
    const int64_t v = clamp_counted(value, count);
    counts_[index_of(v)] += count;
    total_count_ += count;
    min_raw_ = std::min(min_raw_, v);
    max_raw_ = std::max(max_raw_, v);
  }
  // Coordinated-omission correction (Java recordValueWithExpectedInterval): records value, then the samples a
  // stalled recorder missed, value - k*interval for k = 1, 2, ... while >= interval. Bulk-adds per slot, so it
  // costs at most one step per slot touched, never value/interval steps. interval <= 0 records just the value.
  void record_corrected(int64_t value, int64_t expected_interval) noexcept;

  // ---- setup / reader side ----------------------------------------------------------------------------------------
  // Adds other's counts into this one. Throws std::runtime_error if the geometries (lowest, highest, digits) differ.
  void add(const HdrHistogram& other);
  void reset() noexcept;
  bool same_geometry(const HdrHistogram& other) const noexcept;

  int64_t total_count() const noexcept { return total_count_; }
  int64_t overflow_count() const noexcept { return overflow_count_; }
  int64_t negative_count() const noexcept { return negative_count_; }

  // Reference semantics: min() is the lowest equivalent of the smallest recorded value, max() the highest
  // equivalent of the largest; mean()/stddev() weight each slot by its median equivalent value. 0 when empty.
  int64_t min() const noexcept;
  int64_t max() const noexcept;
  double mean() const noexcept;
  double stddev() const noexcept;
  // Java getValueAtPercentile: target count = max(1, ceil(nextafter(p, -inf)/100 * total)); returns the highest
  // equivalent value of the first slot whose cumulative count reaches it (lowest equivalent for p == 0).
  // p is clamped to 0..100; NaN reads as 0.
  int64_t value_at_percentile(double percentile) const noexcept;
  int64_t count_at(int64_t value) const noexcept { return counts_[index_of(clamp(value))]; }

  // Equivalent ranges: values that land in the same slot are "equivalent".
  int64_t lowest_equivalent(int64_t value) const noexcept;
  int64_t highest_equivalent(int64_t value) const noexcept { return next_non_equivalent(value) - 1; }
  int64_t median_equivalent(int64_t value) const noexcept;
  int64_t size_of_equivalent_range(int64_t value) const noexcept;
  int64_t next_non_equivalent(int64_t value) const noexcept;
  bool values_are_equivalent(int64_t a, int64_t b) const noexcept {
    return lowest_equivalent(a) == lowest_equivalent(b);
  }

  // Geometry and raw slots, for iteration (the .hgrm writer) and tools.
  int64_t lowest_discernible() const noexcept { return lowest_discernible_; }
  int64_t highest_trackable() const noexcept { return highest_trackable_; }
  int significant_digits() const noexcept { return significant_digits_; }
  int unit_magnitude() const noexcept { return unit_magnitude_; }
  int32_t sub_bucket_count() const noexcept { return sub_bucket_count_; }
  int32_t bucket_count() const noexcept { return bucket_count_; }
  size_t counts_len() const noexcept { return counts_.size(); }
  int64_t count_at_index(size_t index) const noexcept { return counts_[index]; }
  int64_t value_at_index(size_t index) const noexcept;

 private:
  int64_t clamp(int64_t value) const noexcept { return std::clamp<int64_t>(value, 0, highest_trackable_); }
  int64_t clamp_counted(int64_t value, int64_t count) noexcept {
    // Counters add count * 0/1 so the common case stays free of unpredictable branches.
    overflow_count_ += count * static_cast<int64_t>(value > highest_trackable_);
    negative_count_ += count * static_cast<int64_t>(value < 0);
    return clamp(value);
  }
  int32_t bucket_index_of(int64_t v) const noexcept {
    // v | mask forces at least sub_bucket_count's magnitude, so small values all land in bucket 0.
    return static_cast<int32_t>(std::bit_width(static_cast<uint64_t>(v | sub_bucket_mask_))) - unit_magnitude_ -
           (sub_bucket_half_count_magnitude_ + 1);
  }
  size_t index_of(int64_t v) const noexcept {
    const int32_t bucket = bucket_index_of(v);
    const int64_t sub_bucket = v >> (bucket + unit_magnitude_);
    return static_cast<size_t>((static_cast<int64_t>(bucket + 1) << sub_bucket_half_count_magnitude_) + sub_bucket -
                               sub_bucket_half_count_);
  }

  int64_t lowest_discernible_;
  int64_t highest_trackable_;
  int significant_digits_;
  int unit_magnitude_ = 0;
  int32_t sub_bucket_half_count_magnitude_ = 0;
  int32_t sub_bucket_count_ = 0;
  int32_t sub_bucket_half_count_ = 0;
  int64_t sub_bucket_mask_ = 0;
  int32_t bucket_count_ = 0;

  std::vector<int64_t> counts_;  // [(bucket_count + 1) * sub_bucket_half_count], sized once at construction
  int64_t total_count_ = 0;
  int64_t overflow_count_ = 0;
  int64_t negative_count_ = 0;
  int64_t min_raw_ = INT64_MAX;  // smallest clamped value recorded
  int64_t max_raw_ = 0;          // largest clamped value recorded
};

// ---- .hgrm: HdrHistogram's percentile distribution text (Java outputPercentileDistribution) ----------------------

// One step of the percentile iterator: ticks_per_half_distance equal steps per half of the remaining distance to
// 100%, then a last step at exactly 100%.
struct HdrPercentileStep {
  int64_t value = 0;          // highest equivalent value of the slot reached
  double percentile = 0.0;    // percentile level iterated to, 0..100
  int64_t total_count = 0;    // cumulative count up to and including the slot
};
std::vector<HdrPercentileStep> percentile_steps(const HdrHistogram& h, int ticks_per_half_distance);

// Writes the .hgrm text: header, rows "%12.<digits>f %2.12f %10d %14.2f" (the 100% row without the last column),
// footer with mean, stddev, max, total count, buckets and sub-buckets. Values are divided by value_scaling
// (e.g. 1000.0 to print microseconds from nanoseconds). Throws std::runtime_error if value_scaling <= 0 or
// ticks_per_half_distance < 1.
void write_hgrm(std::ostream& out, const HdrHistogram& h, double value_scaling = 1.0,
                int ticks_per_half_distance = 5);
std::string format_hgrm(const HdrHistogram& h, double value_scaling = 1.0, int ticks_per_half_distance = 5);

struct HgrmRow {
  double value = 0.0;       // as printed (scaled)
  double percentile = 0.0;  // 0..1 as printed
  int64_t total_count = 0;
};
struct HgrmFile {
  std::vector<HgrmRow> rows;
  double mean = 0.0, stddev = 0.0, max = 0.0;  // scaled, as printed
  int64_t total_count = 0;
  int64_t buckets = 0, sub_buckets = 0;
};
// Parses .hgrm text back. Throws std::runtime_error naming source and line on a malformed row or missing footer.
HgrmFile parse_hgrm(std::istream& in, const std::string& source);
HgrmFile read_hgrm(const std::string& path);

// Micro-benchmark for the bench suite: ns per record() into a 1 ns .. 100 s, 3-digit histogram over a spread of
// log-uniform values. Prints nothing; the caller reports.
double hdr_record_ns_per_op();

}  // namespace tickrt
