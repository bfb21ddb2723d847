// config.json parsing: defaults, canonical form, and every validation error naming its field.
#include <catch2/catch.hpp>

#include <fstream>

#include "engine/model_config.h"
#include "tests/test_util.h"

using nlohmann::json;
using tickrt::ModelConfig;

namespace {

json minimal() {
  return json{{"format", "tickrt-model/1"},
              {"n_features", 5},
              {"d_model", 32},
              {"outputs", {"ret_10", "ret_100"}},
              {"layers", json::array({{{"type", "mamba"}, {"ffn", "mlp"}},
                                      {{"type", "attention"}, {"ffn", "moe"}},
                                      {{"type", "megalodon"}}})}};
}

// The error message of from_json(j), or "" when it parses.
std::string error_of(const json& j) {
  try {
    ModelConfig::from_json(j, "config.json");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model config: defaults are resolved", "[model]") {
  ModelConfig c = ModelConfig::from_json(minimal(), "config.json");
  CHECK(c.n_features == 5);
  CHECK(c.d_model == 32);
  CHECK(c.n_outputs() == 2);
  REQUIRE(c.layers.size() == 3);
  CHECK(c.layers[0].type == tickrt::LayerType::mamba);
  CHECK(c.layers[0].ffn == tickrt::FfnType::mlp);
  CHECK(c.layers[1].ffn == tickrt::FfnType::moe);
  CHECK(c.layers[2].type == tickrt::LayerType::megalodon);
  CHECK(c.layers[2].ffn == tickrt::FfnType::none);
  CHECK(c.rms_norm_eps == 1e-6);
  CHECK(c.mamba.d_state == 16);
  CHECK(c.mamba.d_conv == 4);
  CHECK(c.mamba.expand == 2);
  CHECK(c.mamba.dt_rank == 2);  // ceil(32/16)
  CHECK(c.mamba.conv_bias);
  CHECK_FALSE(c.mamba.proj_bias);
  CHECK(c.mamba.inner_norms);
  CHECK(c.mamba_d_inner() == 64);
  CHECK(c.attention.n_heads == 4);
  CHECK(c.attention.n_kv_heads == 4);
  CHECK(c.attention.window == 1024);
  CHECK(c.attention.refresh_every == 1);
  CHECK(c.attention.refresh_lag == 0);
  CHECK(c.mlp.intermediate == 128);
  CHECK(c.moe.n_experts == 8);
  CHECK(c.moe.top_k == 2);
  CHECK(c.moe.intermediate == 64);
  CHECK(c.megalodon.z_dim == 32);
  CHECK(c.megalodon.value_dim == 32);
  CHECK(c.megalodon.n_heads == 1);
  CHECK(c.megalodon.cema_ndim == 16);
  CHECK(c.megalodon.chunk_size == 64);
  CHECK(c.megalodon.norm_groups == 1);
  CHECK(c.megalodon.ffn_hidden == 128);
  CHECK(c.megalodon.swiglu);
  CHECK(c.megalodon.norm_eps == 1e-5);
  CHECK(c.megalodon.rope_base == 10000.0);
  CHECK_FALSE(c.session_gap_s.has_value());

  json j = minimal();
  j["d_model"] = 33;  // dt_rank = ceil(33/16) = 3
  j["layers"] = json::array({{{"type", "mamba"}}});
  CHECK(ModelConfig::from_json(j, "c").mamba.dt_rank == 3);
}

TEST_CASE("model config: canonical JSON round trips and writes every default", "[model]") {
  json j = minimal();
  j["session_gap_s"] = 3600.5;
  j["attention"] = {{"n_heads", 8}, {"n_kv_heads", 2}, {"window", 100}, {"refresh_every", 4}, {"refresh_lag", 3}};
  j["meta"] = {{"note", "free text is allowed here"}};
  j["comment"] = "and here";
  ModelConfig c = ModelConfig::from_json(j, "config.json");
  json canon = c.to_json();
  CHECK(canon["mamba"]["dt_rank"] == 2);
  CHECK(canon["megalodon"]["norm_groups"] == 1);
  CHECK(canon["attention"]["n_kv_heads"] == 2);
  CHECK(canon["session_gap_s"] == 3600.5);
  CHECK(canon["layers"][2]["ffn"] == "none");
  CHECK_FALSE(canon.contains("meta"));  // free text is not part of the model's identity
  ModelConfig again = ModelConfig::from_json(canon, "canonical");
  CHECK(again.to_json() == canon);
  CHECK(again.to_json().dump() == canon.dump());
  // A config with every default written out equals the minimal one.
  CHECK(ModelConfig::from_json(ModelConfig::from_json(minimal(), "a").to_json(), "b").to_json() ==
        ModelConfig::from_json(minimal(), "a").to_json());
}

TEST_CASE("model config: load names the file", "[model]") {
  tickrt::test::TempDir dir;
  {
    std::ofstream(dir / "config.json") << minimal().dump(2);
    CHECK(ModelConfig::load(dir / "config.json").d_model == 32);
  }
  {
    std::ofstream(dir / "bad.json") << "{ not json";
    CHECK_THROWS_WITH(ModelConfig::load(dir / "bad.json"), Catch::Contains("bad.json") && Catch::Contains("JSON"));
  }
  CHECK_THROWS_WITH(ModelConfig::load(dir / "missing.json"), Catch::Contains("missing.json"));
}

TEST_CASE("model config: every invalid field is refused naming it", "[model]") {
  struct Case {
    const char* pointer;  // JSON pointer to set
    json value;
    const char* expect;   // substring of the error
  };
  const std::vector<Case> cases = {
      {"/format", "tickrt-model/2", "field 'format' must be \"tickrt-model/1\""},
      {"/n_features", 0, "field 'n_features' must be a positive integer, got 0"},
      {"/d_model", -4, "field 'd_model' must be a positive integer, got -4"},
      {"/d_model", 32.5, "field 'd_model' must be a positive integer, got 32.5"},
      {"/d_model", "32", "field 'd_model' must be a positive integer, got \"32\""},
      {"/outputs", json::array(), "field 'outputs'"},
      {"/outputs", json::array({"a", "a"}), "must not repeat a name ('a')"},
      {"/outputs", json::array({1}), "field 'outputs'"},
      {"/layers", json::array(), "field 'layers'"},
      {"/layers/0/type", "transformer", "layer 0: unknown layer type \"transformer\""},
      {"/layers/1/ffn", "glu", "layer 1: unknown ffn kind \"glu\""},
      {"/layers/0/extra", 1, "unknown field 'layers[0].extra'"},
      {"/rms_norm_eps", 0, "field 'rms_norm_eps' must be a positive number, got 0"},
      {"/session_gap_s", -1, "field 'session_gap_s' must be a positive number, got -1"},
      {"/session_gap_s", "1h", "field 'session_gap_s' must be a positive number"},
      {"/mamba/d_state", 0, "field 'mamba.d_state' must be a positive integer, got 0"},
      {"/mamba/d_conv", -1, "field 'mamba.d_conv' must be a positive integer"},
      {"/mamba/expand", 0, "field 'mamba.expand' must be a positive integer"},
      {"/mamba/dt_rank", -2, "field 'mamba.dt_rank' must be a non-negative integer, got -2"},
      {"/mamba/conv_bias", 1, "field 'mamba.conv_bias' must be true or false, got 1"},
      {"/mamba/inner_norm", true, "unknown field 'mamba.inner_norm'"},
      {"/attention/window", -3, "config.json: field 'attention.window' must be a positive integer, got -3"},
      {"/attention/n_heads", 5, "field 'attention.n_heads' must divide d_model (32), got 5"},
      {"/attention/n_kv_heads", 3, "field 'attention.n_kv_heads' must divide attention.n_heads (4), got 3"},
      {"/attention/refresh_every", 0, "field 'attention.refresh_every' must be a positive integer, got 0"},
      {"/attention/refresh_lag", -1, "field 'attention.refresh_lag' must be a non-negative integer, got -1"},
      {"/mlp/intermediate", -1, "field 'mlp.intermediate'"},
      {"/moe/n_experts", 0, "field 'moe.n_experts' must be a positive integer"},
      {"/moe/top_k", 9, "field 'moe.top_k' must be at most moe.n_experts (8), got 9"},
      {"/moe/top_k", 0, "field 'moe.top_k' must be a positive integer"},
      {"/megalodon/z_dim", 30, "field 'megalodon.z_dim' must give an even head width"},
      {"/megalodon/n_heads", 3, "field 'megalodon.z_dim' must be a multiple of megalodon.n_heads (3), got 32"},
      {"/megalodon/value_dim", 5, "field 'megalodon.value_dim' must be a multiple of megalodon.n_heads"},
      {"/megalodon/norm_groups", 5, "field 'megalodon.norm_groups' must divide d_model (32), got 5"},
      {"/megalodon/chunk_size", 0, "field 'megalodon.chunk_size' must be a positive integer"},
      {"/megalodon/cema_ndim", 0, "field 'megalodon.cema_ndim' must be a positive integer"},
      {"/megalodon/norm_eps", -1e-5, "field 'megalodon.norm_eps' must be a positive number"},
      {"/megalodon/swiglu", "yes", "field 'megalodon.swiglu' must be true or false"},
      {"/mamba", 3, "field 'mamba' must be a JSON object, got 3"},
      {"/d_modle", 32, "unknown field 'd_modle'"},
      {"/attention/window", 1 << 25, "field 'attention.window' must be a positive integer at most 16777216"},
      {"/d_model", 18446744073709551615ULL, "field 'd_model' must be a positive integer at most 16777216"},
      {"/mamba/expand", 1 << 20, "field 'mamba.expand' times d_model must be at most 16777216, got 1048576 x 32"},
  };
  for (const Case& c : cases) {
    json j = minimal();
    j["megalodon"] = {{"n_heads", 2}};  // so value_dim 5 is the only fault in its case
    if (std::string(c.pointer) == "/megalodon/n_heads") j["megalodon"] = json::object();
    j[json::json_pointer(c.pointer)] = c.value;
    INFO(c.pointer << " = " << c.value.dump());
    std::string err = error_of(j);
    CHECK_THAT(err, Catch::Contains(c.expect));
    CHECK_THAT(err, Catch::StartsWith("config.json: "));
  }
  // Missing required fields.
  for (const char* field : {"format", "n_features", "d_model", "outputs", "layers"}) {
    json j = minimal();
    j.erase(field);
    INFO(field);
    CHECK_THAT(error_of(j), Catch::Contains(std::string("field '") + field + "'"));
  }
  CHECK_THAT(error_of(json::array()), Catch::Contains("must be a JSON object"));
}

TEST_CASE("model config: width checks apply only to layer types in use", "[model]") {
  json j = minimal();
  j["layers"] = json::array({{{"type", "mamba"}}});
  j["attention"] = {{"n_heads", 5}};    // does not divide 32, but there is no attention layer
  j["megalodon"] = {{"z_dim", 30}};     // odd head width, but there is no megalodon layer
  CHECK(error_of(j).empty());
}
