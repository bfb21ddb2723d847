// tickrt features: export features and labels of a journal for the trainer (engine/feature_export.h).
#include <fmt/core.h>

#include "engine/feature_export.h"
#include "engine/model_config.h"
#include "tools/command_registry.h"

namespace {

struct FeaturesCli {
  std::string journal, model, spec, out;
  double session_gap_s = -1;
  bool skip_corrupt = false;
  int max_instruments = 100000;
};

int run_features(const FeaturesCli& o) {
  tickrt::FeatureExportOptions e;
  e.journal = o.journal;
  e.out_dir = o.out;
  e.skip_corrupt = o.skip_corrupt;
  e.max_instruments = o.max_instruments;
  if (!o.model.empty()) {
    const std::filesystem::path dir(o.model);
    e.spec = tickrt::FeatureSpec::load(dir / "features.json");
    e.session_gap_s = tickrt::ModelConfig::load(dir / "config.json").session_gap_s.value_or(0.0);
  } else {
    e.spec = tickrt::FeatureSpec::load(o.spec);
  }
  if (o.session_gap_s >= 0) e.session_gap_s = o.session_gap_s;
  const auto r = tickrt::export_features(e);
  fmt::print("{}: {} records -> {} rows of {} features, {} outputs, {} instruments, {} rejected\n", o.out, r.records,
             r.rows, e.spec.n_features(), e.spec.outputs.size(), r.instruments, r.rejected);
  return r.rows > 0 ? 0 : 1;
}

tickrt::cli::Registration reg("features", "export features and labels of a journal for the trainer",
                              [](CLI::App& app) {
  auto o = std::make_shared<FeaturesCli>();
  app.add_option("journal", o->journal, "input .ticks journal")->required()->check(CLI::ExistingFile);
  auto* model = app.add_option("--model", o->model, "model directory: its features.json and session_gap_s");
  auto* spec = app.add_option("--spec", o->spec, "a features.json (feature list, normalisation, outputs)");
  model->excludes(spec);
  app.add_option("--out", o->out, "output directory (X.npy, X_raw.npy, Y.npy, time_ns.npy, ...)")->required();
  app.add_option("--session-gap", o->session_gap_s, "reset state after a gap of this many seconds (overrides)");
  app.add_flag("--skip-corrupt", o->skip_corrupt, "resynchronise after a corrupt journal record");
  app.add_option("--max-instruments", o->max_instruments, "most instruments")->capture_default_str();
  app.footer("Example: tickrt features eurusd.ticks --spec tools/train/default_features.json --out data/eurusd");
  return [o, model, spec] {
    if (model->count() == 0 && spec->count() == 0) throw std::runtime_error("give --model DIR or --spec FILE");
    return run_features(*o);
  };
});

}  // namespace
