// `tickrt bench-suite` (the table `make bench` prints; tools/bench.sh feeds it the numbers measured outside this
// process): CPU step latency against batch size, against history length, the attention refresh cost against the
// window, the weight-streaming floor, PyTorch's step, decode-only and backtest throughput, and the latency goals
// from a short `tickrt profile`. Goals are printed beside the numbers, never asserted.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "engine/model.h"
#include "feeds/journal_reader.h"
#include "feeds/tick_codec.h"
#include "kernels/backend.h"
#include "kernels/cpu/linear.h"
#include "tools/command_registry.h"

namespace {

using Clock = std::chrono::steady_clock;

struct SuiteOptions {
  std::string model;            // the bench model (tools/bench_model.json)
  std::vector<int> batches{1, 16, 256, 4096};
  std::vector<int64_t> history{1'000, 100'000, 1'000'000};
  int window_min = 256, window_max = 65'536;
  double torch_us = 0;          // tickmodel.py bench-step, us per tick at batch 1 (0: not measured)
  std::string journal;          // for decode-only throughput
  double backtest_ticks_per_s = 0;  // `tickrt replay --model` throughput (0: pending)
  std::string backtest_note = "pending: `tickrt replay --model` not in this build";
  std::string profile_summary;  // summary.json of a `tickrt profile` run
  std::string json_out;         // every number as JSON
};

// Median over `reps` repetitions of the mean time of `inner` calls, in microseconds.
template <class Fn>
double median_us(int reps, int inner, Fn&& fn) {
  std::vector<double> v;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) fn();
    v.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / inner);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One pass over every weight of the model packed as PackedLinear packs it: the least memory traffic a step makes.
double weight_streaming_floor_us(const tickrt::Model& m) {
  std::vector<tickrt::cpu::PackedLinear> matrices;  // every tensor of rank >= 2 as [shape0, rest]
  std::vector<const std::vector<float>*> vectors;   // rank-1 tensors as they are
  for (const auto& [name, t] : m.weights.tensors) {
    if (t.shape.size() >= 2) {
      tickrt::Tensor flat;
      flat.shape = {t.shape[0], static_cast<int64_t>(t.data.size()) / t.shape[0]};
      flat.data = t.data;
      matrices.emplace_back(flat, nullptr);
    } else {
      vectors.push_back(&t.data);
    }
  }
  volatile float sink = 0;
  // Four independent vector accumulators (explicit AVX-512 loads where built with it), so
  // that load bandwidth, not add latency, sets the pace.
  auto pass = [&] {
    float rest = 0.0f;
#if defined(__AVX512F__)
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    auto add = [&](const float* p, int64_t n) {
      int64_t i = 0;
      for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; ++j) acc[j] = _mm512_add_ps(acc[j], _mm512_loadu_ps(p + i + 16 * j));
      for (; i < n; ++i) rest += p[i];
    };
#else
    float acc[64] = {};
    auto add = [&](const float* p, int64_t n) {
      int64_t i = 0;
      for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 64; ++j) acc[j] += p[i + j];
      for (; i < n; ++i) rest += p[i];
    };
#endif
    for (const auto& x : matrices) add(x.packed_weights(), x.weight_bytes() / 4);
    for (const auto* v : vectors) add(v->data(), static_cast<int64_t>(v->size()));
#if defined(__AVX512F__)
    alignas(64) float lanes[16];
    for (int j = 0; j < 4; ++j) {
      _mm512_store_ps(lanes, acc[j]);  // not _mm512_reduce_add_ps: GCC 12 warns inside it (-Wmaybe-uninitialized)
      for (float v : lanes) rest += v;
    }
#else
    for (float a : acc) rest += a;
#endif
    sink = sink + rest;
  };
  return median_us(21, 200, pass);
}

struct Inputs {
  std::vector<float> x;  // [1024 ticks, max_batch, F], cycled
  std::vector<float> y;  // [max_batch, H]
  std::vector<int32_t> slots;  // [max_batch] 0..max_batch-1
  int F = 0, max_batch = 0;
  Inputs(int F_, int H, int max_batch_) : F(F_), max_batch(max_batch_) {
    std::mt19937 rng(1);
    std::normal_distribution<float> d;
    x.resize(static_cast<size_t>(1024) * max_batch * F);
    for (auto& v : x) v = d(rng);
    y.resize(static_cast<size_t>(max_batch) * H);
    for (int i = 0; i < max_batch; ++i) slots.push_back(i);
  }
  const float* at(int64_t t) const { return x.data() + (t % 1024) * max_batch * F; }
};

