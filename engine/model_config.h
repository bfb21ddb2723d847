// The model's architecture and hyper-parameters: config.json of a model directory (MODEL-SPEC §2).
// Defaults are those of MODEL-SPEC; where MODEL-SPEC gives none (some megalodon widths) they are fixed here
// and tools/train/tickmodel.py uses the same ones. Parsing validates every field and names the one at fault.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tickrt {

enum class LayerType { mamba, attention, megalodon };
enum class FfnType { none, mlp, moe };

struct LayerSpec {
  LayerType type = LayerType::mamba;
  FfnType ffn = FfnType::none;  // ignored (always none) for megalodon
};

struct MambaConfig {
  int d_state = 16;          // N
  int d_conv = 4;            // K
  int expand = 2;            // d_inner = expand * d_model
  int dt_rank = 0;           // R; 0 in JSON or absent means ceil(d_model / 16)
  bool conv_bias = true;
  bool proj_bias = false;    // biases on in_proj and out_proj
  bool inner_norms = true;   // Jamba's RMSNorms on dt, B, C
};

struct AttentionConfig {
  int n_heads = 4;
  int n_kv_heads = 0;        // 0 / absent means n_heads
  int window = 1024;         // W
  int refresh_every = 1;     // P
  int refresh_lag = 0;       // l
};

struct MlpConfig {
  int intermediate = 0;      // 0 / absent means 4 * d_model
};

struct MoeConfig {
  int n_experts = 8;
  int top_k = 2;
  int intermediate = 0;      // 0 / absent means 2 * d_model
};

struct MegalodonConfig {
  int z_dim = 0;             // Z; 0 / absent means d_model
  int value_dim = 0;         // V; 0 / absent means d_model
  int n_heads = 1;           // heads of the chunk attention (Z and V split evenly)
  int cema_ndim = 16;        // n
  int chunk_size = 64;       // C
  int norm_groups = 0;       // G; 0 / absent means 1 (must divide d_model)
  int ffn_hidden = 0;        // 0 / absent means 4 * d_model
  bool swiglu = true;
  double norm_eps = 1e-5;
  double rope_base = 10000.0;
};

struct ModelConfig {
  int n_features = 0;                 // F
  int d_model = 0;                    // D
  std::vector<std::string> outputs;   // H = outputs.size()
  std::vector<LayerSpec> layers;
  double rms_norm_eps = 1e-6;
  MambaConfig mamba;
  AttentionConfig attention;
  MlpConfig mlp;
  MoeConfig moe;
  MegalodonConfig megalodon;
  std::optional<double> session_gap_s;

  int n_outputs() const { return static_cast<int>(outputs.size()); }
  // Derived widths with every "0 means default" resolved (parse() resolves them, so these are plain reads).
  int mamba_d_inner() const { return mamba.expand * d_model; }

  // Parses and validates; `source` (usually the file path) is named in every error, with the field.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
  static ModelConfig load(const std::filesystem::path& config_json);
  // Canonical JSON with every default written out (what init-model saves and the model hash covers).
  nlohmann::json to_json() const;
};

const char* to_string(LayerType t);
const char* to_string(FfnType t);

}  // namespace tickrt
