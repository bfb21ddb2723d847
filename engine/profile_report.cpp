// The profile's outputs: model choice, the printed table, summary.json, .hgrm files and the plot
// (engine/profiler.h).
#include <fmt/core.h>
#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "engine/feature_spec.h"
#include "engine/model.h"
#include "engine/profiler.h"

namespace tickrt {

namespace {

// Percentiles every report shows, with their labels.
const std::vector<std::pair<std::string, double>> kPercentiles = {
    {"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}};

double us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

bool holds_model(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / "config.json") && std::filesystem::exists(dir / "model.safetensors") &&
         std::filesystem::exists(dir / "features.json");
}

std::string first_line_of(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {};
  char buf[512];
  std::string line = std::fgets(buf, sizeof buf, p) ? buf : "";
  ::pclose(p);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string read_first_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

nlohmann::json builtin_default_model_config() {
  // Mirrors models/default.config.json (a test keeps the two equal).
  return nlohmann::json::parse(R"({
    "format": "tickrt-model/1",
    "n_features": 9,
    "d_model": 48,
    "outputs": ["ret_10t", "ret_100t", "ret_5s"],
    "layers": [
      {"type": "mamba", "ffn": "mlp"},
      {"type": "megalodon"},
      {"type": "attention", "ffn": "moe"},
      {"type": "mamba", "ffn": "none"}
    ],
    "mamba": {"d_state": 16, "d_conv": 4, "expand": 2},
    "mlp": {"intermediate": 96},
    "attention": {"n_heads": 4, "window": 512, "refresh_every": 16, "refresh_lag": 0},
    "moe": {"n_experts": 4, "top_k": 2, "intermediate": 48},
    "megalodon": {"n_heads": 2, "cema_ndim": 8, "chunk_size": 64, "ffn_hidden": 64}
  })");
}

std::filesystem::path resolve_profile_model(const std::filesystem::path& model_dir,
                                            const std::filesystem::path& scratch_dir, std::string& source) {
  if (!model_dir.empty()) {
    source = "given (--model)";
    return model_dir;
  }
  for (const std::filesystem::path& dir :
       {std::filesystem::path("models/default"), std::filesystem::path(TICKRT_SOURCE_DIR) / "models/default"})
    if (holds_model(dir)) {
      source = "bundled models/default";
      return dir;
    }
  const std::filesystem::path out = scratch_dir / "model";
  const ModelConfig cfg = ModelConfig::from_json(builtin_default_model_config(), "built-in default config");
  init_model(cfg, 1).save(out);
  FeatureSpec spec = FeatureSpec::defaults();  // identity normalisation; the first n_features features
  spec.features.resize(static_cast<size_t>(cfg.n_features));
  spec.outputs.resize(static_cast<size_t>(cfg.n_outputs()));
  for (int h = 0; h < cfg.n_outputs(); ++h) spec.outputs[h].name = cfg.outputs[h];
  spec.save(out / "features.json");
  source = "random (seed 1) of the built-in default architecture (models/default.config.json), written to " +
           out.string();
  return out;
}

std::string format_profile_report(const ProfileResult& r) {
  const ProfileOptions& o = r.options;
  std::string s;
  s += fmt::format("tickrt profile: {} ticks at {:.0f}/s over {} instruments, transport {}, backend {}, model {}\n",
                   r.counts.sent, o.rate, o.instruments, to_string(o.transport), o.backend, r.model_dir);
  s += "note: all stamps are CLOCK_REALTIME on this one host (one clock); across hosts they depend on clock sync\n";
  s += fmt::format("{:<17} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  {}\n", "latency (us)", "count", "p50", "p90", "p99",
                   "p99.9", "max", "from -> to");
  for (const ProfileSeries& x : r.series) {
    s += fmt::format("{:<17} {:>9}", x.name, x.hist.total_count());
    for (const auto& [label, p] : kPercentiles) s += fmt::format(" {:>9.1f}", us(x.hist.value_at_percentile(p)));
    s += fmt::format(" {:>9.1f}  {}\n", us(x.hist.max()), x.what);
  }
  const ProfileCounts& c = r.counts;
  s += fmt::format(
      "counts: sent {}, dropped at publisher HWM {}, received by engine {} (+{} probes), signals received {}, "
      "missing {}{}\n",
      c.sent, c.dropped_at_publisher, c.engine_received, c.probes, c.signals_received, c.missing,
      c.missing ? " (" + c.missing_reason + ")" : std::string());
  if (c.duplicate_signals || c.unknown_signals)
    s += fmt::format("        duplicate signals {}, unknown messages {}\n", c.duplicate_signals, c.unknown_signals);
  s += fmt::format("sender: achieved {:.0f}/s over {:.2f} s, pacing lag mean {:.1f} us, max {:.1f} us\n",
                   r.achieved_rate, r.send_elapsed_s, r.pacing.mean_lag_ns / 1000.0, us(r.pacing.max_lag_ns));
  // Goals (issue 7), printed for comparison, never asserted.
  const HdrHistogram& eng = r.at("engine_total").hist;
  const HdrHistogram& e2e = r.at("e2e").hist;
  const HdrHistogram& rtt = r.at("floor_round_trip").hist;
  const double e2e_ratio = rtt.total_count() ? double(e2e.value_at_percentile(50)) / double(rtt.value_at_percentile(50)) : 0;
  s += fmt::format("goals: engine p50 <= 15 us: {:.1f} us ({}); engine p99 <= 50 us: {:.1f} us ({}); "
                   "e2e p50 <= 1.3x floor (round trip p50 {:.1f} us): {:.2f}x ({})\n",
                   us(eng.value_at_percentile(50)), eng.value_at_percentile(50) <= 15'000 ? "met" : "not met",
                   us(eng.value_at_percentile(99)), eng.value_at_percentile(99) <= 50'000 ? "met" : "not met",
                   us(rtt.value_at_percentile(50)), e2e_ratio, e2e_ratio <= 1.3 ? "met" : "not met");
  return s;
}

nlohmann::json profile_summary(const ProfileResult& r, const std::string& command_line) {
  const ProfileOptions& o = r.options;
  nlohmann::json j;
  j["format"] = "tickrt-profile/1";
  j["command"] = command_line;
  j["clock"] = "CLOCK_REALTIME, one host: every stamp shares one clock (across hosts: depends on clock sync)";
  j["units"] = "us";
  j["options"] = {{"model", r.model_dir},           {"model_source", r.model_source},
                  {"instruments", o.instruments},    {"rate", o.rate},
                  {"duration_s", o.duration_s},      {"transport", to_string(o.transport)},
                  {"backend", o.backend},            {"max_batch", o.max_batch},
                  {"cpu_engine", o.cpu_engine},      {"cpu_gen", o.cpu_gen},
                  {"cpu_sub", o.cpu_sub},            {"seed", o.seed},
                  {"drain_timeout_s", o.drain_timeout_s}, {"floor_round_trips", o.floor_round_trips}};
  j["endpoints"] = {{"ticks", r.tick_endpoint}, {"signals", r.signal_endpoint}};
  j["message_bytes"] = {{"tick", r.tick_bytes}, {"signal", r.signal_bytes}};
  j["expected_interval_ns"] = static_cast<int64_t>(1e9 / o.rate);
  nlohmann::json series = nlohmann::json::array();
  for (const ProfileSeries& x : r.series) {
    nlohmann::json e = {{"name", x.name},
                        {"what", x.what},
                        {"floor", x.floor},
                        {"file", x.name + ".hgrm"},
                        {"count", x.hist.total_count()},
                        {"mean", x.hist.mean() / 1000.0},
                        {"max", us(x.hist.max())}};
    for (const auto& [label, p] : kPercentiles) e[label] = us(x.hist.value_at_percentile(p));
    series.push_back(e);
  }
  j["series"] = series;
  const ProfileCounts& c = r.counts;
  j["counts"] = {{"attempted", c.attempted},
                 {"sent", c.sent},
                 {"dropped_at_publisher", c.dropped_at_publisher},
                 {"probes", c.probes},
                 {"engine_received", c.engine_received},
                 {"engine_decode_rejects", c.engine_decode_rejects},
                 {"engine_pipeline_rejects", c.engine_pipeline_rejects},
                 {"engine_signals_dropped", c.engine_signals_dropped},
                 {"signals_received", c.signals_received},
                 {"duplicate_signals", c.duplicate_signals},
                 {"unknown_signals", c.unknown_signals},
                 {"missing", c.missing},
                 {"missing_reason", c.missing_reason}};
  j["sender"] = {{"achieved_rate", r.achieved_rate},
                 {"elapsed_s", r.send_elapsed_s},
                 {"pacing_mean_lag_us", r.pacing.mean_lag_ns / 1000.0},
                 {"pacing_max_lag_us", us(r.pacing.max_lag_ns)},
                 {"drained", r.drained},
                 {"drain_s", r.drain_s}};
  const HdrHistogram& eng = r.at("engine_total").hist;
  const HdrHistogram& e2e = r.at("e2e").hist;
  const HdrHistogram& rtt = r.at("floor_round_trip").hist;
  j["goals"] = {
      {"engine_p50_us", us(eng.value_at_percentile(50))},
      {"engine_p50_goal_us", 15},
      {"engine_p99_us", us(eng.value_at_percentile(99))},
      {"engine_p99_goal_us", 50},
      {"e2e_p50_over_floor_round_trip_p50",
       rtt.total_count() ? double(e2e.value_at_percentile(50)) / double(rtt.value_at_percentile(50)) : 0.0},
      {"e2e_over_floor_goal", 1.3}};
  utsname u{};
  ::uname(&u);
  j["machine"] = {{"nproc", std::thread::hardware_concurrency()},
                  {"cpu", cpu_model()},
                  {"kernel", fmt::format("{} {} {}", u.sysname, u.release, u.machine)},
                  {"loadavg", read_first_line("/proc/loadavg")},
                  {"git_commit", first_line_of(fmt::format("git -C '{}' rev-parse HEAD 2>/dev/null", TICKRT_SOURCE_DIR))}};
  return j;
}

std::vector<std::string> write_profile_files(const ProfileResult& r, const std::filesystem::path& dir,
                                             const std::string& command_line) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> written;
  auto open = [&](const std::filesystem::path& file) {
    std::ofstream out(file);
    if (!out) throw std::runtime_error(fmt::format("{}: cannot write", file.string()));
    written.push_back(file.string());
    return out;
  };
  for (const ProfileSeries& x : r.series) {
    std::ofstream out = open(dir / (x.name + ".hgrm"));
    write_hgrm(out, x.hist, 1000.0);
  }
  std::ofstream out = open(dir / "summary.json");
  out << profile_summary(r, command_line).dump(2) << "\n";
  return written;
}

std::string plot_profile(const std::filesystem::path& dir, const std::filesystem::path& script) {
  const std::filesystem::path plot =
      script.empty() ? std::filesystem::path(TICKRT_SOURCE_DIR) / "tools/plot_latency.py" : script;
  if (!std::filesystem::exists(plot)) return fmt::format("{}: not found (pass --plot-script)", plot.string());
  const std::string cmd = fmt::format("/usr/bin/python3 '{}' '{}' --out '{}' 2>&1", plot.string(), dir.string(),
                                      (dir / "latency.png").string());
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "cannot start /usr/bin/python3";
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) output += buf;
  const int status = ::pclose(p);
  if (status != 0) return fmt::format("{} failed: {}", plot.string(), output);
  return {};
}

}  // namespace tickrt
