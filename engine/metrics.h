// Metrics: named counters, gauges and latency summaries, rendered in the Prometheus text exposition format
// (served at --metrics HOST:PORT by engine/metrics_server and logged every N seconds).
//
// The registry holds readers, not values: the engine keeps its counters as plain integers in its own structs
// (the hot path only increments them), and the registry reads them when a scrape or a log line asks. Readers
// run on the engine's own thread (the HTTP server shares its io_context), so plain integers need no atomics;
// values written by other threads are registered through std::atomic readers.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace tickrt {

struct Quantiles {
  double count = 0, sum = 0;
  std::vector<std::pair<double, double>> values;  // (quantile in [0,1], value)
};

class MetricsRegistry {
 public:
  enum class Kind { counter, gauge, summary };

  // `labels` is the inside of the braces, e.g. `reason="nan_price"`; may be empty. One HELP/TYPE header is
  // written per name, so register the series of one name together.
  void counter(const std::string& name, const std::string& help, const std::string& labels,
               std::function<double()> read);
  void gauge(const std::string& name, const std::string& help, const std::string& labels,
             std::function<double()> read);
  void summary(const std::string& name, const std::string& help, const std::string& labels,
               std::function<Quantiles()> read);

  // A family of counters read together: `read` returns (labels, value) pairs, e.g. one per instrument that has
  // something to show, so the series of the family may differ from one scrape to the next. Setup and scrapes
  // may allocate; the hot path never calls a reader.
  using LabelledValues = std::vector<std::pair<std::string, double>>;
  void counter_family(const std::string& name, const std::string& help, std::function<LabelledValues()> read);

  std::string render_prometheus() const;
  // One line "name{labels}=value ..." of the counters and gauges (for the periodic log); a family as its sum.
  std::string render_line() const;

 private:
  struct Series {
    Kind kind;
    std::string name, help, labels;
    std::function<double()> read_value;
    std::function<Quantiles()> read_quantiles;
    std::function<LabelledValues()> read_family;
  };
  std::vector<Series> series_;
};

}  // namespace tickrt
