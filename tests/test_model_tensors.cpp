// expected_tensors(): names and shapes per MODEL-SPEC §3-6 for every layer type, ffn kind and option.
#include <catch2/catch.hpp>

#include <map>

#include "engine/model.h"

using nlohmann::json;
using tickrt::ModelConfig;

namespace {

std::map<std::string, std::vector<int64_t>> specs_of(const json& j) {
  std::map<std::string, std::vector<int64_t>> m;
  for (const auto& s : tickrt::expected_tensors(ModelConfig::from_json(j, "test"))) {
    REQUIRE(m.emplace(s.name, s.shape).second);  // names are unique
  }
  return m;
}

json base(json layers) {
  return json{{"format", "tickrt-model/1"}, {"n_features", 6}, {"d_model", 32}, {"outputs", {"a", "b", "c"}},
              {"layers", std::move(layers)}};
}

using S = std::vector<int64_t>;

}  // namespace

TEST_CASE("model tensors: globals and a mamba layer with defaults", "[model]") {
  auto m = specs_of(base(json::array({{{"type", "mamba"}}})));
  // E = 64, N = 16, K = 4, R = 2
  const std::map<std::string, S> want = {
      {"embed.weight", {32, 6}},
      {"embed.bias", {32}},
      {"final_layernorm.weight", {32}},
      {"head.weight", {3, 32}},
      {"head.bias", {3}},
      {"layers.0.input_layernorm.weight", {32}},
      {"layers.0.mamba.in_proj.weight", {128, 32}},
      {"layers.0.mamba.conv1d.weight", {64, 1, 4}},
      {"layers.0.mamba.conv1d.bias", {64}},
      {"layers.0.mamba.x_proj.weight", {2 + 32, 64}},
      {"layers.0.mamba.dt_proj.weight", {64, 2}},
      {"layers.0.mamba.dt_proj.bias", {64}},
      {"layers.0.mamba.A_log", {64, 16}},
      {"layers.0.mamba.D", {64}},
      {"layers.0.mamba.out_proj.weight", {32, 64}},
      {"layers.0.mamba.dt_layernorm.weight", {2}},
      {"layers.0.mamba.b_layernorm.weight", {16}},
      {"layers.0.mamba.c_layernorm.weight", {16}},
  };
  CHECK(m == want);
}

TEST_CASE("model tensors: mamba options add and remove tensors", "[model]") {
  json j = base(json::array({{{"type", "mamba"}, {"ffn", "mlp"}}}));
  j["mamba"] = {{"conv_bias", false}, {"proj_bias", true}, {"inner_norms", false}, {"d_state", 8},
                {"dt_rank", 5}, {"expand", 3}, {"d_conv", 2}};
  j["mlp"] = {{"intermediate", 48}};
  auto m = specs_of(j);
  CHECK(m.count("layers.0.mamba.conv1d.bias") == 0);
  CHECK(m.count("layers.0.mamba.dt_layernorm.weight") == 0);
  CHECK(m.count("layers.0.mamba.b_layernorm.weight") == 0);
  CHECK(m.count("layers.0.mamba.c_layernorm.weight") == 0);
  CHECK(m.at("layers.0.mamba.in_proj.bias") == S{192});
  CHECK(m.at("layers.0.mamba.out_proj.bias") == S{32});
  CHECK(m.at("layers.0.mamba.x_proj.weight") == S{5 + 16, 96});
  CHECK(m.at("layers.0.mamba.conv1d.weight") == S{96, 1, 2});
  CHECK(m.at("layers.0.pre_ff_layernorm.weight") == S{32});
  CHECK(m.at("layers.0.feed_forward.gate_proj.weight") == S{48, 32});
  CHECK(m.at("layers.0.feed_forward.up_proj.weight") == S{48, 32});
  CHECK(m.at("layers.0.feed_forward.down_proj.weight") == S{32, 48});
  CHECK(m.size() == 5 + 1 + 10 + 4);
}