// Microseconds per batched step of k instruments, after a warm-up past the first refreshes and chunks.
double step_us(tickrt::Backend& b, Inputs& in, int k, int64_t warmup_steps, int64_t timed_steps) {
  for (int i = 0; i < k; ++i) b.reset(in.slots[i]);
  int64_t t = 0;
  auto one = [&] {
    b.step(in.slots.data(), k, in.at(t), in.y.data(), nullptr);
    ++t;
  };
  for (int64_t i = 0; i < warmup_steps; ++i) one();
  const int reps = 11;
  return median_us(reps, static_cast<int>(std::max<int64_t>(4, timed_steps / reps)), one);
}

tickrt::Model attention_model(int window, int refresh_every) {
  const nlohmann::json cfg = {{"format", "tickrt-model/1"},
                              {"n_features", 16},
                              {"d_model", 64},
                              {"outputs", {"a", "b", "c"}},
                              {"layers", {{{"type", "attention"}, {"ffn", "none"}}}},
                              {"attention", {{"n_heads", 4}, {"window", window}, {"refresh_every", refresh_every}}}};
  return tickrt::init_model(tickrt::ModelConfig::from_json(cfg, "bench attention model"), 1);
}

// Cost of one refresh at window W: a one-attention-layer model stepped with P = 1 (every tick refreshes) and
// with P past the run (no tick refreshes), both from a state that holds W ticks of keys. The state is filled
// by the cheap P model and copied into the P = 1 one (same layout: the lag is 0 in both).
struct RefreshCost {
  int window = 0;
  double step_refresh_us = 0, step_plain_us = 0;
};
RefreshCost refresh_cost(int window) {
  const tickrt::Model every = attention_model(window, 1);
  const tickrt::Model never = attention_model(window, 1 << 24);  // the config's largest P: never reached here
  auto b_every = tickrt::make_backend("cpu", every, 1, 1);
  auto b_never = tickrt::make_backend("cpu", never, 1, 1);
  Inputs in(16, 3, 1);
  int32_t slot = 0;
  b_never->reset(slot);
  for (int64_t t = 0; t < window + 1; ++t) b_never->step(&slot, 1, in.at(t), in.y.data(), nullptr);
  std::vector<std::byte> state(b_never->state_bytes());
  b_never->read_state(slot, state.data());
  b_every->write_state(slot, state.data());
  RefreshCost r;
  r.window = window;
  int64_t t = 0;
  // Fewer timed steps for long windows: each refresh reads the whole window. The ring stays full either way.
  const int inner = std::max(8, 4'000'000 / window / 4);
  r.step_refresh_us = median_us(7, inner, [&] {
    b_every->step(&slot, 1, in.at(t++), in.y.data(), nullptr);
  });
  r.step_plain_us = median_us(7, 2000, [&] { b_never->step(&slot, 1, in.at(t++), in.y.data(), nullptr); });
  return r;
}

// Ticks per second of reading the journal and decoding + verifying every record (no model).
double decode_throughput(const std::string& path, uint64_t& records) {
  tickrt::journal::JournalReader reader(path);
  tickrt::feeds::MessageDecoder decoder;
  tickrt::journal::RecordView rec;
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    reader.rewind();
    uint64_t n = 0, ok = 0;
    const auto t0 = Clock::now();
    while (reader.next(rec)) {
      ok += decoder.decode(rec.topic, rec.payload).ok;
      ++n;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    records = n;
    if (ok != n) throw std::runtime_error(fmt::format("{}: {} of {} records failed to decode", path, n - ok, n));
    best = std::max(best, static_cast<double>(n) / s);
  }
  return best;
}

std::string verdict(bool met) { return met ? "met" : "NOT met"; }

