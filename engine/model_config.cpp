// config.json <-> ModelConfig (MODEL-SPEC §2). Parsing is strict: every field is type- and range-checked,
// unknown fields are refused (a typo must never silently fall back to a default), and every error names the
// source and the dotted field path, e.g. "config.json: field 'attention.window' must be a positive integer,
// got -3". Only "meta" and "comment" are free-form (documentation for humans; not part of the canonical form
// or the model hash).
#include "engine/model_config.h"

#include <fmt/core.h>

#include <cmath>
#include <fstream>
#include <set>
#include <stdexcept>

namespace tickrt {
namespace {

constexpr const char* kFormat = "tickrt-model/1";
// Every integer field is at most this (2^24), so that the int products the rest of the engine forms from them
// (4*D, expand*D, W + l, ...) cannot overflow; real models are orders of magnitude smaller.
constexpr int64_t kMaxInt = int64_t{1} << 24;

// Reads one JSON object, remembering which keys were consumed so that leftovers can be refused.
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& j, std::string source, std::string prefix)
      : j_(j), source_(std::move(source)), prefix_(std::move(prefix)) {
    if (!j_.is_object()) {
      fail(prefix_.empty() ? std::string("the top level") : fmt::format("field '{}'", trim_dot(prefix_)),
           "must be a JSON object", j_);
    }
  }

  std::string path(const std::string& key) const { return prefix_ + key; }
  const std::string& source() const { return source_; }

  const nlohmann::json* find(const std::string& key) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  [[noreturn]] void fail_field(const std::string& key, const std::string& what, const nlohmann::json& got) const {
    fail(fmt::format("field '{}'", path(key)), what, got);
  }
  [[noreturn]] void fail_field(const std::string& key, const std::string& what) const {
    throw std::runtime_error(fmt::format("{}: field '{}' {}", source_, path(key), what));
  }

  // Integer field; `min` is the smallest allowed value (0 for "0 means default" fields).
  int get_int(const std::string& key, int def, int min) {
    const nlohmann::json* v = find(key);
    if (!v) return def;
    const char* want = min > 0 ? "must be a positive integer" : "must be a non-negative integer";
    if (!v->is_number_integer()) fail_field(key, want, *v);
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(kMaxInt))
      fail_field(key, fmt::format("{} at most {}", want, kMaxInt), *v);
    int64_t s = v->get<int64_t>();
    if (s < min) fail_field(key, want, *v);
    if (s > kMaxInt) fail_field(key, fmt::format("{} at most {}", want, kMaxInt), *v);
    return static_cast<int>(s);
  }

  // Strictly positive finite number.
  double get_positive(const std::string& key, double def) {
    const nlohmann::json* v = find(key);
    if (!v) return def;
    if (!v->is_number()) fail_field(key, "must be a positive number", *v);
    double d = v->get<double>();
    if (!(d > 0) || !std::isfinite(d)) fail_field(key, "must be a positive number", *v);
    return d;
  }

  bool get_bool(const std::string& key, bool def) {
    const nlohmann::json* v = find(key);
    if (!v) return def;
    if (!v->is_boolean()) fail_field(key, "must be true or false", *v);
    return v->get<bool>();
  }

  // Refuses keys that were never asked for (`free_form` keys are accepted and ignored).
  void refuse_unknown(const std::set<std::string>& free_form = {}) const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (seen_.count(it.key()) || free_form.count(it.key())) continue;
      throw std::runtime_error(fmt::format("{}: unknown field '{}' (known: {})", source_, path(it.key()), known()));
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what_field, const std::string& what, const nlohmann::json& got) const {
    throw std::runtime_error(fmt::format("{}: {} {}, got {}", source_, what_field, what, got.dump()));
  }
  static std::string trim_dot(const std::string& p) { return p.empty() ? p : p.substr(0, p.size() - 1); }
  std::string known() const {
    std::string s;
    for (const auto& k : seen_) s += (s.empty() ? "" : ", ") + k;
    return s;
  }

  const nlohmann::json& j_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> seen_;
};

