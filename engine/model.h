// A loaded model: validated config, every weight as float32, and the model hash (MODEL-SPEC §2).
// Loading is setup code: it allocates, and throws std::runtime_error naming the file, field or tensor at fault.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/model_config.h"

namespace tickrt {

struct Tensor {
  std::vector<int64_t> shape;  // PyTorch order, e.g. [out, in] for a linear weight
  std::vector<float> data;     // row-major, numel() values
  int64_t numel() const;
};

struct TensorSpec {
  std::string name;            // e.g. "layers.0.mamba.in_proj.weight"
  std::vector<int64_t> shape;
};

// Every tensor the config requires, with its shape (MODEL-SPEC §3-6), in a stable order.
std::vector<TensorSpec> expected_tensors(const ModelConfig& cfg);

class Weights {
 public:
  std::map<std::string, Tensor> tensors;
  // The tensor `name`; throws naming it when absent.
  const Tensor& at(const std::string& name) const;
  const float* data(const std::string& name) const { return at(name).data.data(); }
};

struct Model {
  std::filesystem::path dir;   // where it was loaded from (empty when built in memory)
  ModelConfig config;
  Weights weights;
  uint64_t hash = 0;           // over the canonical config JSON and every tensor (name, shape, float32 bytes)

  // Loads DIR/config.json and DIR/model.safetensors; checks names, shapes, dtypes and finiteness.
  static Model load(const std::filesystem::path& dir);
  // Writes config.json and model.safetensors (F32) into dir (created if needed).
  void save(const std::filesystem::path& dir) const;
  // Computes `hash` from config and weights.
  uint64_t compute_hash() const;
  int64_t parameter_count() const;
};

// A randomly initialised model, initialised as the reference implementations do (MODEL-SPEC §9).
Model init_model(const ModelConfig& cfg, uint64_t seed);

}  // namespace tickrt
