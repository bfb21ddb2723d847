// layer_state_bytes(): the per-instrument state formula of engine/state_layout.h, checked by hand.
#include <catch2/catch.hpp>

#include "engine/state_layout.h"

using nlohmann::json;

namespace {

tickrt::ModelConfig config(json extra, json layers) {
  json j{{"format", "tickrt-model/1"}, {"n_features", 3}, {"d_model", 32}, {"outputs", {"y"}}, {"layers", layers}};
  if (extra.is_object()) j.update(extra);  // `{}` arrives as null
  return tickrt::ModelConfig::from_json(j, "t");
}

}  // namespace

TEST_CASE("model state layout: bytes per layer follow the documented formula", "[model]") {
  // mamba: E = 64, K = 4, N = 16 -> (64*4 + 64*16) * 4 = 5120 (already a multiple of 64)
  auto m = config({}, json::array({{{"type", "mamba"}, {"ffn", "moe"}}}));
  CHECK(tickrt::layer_state_bytes(m, 0) == 5120);
  // mamba with K = 3, N = 1, expand 1: (32*3 + 32*1) * 4 = 512
  m = config({{"mamba", {{"d_conv", 3}, {"d_state", 1}, {"expand", 1}}}}, json::array({{{"type", "mamba"}}}));
  CHECK(tickrt::layer_state_bytes(m, 0) == 512);

  // attention (sections 64-byte aligned): W = 10, l = 3, P = 2, Hq = 4, Hkv = 2, hd = 8, S = ceil(3/2) + 2 = 4:
  //   t 64 + entry ticks 64 + statuses 64 + queries 4*32*4 = 512 + outputs 4*32*4 = 512
  //   + keys (10 + 3) * 16 * 4 = 832 + values 832 = 2880
  auto a = config({{"attention", {{"n_heads", 4}, {"n_kv_heads", 2}, {"window", 10}, {"refresh_every", 2},
                                  {"refresh_lag", 3}}}},
                  json::array({{{"type", "attention"}}}));
  CHECK(tickrt::layer_state_bytes(a, 0) == 2880);
  // exact Jamba decoding (P = 1, l = 0, S = 1), W = 1024, 4 heads of 8:
  //   64 + 64 + 64 + 128 + 128 + 1024*32*4 * 2 = 262592
  a = config({}, json::array({{{"type", "attention"}}}));
  CHECK(tickrt::layer_state_bytes(a, 0) == 262592);

  // megalodon: G = 2, D = 32, n = 4, C = 8, Z = 16, V = 48:
  //   2 * 16 + 32*4*2*4 + 8*16*4 + 8*48*4 + 8 = 32 + 1024 + 512 + 1536 + 8 = 3112 -> 3136
  auto g = config({{"megalodon", {{"norm_groups", 2}, {"cema_ndim", 4}, {"chunk_size", 8}, {"z_dim", 16},
                                  {"value_dim", 48}, {"n_heads", 2}}}},
                  json::array({{{"type", "megalodon"}}, {{"type", "mamba"}}}));
  CHECK(tickrt::layer_state_bytes(g, 0) == 3136);
  CHECK(tickrt::model_state_bytes(g) == 3136 + 5120);
  CHECK_THROWS_AS(tickrt::layer_state_bytes(g, 2), std::out_of_range);
  CHECK_THROWS_AS(tickrt::layer_state_bytes(g, -1), std::out_of_range);
}
