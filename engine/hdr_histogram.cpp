// HdrHistogram: geometry, reader-side statistics, the percentile iterator and .hgrm text in/out.
// The hot path (record) is inline in the header.
#include "engine/hdr_histogram.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace tickrt {

namespace {

// Java getBucketsNeededToCoverValue: bucket k holds up to sub_bucket_count << (unit + k).
int32_t buckets_needed_to_cover(int64_t value, int32_t sub_bucket_count, int unit_magnitude) {
  int64_t smallest_untrackable = static_cast<int64_t>(sub_bucket_count) << unit_magnitude;
  int32_t buckets = 1;
  while (smallest_untrackable <= value) {
    if (smallest_untrackable > std::numeric_limits<int64_t>::max() / 2) return buckets + 1;
    smallest_untrackable <<= 1;
    ++buckets;
  }
  return buckets;
}

}  // namespace

HdrHistogram::HdrHistogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits)
    : lowest_discernible_(lowest_discernible),
      highest_trackable_(highest_trackable),
      significant_digits_(significant_digits) {
  if (lowest_discernible < 1)
    throw std::runtime_error(fmt::format("HdrHistogram: lowest_discernible must be >= 1, got {}", lowest_discernible));
  if (significant_digits < 1 || significant_digits > 5)
    throw std::runtime_error(
        fmt::format("HdrHistogram: significant_digits must be in 1..5, got {}", significant_digits));
  if (highest_trackable / 2 < lowest_discernible)
    throw std::runtime_error(fmt::format(
        "HdrHistogram: highest_trackable ({}) must be >= 2 * lowest_discernible ({})", highest_trackable,
        lowest_discernible));

  int64_t single_unit_resolution_limit = 2;  // 2 * 10^digits: values below it must be exact
  for (int i = 0; i < significant_digits; ++i) single_unit_resolution_limit *= 10;
  const int sub_bucket_count_magnitude =
      static_cast<int>(std::bit_width(static_cast<uint64_t>(single_unit_resolution_limit - 1)));  // ceil(log2)
  sub_bucket_half_count_magnitude_ = std::max(sub_bucket_count_magnitude, 1) - 1;
  unit_magnitude_ = static_cast<int>(std::bit_width(static_cast<uint64_t>(lowest_discernible))) - 1;  // floor(log2)
  if (unit_magnitude_ + sub_bucket_half_count_magnitude_ > 61)
    throw std::runtime_error(fmt::format(
        "HdrHistogram: lowest_discernible {} with {} significant_digits exceeds 63-bit values", lowest_discernible,
        significant_digits));
  sub_bucket_count_ = int32_t{1} << (sub_bucket_half_count_magnitude_ + 1);
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = (static_cast<int64_t>(sub_bucket_count_) - 1) << unit_magnitude_;
  bucket_count_ = buckets_needed_to_cover(highest_trackable, sub_bucket_count_, unit_magnitude_);
  counts_.assign(static_cast<size_t>(bucket_count_ + 1) * static_cast<size_t>(sub_bucket_half_count_), 0);
}

void HdrHistogram::record_corrected(int64_t value, int64_t expected_interval) noexcept {
  record(value);
  if (expected_interval <= 0) return;
  // Missing samples: m = v - interval, v - 2*interval, ... while m >= interval. All of them that fall in one slot
  // are added at once: n = how many terms of the progression lie in [max(slot low, interval), m].
  int64_t missing = clamp(value) - expected_interval;
  int64_t smallest = -1;
  while (missing >= expected_interval) {
    const int64_t low = std::max(lowest_equivalent(missing), expected_interval);
    const int64_t n = (missing - low) / expected_interval + 1;
    counts_[index_of(missing)] += n;
    total_count_ += n;
    smallest = missing - (n - 1) * expected_interval;
    missing = smallest - expected_interval;
  }
  if (smallest >= 0) min_raw_ = std::min(min_raw_, smallest);
}

bool HdrHistogram::same_geometry(const HdrHistogram& other) const noexcept {
  return lowest_discernible_ == other.lowest_discernible_ && highest_trackable_ == other.highest_trackable_ &&
         significant_digits_ == other.significant_digits_;
}

void HdrHistogram::add(const HdrHistogram& other) {
  if (!same_geometry(other))
    throw std::runtime_error(fmt::format(
        "HdrHistogram::add: geometry differs (lowest_discernible {} vs {}, highest_trackable {} vs {}, "
        "significant_digits {} vs {})",
        lowest_discernible_, other.lowest_discernible_, highest_trackable_, other.highest_trackable_,
        significant_digits_, other.significant_digits_));
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_count_ += other.total_count_;
  overflow_count_ += other.overflow_count_;
  negative_count_ += other.negative_count_;
  min_raw_ = std::min(min_raw_, other.min_raw_);
  max_raw_ = std::max(max_raw_, other.max_raw_);
}

void HdrHistogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_count_ = overflow_count_ = negative_count_ = 0;
  min_raw_ = INT64_MAX;
  max_raw_ = 0;
}

int64_t HdrHistogram::value_at_index(size_t index) const noexcept {
  int32_t bucket = static_cast<int32_t>(index >> sub_bucket_half_count_magnitude_) - 1;
  int64_t sub_bucket = static_cast<int64_t>(index & static_cast<size_t>(sub_bucket_half_count_ - 1)) +
                       sub_bucket_half_count_;
  if (bucket < 0) {  // the first half-bucket: values 0 .. half_count-1 units
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return sub_bucket << (bucket + unit_magnitude_);
}

int64_t HdrHistogram::lowest_equivalent(int64_t value) const noexcept {
  const int64_t v = clamp(value);
  const int32_t bucket = bucket_index_of(v);
  const int64_t sub_bucket = v >> (bucket + unit_magnitude_);
  return sub_bucket << (bucket + unit_magnitude_);
}

int64_t HdrHistogram::size_of_equivalent_range(int64_t value) const noexcept {
  const int64_t v = clamp(value);
  const int32_t bucket = bucket_index_of(v);
  const int64_t sub_bucket = v >> (bucket + unit_magnitude_);
  const int32_t adjusted = sub_bucket >= sub_bucket_count_ ? bucket + 1 : bucket;
  return int64_t{1} << (unit_magnitude_ + adjusted);
}

int64_t HdrHistogram::next_non_equivalent(int64_t value) const noexcept {
  return lowest_equivalent(value) + size_of_equivalent_range(value);
}

int64_t HdrHistogram::median_equivalent(int64_t value) const noexcept {
  return lowest_equivalent(value) + (size_of_equivalent_range(value) >> 1);
}

int64_t HdrHistogram::min() const noexcept { return total_count_ == 0 ? 0 : lowest_equivalent(min_raw_); }

int64_t HdrHistogram::max() const noexcept { return max_raw_ == 0 ? 0 : highest_equivalent(max_raw_); }

double HdrHistogram::mean() const noexcept {
  if (total_count_ == 0) return 0.0;
  double total = 0.0;
  for (size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i] != 0) total += static_cast<double>(median_equivalent(value_at_index(i))) * counts_[i];
  return total / static_cast<double>(total_count_);
}

double HdrHistogram::stddev() const noexcept {
  if (total_count_ == 0) return 0.0;
  const double m = mean();
  double total = 0.0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const double d = static_cast<double>(median_equivalent(value_at_index(i))) - m;
    total += d * d * static_cast<double>(counts_[i]);
  }
  return std::sqrt(total / static_cast<double>(total_count_));
}

int64_t HdrHistogram::value_at_percentile(double percentile) const noexcept {
  if (total_count_ == 0) return 0;
  if (std::isnan(percentile)) percentile = 0.0;
  // One ulp below the request so 99.9% of 1e6 (999000.0000000001 in doubles) does not round up a whole count.
  const double requested =
      std::clamp(std::nextafter(percentile, -std::numeric_limits<double>::infinity()), 0.0, 100.0);
  const auto target =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(requested / 100.0 * static_cast<double>(total_count_))));
  int64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    if (cumulative >= target) {
      const int64_t v = value_at_index(i);
      return percentile == 0.0 ? lowest_equivalent(v) : highest_equivalent(v);
    }
  }
  return 0;  // unreachable while total_count_ matches the counts
}

// ---- percentile iterator (Java PercentileIterator) ---------------------------------------------------------------

std::vector<HdrPercentileStep> percentile_steps(const HdrHistogram& h, int ticks_per_half_distance) {
  std::vector<HdrPercentileStep> steps;
  const int64_t total = h.total_count();
  if (total == 0) return steps;
  if (ticks_per_half_distance < 1)
    throw std::runtime_error(
        fmt::format("percentile_steps: ticks_per_half_distance must be >= 1, got {}", ticks_per_half_distance));
  double level = 0.0;  // percentile level to iterate to
  int64_t cumulative = 0;
  int64_t last_value = 0;  // highest equivalent of the last non-empty slot
  for (size_t i = 0; i < h.counts_len() && cumulative < total; ++i) {
    const int64_t count = h.count_at_index(i);
    if (count == 0) continue;
    cumulative += count;
    last_value = h.highest_equivalent(h.value_at_index(i));
    const double current = 100.0 * static_cast<double>(cumulative) / static_cast<double>(total);
    // One slot may satisfy several levels: emit a step for each, as the reference does; the slot that completes
    // the count emits at most one (the reference's hasNext() is false once every count was visited).
    while (level < 100.0 && current >= level) {
      steps.push_back({last_value, level, cumulative});
      // Fixed-size ticks within each half of the remaining distance to 100%; the tick halves at each crossing.
      const auto halvings = static_cast<int64_t>(std::log(100.0 / (100.0 - level)) / std::log(2.0)) + 1;
      const double reporting_ticks = ticks_per_half_distance * std::pow(2.0, static_cast<double>(halvings));
      level += 100.0 / reporting_ticks;
      if (cumulative == total) break;
    }
  }
  // The final step at exactly 100%, at the last recorded slot.
  steps.push_back({last_value, 100.0, total});
  return steps;
}