int run_suite(const SuiteOptions& o) {
  tickrt::set_ftz_daz();
  nlohmann::json j;
  const tickrt::Model model = tickrt::Model::load(o.model);
  const int F = model.config.n_features, H = model.config.n_outputs();
  const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  auto backend = tickrt::make_backend("cpu", model, max_batch, max_batch);
  Inputs in(F, H, max_batch);

  fmt::print("benchmark model {}: {} parameters, state {} bytes per instrument\n", o.model, model.parameter_count(),
             backend->state_bytes());
  const double floor_us = weight_streaming_floor_us(model);
  j["floor_us"] = floor_us;

  fmt::print("\n{:<48} | {:>12} | {:>15} | {:<34}\n", "measurement", "value", "vs", "goal (printed, never asserted)");
  fmt::print("{:-<48}-+-{:-<12}-+-{:-<15}-+-{:-<34}\n", "", "", "", "");
  auto row = [](const std::string& what, const std::string& value, const std::string& vs, const std::string& goal) {
    fmt::print("{:<48} | {:>12} | {:>15} | {:<34}\n", what, value, vs, goal);
  };
  row("weight-streaming floor (one pass, all weights)", fmt::format("{:.2f} us", floor_us), "", "");

  // Step latency against batch size.
  double batch1_us = 0;
  for (int k : o.batches) {
    const int64_t warm = std::max<int64_t>(64, 2048 / std::max(1, k / 16));  // past a few refreshes and chunks
    const double us = step_us(*backend, in, k, warm, std::max<int64_t>(44, 40'000 / k));
    if (k == 1) batch1_us = us;
    j["step_us"][std::to_string(k)] = us;
    row(fmt::format("step, batch {:>4} (us per step)", k), fmt::format("{:.2f} us", us),
        fmt::format("{:.2f}x floor", us / floor_us), k == 1 ? fmt::format("<= 1.5x floor: {}", verdict(us <= 1.5 * floor_us)) : "");
    row(fmt::format("step, batch {:>4} (us per instrument-tick)", k), fmt::format("{:.3f} us", us / k), "", "");
  }
  if (o.torch_us > 0 && batch1_us > 0) {
    const double ratio = o.torch_us / batch1_us;
    j["torch_us"] = o.torch_us;
    row("PyTorch eager step (tickmodel.py, batch 1)", fmt::format("{:.1f} us", o.torch_us),
        fmt::format("{:.0f}x slower", ratio), fmt::format(">= 50x: {}", verdict(ratio >= 50)));
  } else {
    row("PyTorch eager step (tickmodel.py, batch 1)", "not measured", "", ">= 50x");
  }

  // Step latency against history: one instrument brought to 1K, 100K and 1M ticks (the sequence form, which
  // leaves the state as that many steps would), its state saved at each; then rounds that restore each saved
  // state in turn and time 200 steps from it, so that all points see the same machine load.
  {
    int32_t slot = 0;
    backend->reset(slot);
    const int64_t chunk = 4096;
    std::vector<float> xs(static_cast<size_t>(chunk) * F), ys(static_cast<size_t>(chunk) * H);  // [chunk, F], [chunk, H]
    std::mt19937 rng(2);
    std::normal_distribution<float> d;
    for (auto& v : xs) v = d(rng);
    std::vector<std::vector<std::byte>> saved;  // [points][state_bytes]
    int64_t t = 0;
    for (int64_t target : o.history) {
      while (t < target) {
        const int64_t n = std::min(chunk, target - t);
        backend->sequence(slot, xs.data(), n, ys.data());
        t += n;
      }
      saved.emplace_back(backend->state_bytes());
      backend->read_state(slot, saved.back().data());
    }
    std::vector<std::vector<double>> times(saved.size());  // [points][rounds] us per step
    for (int round = 0; round < 31; ++round)
      for (size_t i = 0; i < saved.size(); ++i) {
        backend->write_state(slot, saved[i].data());
        int64_t k = 0;
        times[i].push_back(median_us(1, 200, [&] { backend->step(&slot, 1, in.at(k++), in.y.data(), nullptr); }));
      }
    double first = 0;
    for (size_t i = 0; i < saved.size(); ++i) {
      std::sort(times[i].begin(), times[i].end());
      const double us = times[i][times[i].size() / 2];
      if (i == 0) first = us;
      const double drift = us / first - 1.0;
      j["history_us"][std::to_string(o.history[i])] = us;
      row(fmt::format("step after {:>7} ticks of history", o.history[i]), fmt::format("{:.2f} us", us),
          fmt::format("{:+.1f}%", 100 * drift), fmt::format("flat within +-5%: {}", verdict(std::abs(drift) <= 0.05)));
    }
  }

  // Attention refresh cost against window.
  for (int w = o.window_min; w <= o.window_max; w *= 2) {
    const RefreshCost c = refresh_cost(w);
    const double refresh = c.step_refresh_us - c.step_plain_us;
    j["refresh_us"][std::to_string(w)] = {{"step_p1", c.step_refresh_us}, {"step_no_refresh", c.step_plain_us},
                                           {"refresh", refresh}};
    row(fmt::format("attention refresh, window {:>6} (P=1)", w), fmt::format("{:.2f} us", refresh),
        fmt::format("{:.2f} ns/key", 1000 * refresh / w), "");
  }

  // Throughput.
  if (!o.journal.empty()) {
    uint64_t records = 0;
    const double decode = decode_throughput(o.journal, records);
    j["decode_ticks_per_s"] = decode;
    row(fmt::format("decode-only ({} ticks of {})", records, std::filesystem::path(o.journal).filename().string()),
        fmt::format("{:.2f} M/s", decode / 1e6), "", "");
    if (o.backtest_ticks_per_s > 0) {
      j["backtest_ticks_per_s"] = o.backtest_ticks_per_s;
      row("backtest (tickrt replay --model)", fmt::format("{:.2f} M/s", o.backtest_ticks_per_s / 1e6),
          fmt::format("{:.1f}% of dec.", 100 * o.backtest_ticks_per_s / decode), "");
    } else {
      j["backtest"] = o.backtest_note;
      row("backtest (tickrt replay --model)", "pending", "", o.backtest_note);
    }
  }

  // Live latency from a profile run.
  if (!o.profile_summary.empty()) {
    std::ifstream f(o.profile_summary);
    if (!f) throw std::runtime_error(fmt::format("{}: cannot read", o.profile_summary));
    const nlohmann::json p = nlohmann::json::parse(f);
    auto series = [&](const std::string& name) {
      for (const auto& s : p.at("series"))
        if (s.at("name") == name) return s;
      throw std::runtime_error(fmt::format("{}: no series '{}'", o.profile_summary, name));
    };
    const auto eng = series("engine_total"), e2e = series("e2e"), rtt = series("floor_round_trip");
    const auto& opt = p.at("options");
    const std::string where = fmt::format("{:.0f}/s, {} instr., {}", opt.at("rate").get<double>(),
                                          opt.at("instruments").get<int>(), opt.at("transport").get<std::string>());
    row("engine internal p50 (received -> sent)", fmt::format("{:.1f} us", eng.at("p50").get<double>()), "",
        fmt::format("<= 15 us: {}", verdict(eng.at("p50").get<double>() <= 15)));
    row("engine internal p99 (received -> sent)", fmt::format("{:.1f} us", eng.at("p99").get<double>()), "",
        fmt::format("<= 50 us: {}", verdict(eng.at("p99").get<double>() <= 50)));
    const double ratio = e2e.at("p50").get<double>() / rtt.at("p50").get<double>();
    row(fmt::format("end-to-end p50 ({})", where), fmt::format("{:.1f} us", e2e.at("p50").get<double>()),
        fmt::format("{:.2f}x floor", ratio), fmt::format("<= 1.3x transport floor: {}", verdict(ratio <= 1.3)));
    row("transport floor p50 (round trip, no engine)", fmt::format("{:.1f} us", rtt.at("p50").get<double>()), "", "");
    row("ticks unanswered in the profile", std::to_string(p.at("counts").at("missing").get<uint64_t>()),
        fmt::format("of {}", p.at("counts").at("sent").get<uint64_t>()), "0");
    j["profile"] = {{"engine_p50_us", eng.at("p50")}, {"engine_p99_us", eng.at("p99")},
                    {"e2e_p50_us", e2e.at("p50")}, {"floor_round_trip_p50_us", rtt.at("p50")}};
  }
  if (!o.json_out.empty()) std::ofstream(o.json_out) << j.dump(2) << "\n";
  return 0;
}

tickrt::cli::Registration reg("bench-suite", "benchmark suite: the one table of `make bench`", [](CLI::App& app) {
  auto o = std::make_shared<SuiteOptions>();
  app.add_option("--model", o->model, "benchmark model directory (tools/bench_model.json)")->required();
  app.add_option("--batch", o->batches, "batch sizes (instruments per step)")->delimiter(',');
  app.add_option("--history", o->history, "history lengths (ticks) to time the step after")->delimiter(',');
  app.add_option("--window-min", o->window_min, "smallest attention window (doubling)")->capture_default_str();
  app.add_option("--window-max", o->window_max, "largest attention window")->capture_default_str();
  app.add_option("--torch-us", o->torch_us, "tickmodel.py bench-step us per tick, for the ratio");
  app.add_option("--journal", o->journal, "journal for decode-only throughput");
  app.add_option("--backtest-ticks-per-s", o->backtest_ticks_per_s, "measured backtest throughput");
  app.add_option("--backtest-note", o->backtest_note, "what to print when the backtest was not measured");
  app.add_option("--profile-summary", o->profile_summary, "summary.json of a tickrt profile run");
  app.add_option("--json", o->json_out, "also write every number here");
  app.footer("example (what tools/bench.sh runs):\n"
             "  tickrt bench-suite --model /tmp/bench_model --torch-us 2500 --journal /tmp/eurusd.ticks \\\n"
             "      --profile-summary /tmp/profile/summary.json");
  return [o] { return run_suite(*o); };
});

}  // namespace