LayerType parse_layer_type(const std::string& s, bool& ok) {
  ok = true;
  if (s == "mamba") return LayerType::mamba;
  if (s == "attention") return LayerType::attention;
  if (s == "megalodon") return LayerType::megalodon;
  ok = false;
  return LayerType::mamba;
}

FfnType parse_ffn(const std::string& s, bool& ok) {
  ok = true;
  if (s == "none") return FfnType::none;
  if (s == "mlp") return FfnType::mlp;
  if (s == "moe") return FfnType::moe;
  ok = false;
  return FfnType::none;
}

std::vector<LayerSpec> parse_layers(const nlohmann::json& j, const std::string& source) {
  if (!j.is_array() || j.empty()) {
    throw std::runtime_error(fmt::format("{}: field 'layers' must be a non-empty list of {{\"type\", \"ffn\"}} objects, got {}",
                                         source, j.dump()));
  }
  std::vector<LayerSpec> layers;
  for (std::size_t i = 0; i < j.size(); ++i) {
    ObjectReader r(j[i], source, fmt::format("layers[{}].", i));
    LayerSpec spec;
    const nlohmann::json* type = r.find("type");
    if (!type || !type->is_string()) {
      r.fail_field("type", "must be one of \"mamba\", \"attention\", \"megalodon\"", type ? *type : nlohmann::json());
    }
    bool ok = false;
    spec.type = parse_layer_type(type->get<std::string>(), ok);
    if (!ok) {
      throw std::runtime_error(fmt::format("{}: layer {}: unknown layer type {} (known: mamba, attention, megalodon)",
                                           source, i, type->dump()));
    }
    if (const nlohmann::json* ffn = r.find("ffn")) {
      if (!ffn->is_string()) r.fail_field("ffn", "must be one of \"none\", \"mlp\", \"moe\"", *ffn);
      spec.ffn = parse_ffn(ffn->get<std::string>(), ok);
      if (!ok) {
        throw std::runtime_error(
            fmt::format("{}: layer {}: unknown ffn kind {} (known: none, mlp, moe)", source, i, ffn->dump()));
      }
    }
    // MODEL-SPEC §2: ffn is ignored for megalodon (the block has its own normalised FFN).
    if (spec.type == LayerType::megalodon) spec.ffn = FfnType::none;
    r.refuse_unknown();
    layers.push_back(spec);
  }
  return layers;
}

std::vector<std::string> parse_outputs(const nlohmann::json& j, const std::string& source) {
  auto bad = [&](const std::string& why) {
    return std::runtime_error(fmt::format("{}: field 'outputs' {}, got {}", source, why, j.dump()));
  };
  if (!j.is_array() || j.empty()) throw bad("must be a non-empty list of output names");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& e : j) {
    if (!e.is_string() || e.get<std::string>().empty()) throw bad("must hold non-empty strings");
    if (!seen.insert(e.get<std::string>()).second) throw bad("must not repeat a name ('" + e.get<std::string>() + "')");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// Throws "source: field 'name' must ..., got v" for a failed cross-field check.
void require(bool ok, const std::string& source, const std::string& field, const std::string& what) {
  if (!ok) throw std::runtime_error(fmt::format("{}: field '{}' {}", source, field, what));
}

bool uses(const std::vector<LayerSpec>& layers, LayerType t) {
  for (const auto& l : layers)
    if (l.type == t) return true;
  return false;
}

}  // namespace

const char* to_string(LayerType t) {
  switch (t) {
    case LayerType::mamba: return "mamba";
    case LayerType::attention: return "attention";
    case LayerType::megalodon: return "megalodon";
  }
  return "?";
}

