// features.json: which features a model reads (by name, in its input order), their normalisation, and the
// outputs it predicts (label definitions). Written by the trainer (fitted on the training split only), read by
// the engine and by `tickrt features`.
//
//   {"format": "tickrt-features/1",
//    "features": [{"name": "mid_ret_bp", "mean": 0.0, "std": 0.05, "clip": 10.0}, ...],
//    "outputs":  [{"name": "ret_10t", "horizon": 10, "units": "ticks"}, {"name": "ret_5s", "horizon": 5, "units": "seconds"}]}
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/features.h"

namespace tickrt {

struct FeatureNorm {
  std::string name;
  int index = 0;      // position in kFeatures (resolved from name)
  float mean = 0.0f;
  float std = 1.0f;   // > 0
  float clip = 0.0f;  // |normalised| is clipped to this; 0 = no clip
};

enum class HorizonUnits { ticks, seconds };

// A label: the forward mid log-return in basis points over `horizon` ticks or seconds.
struct OutputSpec {
  std::string name;
  double horizon = 1;
  HorizonUnits units = HorizonUnits::ticks;
};

struct FeatureSpec {
  std::vector<FeatureNorm> features;  // [F], the model's input order
  std::vector<OutputSpec> outputs;    // [H]

  int n_features() const { return static_cast<int>(features.size()); }
  // x [F] = clip((raw[index] - mean) / std). Allocates nothing.
  void normalise(const float* raw /*[kFeatureCount]*/, float* x /*[F]*/) const;

  // Every feature of kFeatures with identity normalisation, and the default horizons (10, 100 ticks; 5 s).
  static FeatureSpec defaults();
  // For an untrained model of n_features inputs and these outputs: the first n_features of kFeatures with
  // identity normalisation, and outputs named as given with the default horizons in turn (10 ticks,
  // 100 ticks, 5 s, ...). Throws when n_features exceeds kFeatureCount.
  static FeatureSpec untrained(int n_features, const std::vector<std::string>& outputs);
  static FeatureSpec from_json(const nlohmann::json& j, const std::string& source);
  static FeatureSpec load(const std::filesystem::path& file);
  nlohmann::json to_json() const;
  void save(const std::filesystem::path& file) const;
};

}  // namespace tickrt
