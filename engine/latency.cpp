// StageLatencies: stage stamps -> per-stage and end-to-end HdrHistograms, summaries and .hgrm files.
#include "engine/latency.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tickrt {

namespace {

constexpr double kNsPerUs = 1000.0;

std::vector<HdrHistogram> make_stage_histograms(size_t n, int64_t highest_ns, int digits) {
  std::vector<HdrHistogram> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.emplace_back(1, highest_ns, digits);
  return v;
}

const std::vector<std::string>& checked_names(const std::vector<std::string>& names) {
  if (names.empty()) throw std::runtime_error("StageLatencies: stage_names is empty");
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) throw std::runtime_error(fmt::format("StageLatencies: stage_names[{}] is empty", i));
    if (names[i] == "total")
      throw std::runtime_error("StageLatencies: stage name 'total' is reserved for the end-to-end histogram");
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) !=
        names.begin() + static_cast<std::ptrdiff_t>(i))
      throw std::runtime_error(fmt::format("StageLatencies: stage name '{}' appears twice", names[i]));
  }
  return names;
}

}  // namespace

StageLatencies::StageLatencies(std::vector<std::string> stage_names, int64_t highest_ns, int significant_digits)
    : names_(checked_names(stage_names)),
      stages_(make_stage_histograms(names_.size(), highest_ns, significant_digits)),
      total_(1, highest_ns, significant_digits) {}

void StageLatencies::record(std::span<const int64_t> stamps, int64_t expected_interval_ns) noexcept {
  if (stamps.size() != names_.size() + 1) {
    ++rejected_wrong_size_;
    return;
  }
  for (size_t i = 0; i < names_.size(); ++i) stages_[i].record(stamps[i + 1] - stamps[i]);
  total_.record_corrected(stamps.back() - stamps.front(), expected_interval_ns);
}

void StageLatencies::add(const StageLatencies& other) {
  if (names_ != other.names_)
    throw std::runtime_error(fmt::format("StageLatencies::add: stage names differ ({} vs {})",
                                         fmt::join(names_, ","), fmt::join(other.names_, ",")));
  for (size_t i = 0; i < stages_.size(); ++i) stages_[i].add(other.stages_[i]);
  total_.add(other.total_);
  rejected_wrong_size_ += other.rejected_wrong_size_;
}

void StageLatencies::reset() noexcept {
  for (auto& h : stages_) h.reset();
  total_.reset();
  rejected_wrong_size_ = 0;
}

std::string StageLatencies::summary() const {
  std::string s = fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}  (us)\n", "stage", "count",
                              "p50", "p90", "p99", "p99.9", "p99.99", "max");
  auto line = [&s](const std::string& name, const HdrHistogram& h) {
    s += fmt::format("{:<10} {:>10}", name, h.total_count());
    for (double p : {50.0, 90.0, 99.0, 99.9, 99.99})
      s += fmt::format(" {:>10.3f}", static_cast<double>(h.value_at_percentile(p)) / kNsPerUs);
    s += fmt::format(" {:>10.3f}\n", static_cast<double>(h.max()) / kNsPerUs);
  };
  for (size_t i = 0; i < names_.size(); ++i) line(names_[i], stages_[i]);
  line("total", total_);
  return s;
}

std::vector<std::string> StageLatencies::write_hgrm_files(const std::string& dir, const std::string& prefix) const {
  std::vector<std::string> paths;
  auto write = [&](const std::string& name, const HdrHistogram& h) {
    const std::string path = (std::filesystem::path(dir) / (prefix + name + ".hgrm")).string();
    std::ofstream out(path);
    if (out) write_hgrm(out, h, kNsPerUs);
    if (!out) throw std::runtime_error(fmt::format("StageLatencies: cannot write {}", path));
    paths.push_back(path);
  };
  for (size_t i = 0; i < names_.size(); ++i) write(names_[i], stages_[i]);
  write("total", total_);
  return paths;
}

}  // namespace tickrt
