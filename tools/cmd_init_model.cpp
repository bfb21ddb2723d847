// tickrt init-model: a randomly initialised model directory from a config (defaults may be omitted).
#include <fmt/core.h>

#include <filesystem>
#include <memory>

#include "engine/feature_spec.h"
#include "engine/model.h"
#include "engine/model_init.h"
#include "engine/state_layout.h"
#include "tools/command_registry.h"

namespace {

struct InitModelOptions {
  std::string config;
  uint64_t seed = 0;
  std::string out;
  float perturb = 0.0f;
  bool force = false;
};

int run_init_model(const InitModelOptions& o) {
  const tickrt::ModelConfig cfg = tickrt::ModelConfig::load(o.config);
  if (!o.force && (std::filesystem::exists(std::filesystem::path(o.out) / "config.json") ||
                   std::filesystem::exists(std::filesystem::path(o.out) / "model.safetensors"))) {
    fmt::print(stderr, "tickrt init-model: {} already holds a model (use --force to overwrite)\n", o.out);
    return 1;
  }
  tickrt::Model model = tickrt::init_model(cfg, o.seed);
  if (o.perturb > 0) tickrt::perturb_weights(model, o.seed, o.perturb);
  model.save(o.out);
  // The engine needs features.json too: an untrained model reads the first n_features features unnormalised.
  if (cfg.n_features <= tickrt::kFeatureCount) {
    tickrt::FeatureSpec::untrained(cfg.n_features, cfg.outputs).save(std::filesystem::path(o.out) / "features.json");
  } else {
    fmt::print(stderr, "note: n_features {} > {} engine features: no features.json written (infer works; run "
               "needs one)\n", cfg.n_features, tickrt::kFeatureCount);
  }
  fmt::print("wrote {}: {} layers, {} parameters, {} state bytes per instrument\n", o.out, cfg.layers.size(),
             model.parameter_count(), tickrt::model_state_bytes(cfg));
  fmt::print("hash {:016x}\n", model.hash);
  return 0;
}

tickrt::cli::Registration reg("init-model", "write a randomly initialised model directory", [](CLI::App& app) {
  auto o = std::make_shared<InitModelOptions>();
  app.add_option("--config", o->config, "config.json to initialise (defaults may be omitted)")->required();
  app.add_option("--seed", o->seed, "random seed: the same seed and config give the same weights")
      ->capture_default_str();
  app.add_option("--out", o->out, "model directory to write (config.json, model.safetensors, features.json)")->required();
  app.add_option("--perturb", o->perturb,
                 "add N(0, STD) noise to every weight so that no weight is an exact 0 or 1 (for tests)");
  app.add_flag("--force", o->force, "overwrite a model already in --out");
  app.footer(
      "Weights follow the reference initialisations (see engine/model_init.cpp).\n"
      "Example: tickrt init-model --config models/default/config.json --seed 1 --out /tmp/m1");
  return [o] { return run_init_model(*o); };
});

}  // namespace
