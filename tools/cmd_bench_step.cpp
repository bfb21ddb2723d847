// `tickrt bench-step` (used by tools/bench.sh): per-tick latency of the CPU backend's batched step, next to the
// weight-streaming floor measured in the same run: one pass over every weight of the model packed exactly as
// PackedLinear packs it (the least memory traffic any step must make), timed the same way.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/model.h"
#include "kernels/backend.h"
#include "kernels/cpu/linear.h"
#include "tools/command_registry.h"

namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string model;
  int ticks = 20000;
  std::vector<int> batches{1, 64};
  double torch_us = 0.0;  // tickmodel.py bench-step result, for the ratio column (0 = not measured)
};

// Every tensor of the model in the packed layout: 2-D and higher as PackedLinear [shape0, rest], vectors as is.
struct PackedWeights {
  std::vector<tickrt::cpu::PackedLinear> matrices;
  std::vector<std::vector<float>> vectors;
  int64_t bytes = 0;

  explicit PackedWeights(const tickrt::Model& m) {
    for (const auto& [name, t] : m.weights.tensors) {
      if (t.shape.size() >= 2) {
        tickrt::Tensor flat;
        flat.shape = {t.shape[0], static_cast<int64_t>(t.data.size()) / t.shape[0]};
        flat.data = t.data;
        matrices.emplace_back(flat, nullptr);
        bytes += matrices.back().weight_bytes();
      } else {
        vectors.push_back(t.data);
        bytes += static_cast<int64_t>(t.data.size() * sizeof(float));
      }
    }
  }

  // One streaming pass: the sum of every packed float (16 independent accumulators so it vectorises).
  float stream_once() const {
    float acc[16] = {};
    auto add = [&acc](const float* p, int64_t n) {
      int64_t i = 0;
      for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
      for (; i < n; ++i) acc[0] += p[i];
    };
    for (const auto& m : matrices) add(m.packed_weights(), m.weight_bytes() / 4);
    for (const auto& v : vectors) add(v.data(), static_cast<int64_t>(v.size()));
    float s = 0.0f;
    for (float a : acc) s += a;
    return s;
  }
};

// Median of per-repetition means, in microseconds; `fn` runs `inner` times per repetition.
template <class Fn>
double median_us(int reps, int inner, Fn&& fn) {
  std::vector<double> us;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / inner);
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

int run_bench(const BenchOptions& o) {
  const tickrt::Model model = tickrt::Model::load(o.model);
  const int F = model.config.n_features, H = model.config.n_outputs();
  const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  auto backend = tickrt::make_backend("cpu", model, max_batch, max_batch);
  tickrt::set_ftz_daz();

  const PackedWeights weights(model);
  volatile float sink = 0.0f;
  const double floor_us = median_us(21, 200, [&] { sink = sink + weights.stream_once(); });

  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> x(static_cast<size_t>(1024) * max_batch * F);  // [1024 ticks, batch, F], cycled
  for (auto& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(max_batch) * H);
  std::vector<int32_t> slots(static_cast<size_t>(max_batch));
  for (int i = 0; i < max_batch; ++i) slots[i] = i;

  fmt::print("model {}: {} parameters, packed weights {:.1f} KiB, state {} bytes per instrument\n", o.model,
             model.parameter_count(), weights.bytes / 1024.0, backend->state_bytes());
  fmt::print("weight-streaming floor (one pass over all packed weights): {:.2f} us\n", floor_us);
  fmt::print("{:>6} | {:>14} | {:>18} | {:>13} | {:>16}\n", "batch", "us per step", "us per instr-tick",
             "step / floor", "torch / cpu tick");
  for (int k : o.batches) {
    for (int i = 0; i < k; ++i) backend->reset(slots[i]);
    int64_t t = 0;
    auto one = [&] {
      backend->step(slots.data(), k, x.data() + (t % 1024) * max_batch * F, y.data(), nullptr);
      ++t;
    };
    for (int i = 0; i < 2048; ++i) one();  // warm up past the first refreshes and megalodon chunks
    const int inner = std::max(16, o.ticks / k / 20);
    const double step_us = median_us(21, inner, one);
    const std::string torch =
        o.torch_us > 0 ? fmt::format("{:.0f}x", o.torch_us / (step_us / k)) : std::string("n/a");
    fmt::print("{:>6} | {:>14.2f} | {:>18.3f} | {:>12.2f}x | {:>16}\n", k, step_us, step_us / k, step_us / floor_us,
               torch);
  }
  if (o.torch_us > 0) fmt::print("tickmodel.py step (PyTorch, 1 thread, batch 1): {:.1f} us per tick\n", o.torch_us);
  return 0;
}

tickrt::cli::Registration reg("bench-step", "benchmark: CPU step latency vs the weight-streaming floor",
                              [](CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  app.add_option("--model", o->model, "model directory (config.json, model.safetensors)")->required();
  app.add_option("--ticks", o->ticks, "ticks to time per batch size (spread over 21 repetitions)");
  app.add_option("--batch", o->batches, "batch sizes (instruments per step)")->delimiter(',');
  app.add_option("--torch-us", o->torch_us, "tickmodel.py bench-step us per tick, for the ratio column");
  app.footer("example: tickrt bench-step --model /tmp/bench_model --batch 1,64 --torch-us 2500\n"
             "(make bench runs tools/bench.sh, which builds the model from tools/bench_model.json)");
  return [o] { return run_bench(*o); };
});

}  // namespace