void write_hgrm(std::ostream& out, const HdrHistogram& h, double value_scaling, int ticks_per_half_distance) {
  out << format_hgrm(h, value_scaling, ticks_per_half_distance);
}

std::string format_hgrm(const HdrHistogram& h, double value_scaling, int ticks_per_half_distance) {
  if (!(value_scaling > 0.0))
    throw std::runtime_error(fmt::format("format_hgrm: value_scaling must be > 0, got {}", value_scaling));
  const int d = h.significant_digits();
  std::string s = fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount",
                              "1/(1-Percentile)");
  for (const HdrPercentileStep& step : percentile_steps(h, ticks_per_half_distance)) {
    const double value = static_cast<double>(step.value) / value_scaling;
    const double p = step.percentile / 100.0;
    if (step.percentile != 100.0)
      s += fmt::format("{:12.{}f} {:2.12f} {:10d} {:14.2f}\n", value, d, p, step.total_count, 1.0 / (1.0 - p));
    else
      s += fmt::format("{:12.{}f} {:2.12f} {:10d}\n", value, d, p, step.total_count);
  }
  s += fmt::format("#[Mean    = {:12.{}f}, StdDeviation   = {:12.{}f}]\n", h.mean() / value_scaling, d,
                   h.stddev() / value_scaling, d);
  s += fmt::format("#[Max     = {:12.{}f}, Total count    = {:12d}]\n", static_cast<double>(h.max()) / value_scaling,
                   d, h.total_count());
  s += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", h.bucket_count(), h.sub_bucket_count());
  return s;
}

// ---- .hgrm parser ------------------------------------------------------------------------------------------------

HgrmFile parse_hgrm(std::istream& in, const std::string& source) {
  HgrmFile f;
  bool have_mean = false, have_max = false, have_buckets = false;
  std::string line;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error(fmt::format("{}:{}: {}: '{}'", source, line_no, why, line));
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line.find("Value") != std::string::npos && line.find("Percentile") != std::string::npos) continue;
    if (line.rfind("#[", 0) == 0) {
      long long a = 0, b = 0;
      if (std::sscanf(line.c_str(), "#[Mean = %lf, StdDeviation = %lf]", &f.mean, &f.stddev) == 2) {
        have_mean = true;
      } else if (std::sscanf(line.c_str(), "#[Max = %lf, Total count = %lld]", &f.max, &a) == 2) {
        f.total_count = a;
        have_max = true;
      } else if (std::sscanf(line.c_str(), "#[Buckets = %lld, SubBuckets = %lld]", &a, &b) == 2) {
        f.buckets = a;
        f.sub_buckets = b;
        have_buckets = true;
      } else {
        fail("unknown footer line");
      }
      continue;
    }
    std::istringstream row(line);
    HgrmRow r;
    if (!(row >> r.value >> r.percentile >> r.total_count)) fail("malformed row (want value percentile count)");
    if (r.percentile < 0.0 || r.percentile > 1.0) fail("percentile outside 0..1");
    f.rows.push_back(r);
  }
  if (!have_mean || !have_max || !have_buckets)
    throw std::runtime_error(fmt::format("{}: footer incomplete (Mean {}, Max {}, Buckets {})", source,
                                         have_mean ? "ok" : "missing", have_max ? "ok" : "missing",
                                         have_buckets ? "ok" : "missing"));
  return f;
}

HgrmFile read_hgrm(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("read_hgrm: cannot open {}", path));
  return parse_hgrm(in, path);
}

// ---- micro-benchmark ---------------------------------------------------------------------------------------------

double hdr_record_ns_per_op() {
  HdrHistogram h(1, 100'000'000'000, 3);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> log10_value(1.0, 8.0);  // 10 ns .. 100 ms
  std::vector<int64_t> values(4096);                             // [4096] pre-drawn so the loop times record only
  for (auto& v : values) v = static_cast<int64_t>(std::pow(10.0, log10_value(rng)));
  constexpr int kOps = 20'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kOps; ++i) h.record(values[static_cast<size_t>(i) & 4095]);
  const auto t1 = std::chrono::steady_clock::now();
  if (h.total_count() != kOps) throw std::runtime_error("hdr_record_ns_per_op: lost records");
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / kOps;
}

}  // namespace tickrt
