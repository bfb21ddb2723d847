// The offline paths that share the live engine's code: `tickrt replay --model` (backtest) gives exactly the
// predictions of `tickrt infer` on the same ticks' features (and the sequence form agrees within MODEL-SPEC
// §8), and `tickrt features` exports what the engine computes, with labels per instrument.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/feature_spec.h"
#include "engine/features.h"
#include "engine/model_init.h"
#include "engine/npy.h"
#include "engine/tick_adapter.h"
#include "feeds/generator.h"
#include "feeds/journal.h"
#include "tests/test_util.h"

using namespace tickrt;

namespace {

// A journal of `count` generated ticks over `instruments`; returns the ticks (symbols point into `symbols`).
std::vector<feeds::TickEvent> write_journal(const std::string& path, int instruments, int count,
                                            std::vector<std::string>& symbols) {
  feeds::GeneratorConfig gc;
  gc.instruments = instruments;
  gc.seed = 3;
  feeds::TickGenerator gen(gc);
  journal::JournalWriter w(path);
  feeds::MessageBuilder b;
  std::vector<feeds::TickEvent> ticks;
  symbols.reserve(count);
  for (int i = 0; i < count; ++i) {
    feeds::TickEvent e;
    gen.next(e);
    REQUIRE(w.append(e.event_time_ns, e.symbol, b.build_tick(e)) == journal::AppendResult::Ok);
    symbols.emplace_back(e.symbol);
    ticks.push_back(e);
    ticks.back().symbol = symbols.back();
  }
  w.close();
  return ticks;
}

std::string make_model(const test::TempDir& dir) {
  nlohmann::json c = {
      {"format", "tickrt-model/1"},
      {"n_features", 6},
      {"d_model", 16},
      {"outputs", {"a", "b"}},
      {"layers", {{{"type", "mamba"}}, {{"type", "attention"}, {"ffn", "mlp"}}, {{"type", "megalodon"}}}},
      {"attention", {{"n_heads", 2}, {"window", 16}, {"refresh_every", 4}, {"refresh_lag", 1}}},
      {"megalodon", {{"chunk_size", 8}, {"cema_ndim", 4}}}};
  Model m = init_model(ModelConfig::from_json(c, "test"), 5);
  perturb_weights(m, 5, 0.02f);
  const std::string out = dir / "model";
  m.save(out);
  FeatureSpec spec = FeatureSpec::untrained(6, {"a", "b"});
  for (auto& f : spec.features) {
    f.std = 3.0f;
    f.clip = 6.0f;
  }
  spec.save(std::filesystem::path(out) / "features.json");
  return out;
}

}  // namespace