const char* to_string(FfnType t) {
  switch (t) {
    case FfnType::none: return "none";
    case FfnType::mlp: return "mlp";
    case FfnType::moe: return "moe";
  }
  return "?";
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& source) {
  ModelConfig c;
  ObjectReader top(j, source, "");

  const nlohmann::json* format = top.find("format");
  if (!format || !format->is_string() || format->get<std::string>() != kFormat) {
    top.fail_field("format", fmt::format("must be \"{}\"", kFormat), format ? *format : nlohmann::json());
  }
  if (!top.find("n_features")) top.fail_field("n_features", "is required (a positive integer)");
  if (!top.find("d_model")) top.fail_field("d_model", "is required (a positive integer)");
  c.n_features = top.get_int("n_features", 0, 1);
  c.d_model = top.get_int("d_model", 0, 1);
  const nlohmann::json* outputs = top.find("outputs");
  if (!outputs) top.fail_field("outputs", "is required (a non-empty list of output names)");
  c.outputs = parse_outputs(*outputs, source);
  const nlohmann::json* layers = top.find("layers");
  if (!layers) top.fail_field("layers", "is required (a non-empty list of layers)");
  c.layers = parse_layers(*layers, source);
  c.rms_norm_eps = top.get_positive("rms_norm_eps", 1e-6);
  c.session_gap_s.reset();
  if (top.find("session_gap_s")) c.session_gap_s = top.get_positive("session_gap_s", 0.0);

  const int D = c.d_model;
  const nlohmann::json empty = nlohmann::json::object();
  auto section = [&](const char* name) {
    const nlohmann::json* s = top.find(name);
    return ObjectReader(s ? *s : empty, source, std::string(name) + ".");
  };

  {
    ObjectReader r = section("mamba");
    MambaConfig& m = c.mamba;
    m.d_state = r.get_int("d_state", 16, 1);
    m.d_conv = r.get_int("d_conv", 4, 1);
    m.expand = r.get_int("expand", 2, 1);
    m.dt_rank = r.get_int("dt_rank", 0, 0);
    if (m.dt_rank == 0) m.dt_rank = (D + 15) / 16;  // ceil(D/16), as Mamba and Jamba
    m.conv_bias = r.get_bool("conv_bias", true);
    m.proj_bias = r.get_bool("proj_bias", false);
    m.inner_norms = r.get_bool("inner_norms", true);
    r.refuse_unknown();
    require(int64_t{m.expand} * D <= kMaxInt, source, "mamba.expand",
            fmt::format("times d_model must be at most {}, got {} x {}", kMaxInt, m.expand, D));
  }
  {
    ObjectReader r = section("attention");
    AttentionConfig& a = c.attention;
    a.n_heads = r.get_int("n_heads", 4, 1);
    a.n_kv_heads = r.get_int("n_kv_heads", 0, 0);
    if (a.n_kv_heads == 0) a.n_kv_heads = a.n_heads;
    a.window = r.get_int("window", 1024, 1);
    a.refresh_every = r.get_int("refresh_every", 1, 1);
    a.refresh_lag = r.get_int("refresh_lag", 0, 0);
    r.refuse_unknown();
    // Widths are only checked when a layer uses them, so an unused section's defaults never block a model.
    if (uses(c.layers, LayerType::attention)) {
      require(D % a.n_heads == 0, source, "attention.n_heads",
              fmt::format("must divide d_model ({}), got {}", D, a.n_heads));
      require(a.n_heads % a.n_kv_heads == 0, source, "attention.n_kv_heads",
              fmt::format("must divide attention.n_heads ({}), got {}", a.n_heads, a.n_kv_heads));
    }
  }
  {
    ObjectReader r = section("mlp");
    c.mlp.intermediate = r.get_int("intermediate", 0, 0);
    if (c.mlp.intermediate == 0) c.mlp.intermediate = 4 * D;
    r.refuse_unknown();
  }
  {
    ObjectReader r = section("moe");
    MoeConfig& m = c.moe;
    m.n_experts = r.get_int("n_experts", 8, 1);
    m.top_k = r.get_int("top_k", 2, 1);
    m.intermediate = r.get_int("intermediate", 0, 0);
    if (m.intermediate == 0) m.intermediate = 2 * D;
    r.refuse_unknown();
    require(m.top_k <= m.n_experts, source, "moe.top_k",
            fmt::format("must be at most moe.n_experts ({}), got {}", m.n_experts, m.top_k));
  }
  {
    ObjectReader r = section("megalodon");
    MegalodonConfig& m = c.megalodon;
    m.z_dim = r.get_int("z_dim", 0, 0);
    if (m.z_dim == 0) m.z_dim = D;
    m.value_dim = r.get_int("value_dim", 0, 0);
    if (m.value_dim == 0) m.value_dim = D;
    m.n_heads = r.get_int("n_heads", 1, 1);
    m.cema_ndim = r.get_int("cema_ndim", 16, 1);
    m.chunk_size = r.get_int("chunk_size", 64, 1);
    m.norm_groups = r.get_int("norm_groups", 0, 0);
    if (m.norm_groups == 0) m.norm_groups = 1;
    m.ffn_hidden = r.get_int("ffn_hidden", 0, 0);
    if (m.ffn_hidden == 0) m.ffn_hidden = 4 * D;
    m.swiglu = r.get_bool("swiglu", true);
    m.norm_eps = r.get_positive("norm_eps", 1e-5);
    m.rope_base = r.get_positive("rope_base", 10000.0);
    r.refuse_unknown();
    if (uses(c.layers, LayerType::megalodon)) {
      require(m.z_dim % m.n_heads == 0, source, "megalodon.z_dim",
              fmt::format("must be a multiple of megalodon.n_heads ({}), got {}", m.n_heads, m.z_dim));
      require(m.value_dim % m.n_heads == 0, source, "megalodon.value_dim",
              fmt::format("must be a multiple of megalodon.n_heads ({}), got {}", m.n_heads, m.value_dim));
      require((m.z_dim / m.n_heads) % 2 == 0, source, "megalodon.z_dim",
              fmt::format("must give an even head width z_dim/n_heads for RoPE pairs, got {}/{} = {}", m.z_dim,
                          m.n_heads, m.z_dim / m.n_heads));
      require(D % m.norm_groups == 0, source, "megalodon.norm_groups",
              fmt::format("must divide d_model ({}), got {}", D, m.norm_groups));
    }
  }
  top.refuse_unknown({"meta", "comment"});
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", config_json.string()));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", config_json.string(), e.what()));
  }
  return from_json(j, config_json.string());
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["n_features"] = n_features;
  j["d_model"] = d_model;
  j["outputs"] = outputs;
  nlohmann::json layer_list = nlohmann::json::array();
  for (const auto& l : layers) layer_list.push_back({{"type", to_string(l.type)}, {"ffn", to_string(l.ffn)}});
  j["layers"] = layer_list;
  j["rms_norm_eps"] = rms_norm_eps;
  j["mamba"] = {{"d_state", mamba.d_state},     {"d_conv", mamba.d_conv},       {"expand", mamba.expand},
                {"dt_rank", mamba.dt_rank},     {"conv_bias", mamba.conv_bias}, {"proj_bias", mamba.proj_bias},
                {"inner_norms", mamba.inner_norms}};
  j["attention"] = {{"n_heads", attention.n_heads},
                    {"n_kv_heads", attention.n_kv_heads},
                    {"window", attention.window},
                    {"refresh_every", attention.refresh_every},
                    {"refresh_lag", attention.refresh_lag}};
  j["mlp"] = {{"intermediate", mlp.intermediate}};
  j["moe"] = {{"n_experts", moe.n_experts}, {"top_k", moe.top_k}, {"intermediate", moe.intermediate}};
  j["megalodon"] = {{"z_dim", megalodon.z_dim},
                    {"value_dim", megalodon.value_dim},
                    {"n_heads", megalodon.n_heads},
                    {"cema_ndim", megalodon.cema_ndim},
                    {"chunk_size", megalodon.chunk_size},
                    {"norm_groups", megalodon.norm_groups},
                    {"ffn_hidden", megalodon.ffn_hidden},
                    {"swiglu", megalodon.swiglu},
                    {"norm_eps", megalodon.norm_eps},
                    {"rope_base", megalodon.rope_base}};
  if (session_gap_s) j["session_gap_s"] = *session_gap_s;
  return j;
}

}  // namespace tickrt
