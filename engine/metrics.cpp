#include "engine/metrics.h"

#include <fmt/core.h>

#include <set>

namespace tickrt {

void MetricsRegistry::counter(const std::string& name, const std::string& help, const std::string& labels,
                              std::function<double()> read) {
  series_.push_back({Kind::counter, name, help, labels, std::move(read), {}, {}});
}

void MetricsRegistry::gauge(const std::string& name, const std::string& help, const std::string& labels,
                            std::function<double()> read) {
  series_.push_back({Kind::gauge, name, help, labels, std::move(read), {}, {}});
}

void MetricsRegistry::summary(const std::string& name, const std::string& help, const std::string& labels,
                              std::function<Quantiles()> read) {
  series_.push_back({Kind::summary, name, help, labels, {}, std::move(read), {}});
}

void MetricsRegistry::counter_family(const std::string& name, const std::string& help,
                                     std::function<LabelledValues()> read) {
  series_.push_back({Kind::counter, name, help, {}, {}, {}, std::move(read)});
}

namespace {

const char* type_name(MetricsRegistry::Kind k) {
  switch (k) {
    case MetricsRegistry::Kind::counter: return "counter";
    case MetricsRegistry::Kind::gauge: return "gauge";
    case MetricsRegistry::Kind::summary: return "summary";
  }
  return "untyped";
}

std::string braces(const std::string& labels, const std::string& extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  if (labels.empty()) return "{" + extra + "}";
  if (extra.empty()) return "{" + labels + "}";
  return "{" + labels + "," + extra + "}";
}

// A family shows in the log line as its sum, so one line stays one line however many instruments it has.
double family_sum(const MetricsRegistry::LabelledValues& values) {
  double sum = 0;
  for (const auto& [labels, value] : values) sum += value;
  return sum;
}

}  // namespace

std::string MetricsRegistry::render_prometheus() const {
  std::string out;
  std::set<std::string> headed;
  for (const Series& s : series_) {
    if (headed.insert(s.name).second) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", s.name, s.help, s.name, type_name(s.kind));
    }
    if (s.read_family) {
      for (const auto& [labels, value] : s.read_family()) out += fmt::format("{}{} {}\n", s.name, braces(labels), value);
      continue;
    }
    if (s.kind != Kind::summary) {
      out += fmt::format("{}{} {}\n", s.name, braces(s.labels), s.read_value());
      continue;
    }
    const Quantiles q = s.read_quantiles();
    for (const auto& [quantile, value] : q.values)
      out += fmt::format("{}{} {}\n", s.name, braces(s.labels, fmt::format("quantile=\"{}\"", quantile)), value);
    out += fmt::format("{}_sum{} {}\n", s.name, braces(s.labels), q.sum);
    out += fmt::format("{}_count{} {}\n", s.name, braces(s.labels), q.count);
  }
  return out;
}

std::string MetricsRegistry::render_line() const {
  std::string out;
  for (const Series& s : series_) {
    if (s.kind == Kind::summary) continue;
    const double v = s.read_family ? family_sum(s.read_family()) : s.read_value();
    if (s.kind == Kind::counter && v == 0) continue;  // keep the log line short: zero counters are noise
    if (!out.empty()) out += ' ';
    out += fmt::format("{}{}={}", s.name, braces(s.labels), v);
  }
  return out;
}

}  // namespace tickrt