TEST_CASE("backtest: replay --model equals tickrt infer per instrument, sequence mode within tolerance",
          "[backtest]") {
  test::TempDir dir;
  std::vector<std::string> symbols;
  const auto ticks = write_journal(dir / "feed.ticks", 5, 3000, symbols);
  const std::string model = make_model(dir);

  // Offline: each instrument's features by the engine's code, then `tickrt infer`.
  const FeatureSpec spec = FeatureSpec::load(model + "/features.json");
  std::map<std::string, std::vector<float>> xs;
  std::map<std::string, FeatureState> st;
  float raw[kFeatureCount];
  std::vector<float> x(6);
  for (const auto& e : ticks) {
    REQUIRE(compute_features(st[std::string(e.symbol)], to_market_tick(e), 0, raw).reject == FeatureReject::none);
    spec.normalise(raw, x.data());
    auto& v = xs[std::string(e.symbol)];
    v.insert(v.end(), x.begin(), x.end());
  }
  std::map<std::string, std::vector<float>> want;
  for (auto& [sym, v] : xs) {
    write_npy_f32(dir / ("x" + sym + ".npy"), v.data(), {int64_t(v.size() / 6), 6});
    REQUIRE(test::run_command(fmt::format("{} infer --model {} --features {} --out {}", test::tickrt_binary(), model,
                                          dir / ("x" + sym + ".npy"), dir / ("y" + sym + ".npy")))
                .exit_code == 0);
    want[sym] = read_npy_f32(dir / ("y" + sym + ".npy")).data;
  }

  for (const std::string mode : {"step", "sequence"}) {
    INFO("mode " << mode);
    const auto r = test::run_command(fmt::format("{} replay {} --model {} --signals {} --mode {} --max-batch 16",
                                                 test::tickrt_binary(), dir / "feed.ticks", model,
                                                 dir / ("sig_" + mode + ".npy"), mode));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("ticks/s") != std::string::npos);
    const NpyArray y = read_npy_f32(dir / ("sig_" + mode + ".npy"));
    REQUIRE(y.shape == std::vector<int64_t>{3000, 2});
    // Journal order, per instrument in order: compare with infer's rows.
    std::map<std::string, size_t> next;
    float worst = 0;
    for (size_t i = 0; i < ticks.size(); ++i) {
      const std::string sym(ticks[i].symbol);
      const size_t t = next[sym]++;
      for (int h = 0; h < 2; ++h) worst = std::max(worst, std::fabs(y.data[i * 2 + h] - want[sym][t * 2 + h]));
    }
    if (mode == "step") CHECK(worst == 0.0f);  // one computation with the live engine's step
    else CHECK(worst <= 1e-4f);                 // MODEL-SPEC §8: sequence form vs step
  }
}

TEST_CASE("features: tickrt features exports X, X_raw, labels, times, ids and resets", "[features]") {
  test::TempDir dir;
  std::vector<std::string> symbols;
  const auto ticks = write_journal(dir / "feed.ticks", 3, 1000, symbols);
  FeatureSpec spec = FeatureSpec::untrained(4, {"r10", "r2s"});
  spec.outputs[1].horizon = 2;
  spec.outputs[1].units = HorizonUnits::seconds;
  spec.features[0].std = 2.0f;
  spec.save(dir / "spec.json");
  const auto r = test::run_command(fmt::format("{} features {} --spec {} --out {}", test::tickrt_binary(),
                                               dir / "feed.ticks", dir / "spec.json", dir / "out"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const NpyArray X = read_npy_f32(dir / "out/X.npy");
  const NpyArray R = read_npy_f32(dir / "out/X_raw.npy");
  const NpyArray Y = read_npy_f32(dir / "out/Y.npy");
  REQUIRE(X.shape == std::vector<int64_t>{1000, 4});
  REQUIRE(R.shape == std::vector<int64_t>{1000, kFeatureCount});
  REQUIRE(Y.shape == std::vector<int64_t>{1000, 2});
  // X is the spec's normalisation of X_raw, and X_raw is what the engine's feature code computes.
  std::map<std::string, FeatureState> st;
  float raw[kFeatureCount];
  for (size_t i = 0; i < ticks.size(); ++i) {
    compute_features(st[std::string(ticks[i].symbol)], to_market_tick(ticks[i]), 0, raw);
    for (int j = 0; j < kFeatureCount; ++j) REQUIRE(R.data[i * kFeatureCount + j] == raw[j]);
    REQUIRE(X.data[i * 4 + 0] == raw[0] / 2.0f);
  }
  // Labels: NaN exactly for each instrument's last 10 ticks (tick horizon); some NaN at the end for seconds.
  std::map<std::string, int> remaining;
  for (const auto& e : ticks) ++remaining[std::string(e.symbol)];
  for (size_t i = 0; i < ticks.size(); ++i) {
    const int left = --remaining[std::string(ticks[i].symbol)];
    CHECK(std::isnan(Y.data[i * 2]) == (left < 10));
  }
  CHECK(std::isnan(Y.data[999 * 2 + 1]));
  std::ifstream meta_file(dir / "out/meta.json");
  const auto meta = nlohmann::json::parse(meta_file);
  CHECK(meta["rows"] == 1000);
  CHECK(meta["instruments"].size() == 3);
  CHECK(meta["raw_features"].size() == kFeatureCount);
}