TEST_CASE("model tensors: attention with grouped KV heads and a MoE", "[model]") {
  json j = base(json::array({{{"type", "attention"}, {"ffn", "moe"}}}));
  j["attention"] = {{"n_heads", 8}, {"n_kv_heads", 2}};
  j["moe"] = {{"n_experts", 3}, {"top_k", 1}};
  auto m = specs_of(j);
  CHECK(m.at("layers.0.self_attn.q_proj.weight") == S{32, 32});
  CHECK(m.at("layers.0.self_attn.k_proj.weight") == S{8, 32});  // 2 heads x hd 4
  CHECK(m.at("layers.0.self_attn.v_proj.weight") == S{8, 32});
  CHECK(m.at("layers.0.self_attn.o_proj.weight") == S{32, 32});
  CHECK(m.at("layers.0.feed_forward.router.weight") == S{3, 32});
  for (int e = 0; e < 3; ++e) {
    std::string p = "layers.0.feed_forward.experts." + std::to_string(e) + ".";
    CHECK(m.at(p + "gate_proj.weight") == S{64, 32});
    CHECK(m.at(p + "up_proj.weight") == S{64, 32});
    CHECK(m.at(p + "down_proj.weight") == S{32, 64});
  }
  CHECK(m.count("layers.0.feed_forward.experts.3.gate_proj.weight") == 0);
  CHECK(m.size() == 5 + 1 + 4 + 1 + 1 + 9);
}

TEST_CASE("model tensors: decoder layer without ffn has no pre_ff_layernorm", "[model]") {
  auto m = specs_of(base(json::array({{{"type", "attention"}, {"ffn", "none"}}})));
  CHECK(m.count("layers.0.pre_ff_layernorm.weight") == 0);
  CHECK(m.count("layers.0.input_layernorm.weight") == 1);
  CHECK(m.size() == 5 + 1 + 4);
}

TEST_CASE("model tensors: megalodon block", "[model]") {
  json j = base(json::array({{{"type", "megalodon"}, {"ffn", "mlp"}}}));  // ffn ignored for megalodon
  j["megalodon"] = {{"z_dim", 16}, {"value_dim", 48}, {"n_heads", 2}, {"cema_ndim", 4}, {"ffn_hidden", 40}};
  auto m = specs_of(j);
  const std::map<std::string, S> want_layer = {
      {"mega.timenorm.weight", {32}}, {"mega.timenorm.bias", {32}},
      {"mega.cema.alpha", {32, 4, 1}}, {"mega.cema.delta", {32, 4, 1}},
      {"mega.cema.theta", {32, 1, 1}}, {"mega.cema.gamma", {32, 4, 2}},
      {"mega.cema.omega", {32, 1}},   {"mega.rmsnorm.weight", {32}},
      {"mega.wz.weight", {16, 32}},   {"mega.wz.bias", {16}},
      {"mega.wv.weight", {48, 32}},   {"mega.wv.bias", {48}},
      {"mega.wr.weight", {48, 32}},   {"mega.wr.bias", {48}},
      {"mega.wh1.weight", {32, 32}},  {"mega.wh1.bias", {32}},
      {"mega.wh2.weight", {32, 48}},  {"mega.gamma", {2, 16}},
      {"mega.beta", {2, 16}},         {"nffn.norm.weight", {32}},
      {"nffn.norm.bias", {32}},       {"nffn.fc1.weight", {40, 32}},
      {"nffn.fc3.weight", {40, 32}},  {"nffn.fc2.weight", {32, 40}},
  };
  for (const auto& [name, shape] : want_layer) {
    INFO(name);
    REQUIRE(m.count("layers.0." + name) == 1);
    CHECK(m.at("layers.0." + name) == shape);
  }
  CHECK(m.size() == 5 + want_layer.size());  // no input_layernorm, no pre_ff_layernorm, no feed_forward
  j["megalodon"]["swiglu"] = false;
  CHECK(specs_of(j).count("layers.0.nffn.fc3.weight") == 0);
}

TEST_CASE("model tensors: order is stable and layers are numbered", "[model]") {
  auto specs = tickrt::expected_tensors(ModelConfig::from_json(
      base(json::array({{{"type", "mamba"}}, {{"type", "attention"}}, {{"type", "megalodon"}}})), "t"));
  CHECK(specs.front().name == "embed.weight");
  CHECK(specs.back().name == "head.bias");
  bool seen1 = false, seen2 = false;
  for (const auto& s : specs) {
    seen1 |= s.name.rfind("layers.1.self_attn.", 0) == 0;
    seen2 |= s.name.rfind("layers.2.mega.", 0) == 0;
  }
  CHECK(seen1);
  CHECK(seen2);
}
