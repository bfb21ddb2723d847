// `tickrt bench-gpu` (used by tools/gpu-check.sh): the CUDA backend's numbers on one GPU —
//   1. single-instrument step latency (a graph launch per step): p50 / p99 over --steps steps,
//   2. --instruments instruments per step: time per step and per instrument-tick,
//   3. attention refresh cost against the window W: p50 step latency of a one-attention-layer model refreshing
//      every tick, minus the same model refreshing never after tick 0 (the KV ring is filled to W first).
// Works with --backend cpu too (the same table from the CPU backend), which is how it is checked without a GPU.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/model.h"
#include "kernels/backend.h"
#include "tools/command_registry.h"

namespace {

using Clock = std::chrono::steady_clock;

struct GpuBenchOptions {
  std::string config = std::string(TICKRT_SOURCE_DIR) + "/tools/bench_model.json";
  std::string backend = "cuda";
  int steps = 10000;
  int instruments = 10000;
  std::vector<int> windows{256, 1024, 4096, 16384, 65536};
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::vector<float> features(std::size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

// Per-step latencies in µs of `steps` single-instrument steps, after `warmup` untimed ones.
std::vector<double> single_steps(tickrt::Backend& b, int F, int H, int64_t warmup, int steps) {
  const auto x = features(static_cast<std::size_t>(1024) * F);
  std::vector<float> y(static_cast<std::size_t>(H));
  const int32_t slot = 0;
  for (int64_t t = 0; t < warmup; ++t) b.step(&slot, 1, x.data() + (t % 1024) * F, y.data(), nullptr);
  std::vector<double> us(static_cast<std::size_t>(steps));
  for (int t = 0; t < steps; ++t) {
    const auto t0 = Clock::now();
    b.step(&slot, 1, x.data() + (t % 1024) * F, y.data(), nullptr);
    us[t] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
  return us;
}

int run_bench_gpu(const GpuBenchOptions& o) {
  std::ifstream in(o.config);
  if (!in) throw std::runtime_error("bench-gpu: cannot read --config " + o.config);
  const nlohmann::json base = nlohmann::json::parse(in);
  std::vector<std::string> rows;

  // 1. Single-instrument step latency.
  {
    const tickrt::Model model = tickrt::init_model(tickrt::ModelConfig::from_json(base, o.config), 1);
    const int F = model.config.n_features, H = model.config.n_outputs();
    auto b = tickrt::make_backend(o.backend, model, 1, 1);
    const auto us = single_steps(*b, F, H, 2048, o.steps);
    rows.push_back(fmt::format("{:<44} | {:>12.1f} | {:>12.1f}", fmt::format("step, 1 instrument ({} steps)", o.steps),
                               percentile(us, 0.5), percentile(us, 0.99)));
    fmt::print("{}\n", rows.back());
  }

  // 2. Many instruments per step.
  {
    const tickrt::Model model = tickrt::init_model(tickrt::ModelConfig::from_json(base, o.config), 1);
    const int F = model.config.n_features, H = model.config.n_outputs(), k = o.instruments;
    auto b = tickrt::make_backend(o.backend, model, k, k);
    const auto x = features(static_cast<std::size_t>(k) * F);
    std::vector<float> y(static_cast<std::size_t>(k) * H);
    std::vector<int32_t> slots(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i) slots[i] = i;
    for (int t = 0; t < 20; ++t) b->step(slots.data(), k, x.data(), y.data(), nullptr);
    std::vector<double> us;
    for (int t = 0; t < 100; ++t) {
      const auto t0 = Clock::now();
      b->step(slots.data(), k, x.data(), y.data(), nullptr);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    const double p50 = percentile(us, 0.5);
    rows.push_back(fmt::format("{:<44} | {:>12.1f} | {:>12.1f}", fmt::format("step, {} instruments", k), p50,
                               percentile(us, 0.99)));
    rows.push_back(fmt::format("{:<44} | {:>12.4f} | {:>12}", "  per instrument-tick", p50 / k, ""));
    fmt::print("{}\n{}\n", rows[rows.size() - 2], rows.back());
  }

  // 3. Refresh cost against the window.
  for (int W : o.windows) {
    double p50[2];
    for (int i = 0; i < 2; ++i) {
      nlohmann::json j = base;
      j["layers"] = nlohmann::json::array({{{"type", "attention"}}});
      j["attention"]["window"] = W;
      j["attention"]["refresh_every"] = i == 0 ? 1 : 1 << 24;  // every tick / only tick 0 (the largest allowed P)
      j["attention"]["refresh_lag"] = 0;
      const tickrt::Model model = tickrt::init_model(tickrt::ModelConfig::from_json(j, "bench-gpu window config"), 1);
      auto b = tickrt::make_backend(o.backend, model, 1, 1);
      const int steps = std::max(200, o.steps / 10);
      p50[i] = percentile(single_steps(*b, model.config.n_features, model.config.n_outputs(), W, steps), 0.5);
    }
    rows.push_back(fmt::format("{:<44} | {:>12.1f} | {:>12.1f}", fmt::format("refresh, window {}", W), p50[0],
                               p50[0] - p50[1]));
    fmt::print("{}\n", rows.back());
  }

  fmt::print("\nbench-gpu ({} backend, {}): microseconds\n", o.backend, o.config);
  fmt::print("{:<44} | {:>12} | {:>12}\n", "what", "p50", "p99 / refresh");
  for (const auto& r : rows) fmt::print("{}\n", r);
  fmt::print("(refresh rows: p50 of a step that refreshes, then that minus a step that does not)\n");
  return 0;
}

tickrt::cli::Registration reg("bench-gpu", "benchmark: CUDA step latency, batch throughput, refresh vs window",
                              [](CLI::App& app) {
  auto o = std::make_shared<GpuBenchOptions>();
  app.add_option("--config", o->config, "model config.json to benchmark (random weights)")->capture_default_str();
  app.add_option("--backend", o->backend, "cuda, or cpu for the same table from the CPU backend")
      ->capture_default_str();
  app.add_option("--steps", o->steps, "single-instrument steps timed")->capture_default_str();
  app.add_option("--instruments", o->instruments, "instruments per step in the batch row")->capture_default_str();
  app.add_option("--windows", o->windows, "attention windows for the refresh rows")->delimiter(',');
  app.footer("example: tickrt bench-gpu --steps 10000 --instruments 10000 --windows 256,4096,65536\n"
             "(tools/gpu-check.sh runs it after the CUDA tests)");
  return [o] { return run_bench_gpu(*o); };
});

}  // namespace
