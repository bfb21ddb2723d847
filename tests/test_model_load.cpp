// Model::load / save / compute_hash: round trips, the hash's stability and sensitivity, and every bad model
// refused with an error naming the tensor or field (never a crash).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/model.h"
#include "engine/model_init.h"
#include "engine/safetensors.h"
#include "tests/test_model_util.h"
#include "tests/test_util.h"

using nlohmann::json;
using tickrt::Model;
using tickrt::ModelConfig;
using tickrt::test::TempDir;

namespace {

Model small_model(uint64_t seed = 5) {
  return tickrt::init_model(ModelConfig::from_json(tickrt::test::small_hybrid_config(), "test"), seed);
}

std::string load_error(const std::filesystem::path& dir) {
  try {
    Model::load(dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Writes m's config and its tensors, changed by `edit`, bypassing save()'s checks.
template <class Edit>
void save_edited(const Model& m, const std::filesystem::path& dir, Edit edit) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << m.config.to_json().dump(2);
  std::map<std::string, tickrt::Tensor> tensors = m.weights.tensors;
  edit(tensors);
  std::vector<std::pair<std::string, const tickrt::Tensor*>> list;
  for (const auto& [name, t] : tensors) list.emplace_back(name, &t);
  tickrt::safetensors::write_f32(dir / "model.safetensors", list);
}

}  // namespace

TEST_CASE("model load: save then load gives the same model and hash", "[model]") {
  TempDir dir;
  Model m = small_model();
  m.save(dir.path / "m");
  CHECK(std::filesystem::exists(dir.path / "m" / "config.json"));
  Model back = Model::load(dir.path / "m");
  CHECK(back.dir == dir.path / "m");
  CHECK(back.config.to_json() == m.config.to_json());
  REQUIRE(back.weights.tensors.size() == m.weights.tensors.size());
  for (const auto& [name, t] : m.weights.tensors) {
    INFO(name);
    CHECK(back.weights.at(name).shape == t.shape);
    CHECK(back.weights.at(name).data == t.data);
  }
  CHECK(back.hash == m.hash);
  CHECK(back.parameter_count() == m.parameter_count());
  // Saving the loaded model again is byte-identical.
  back.save(dir.path / "again");
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(slurp(dir.path / "m" / "model.safetensors") == slurp(dir.path / "again" / "model.safetensors"));
  CHECK(slurp(dir.path / "m" / "config.json") == slurp(dir.path / "again" / "config.json"));
}

TEST_CASE("model load: the hash changes with any weight or config change", "[model]") {
  Model m = small_model();
  const uint64_t h = m.hash;
  SECTION("one weight moved by one ulp") {
    float& v = m.weights.tensors.at("layers.1.self_attn.k_proj.weight").data[7];
    v = std::nextafter(v, 10.0f);
    CHECK(m.compute_hash() != h);
  }
  SECTION("a hyper-parameter that changes no shape") {
    m.config.attention.refresh_lag = 0;
    CHECK(m.compute_hash() != h);
  }
  SECTION("session gap") {
    m.config.session_gap_s = 60.0;
    CHECK(m.compute_hash() != h);
  }
  SECTION("unchanged model: same hash") { CHECK(m.compute_hash() == h); }
}

TEST_CASE("model load: a config written with defaults omitted loads and hashes the same", "[model]") {
  TempDir dir;
  Model m = small_model();
  m.save(dir.path);
  std::ofstream(dir / "config.json") << tickrt::test::small_hybrid_config().dump();  // the short form
  Model back = Model::load(dir.path);
  CHECK(back.hash == m.hash);
}

TEST_CASE("model load: F16 and BF16 weights load as float32", "[model]") {
  TempDir dir;
  Model m = small_model();
  m.save(dir.path);
  // Rewrite head.bias [2] in F16 and embed.bias [16] in BF16; the other tensors stay F32.
  std::string header = R"({"head.bias":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                       R"("embed.bias":{"dtype":"BF16","shape":[16],"data_offsets":[4,36]})";
  std::vector<uint8_t> data = tickrt::test::u16_bytes({0x3C00, 0xB800});  // 1, -0.5
  std::vector<uint16_t> bf(16, 0x4049);                                    // 3.140625
  auto bfb = tickrt::test::u16_bytes(bf);
  data.insert(data.end(), bfb.begin(), bfb.end());
  uint64_t off = data.size();
  for (const auto& [name, t] : m.weights.tensors) {
    if (name == "head.bias" || name == "embed.bias") continue;
    json shape = t.shape;
    header += fmt::format(R"(,"{}":{{"dtype":"F32","shape":{},"data_offsets":[{},{}]}})", name, shape.dump(), off,
                          off + t.data.size() * 4);
    auto b = tickrt::test::f32_bytes(t.data);
    data.insert(data.end(), b.begin(), b.end());
    off += b.size();
  }
  header += "}";
  tickrt::test::write_raw_safetensors(dir / "model.safetensors", header, data);
  Model back = Model::load(dir.path);
  CHECK(back.weights.at("head.bias").data == std::vector<float>{1.0f, -0.5f});
  CHECK(back.weights.at("embed.bias").data == std::vector<float>(16, 3.140625f));
  CHECK(back.weights.at("embed.weight").data == m.weights.at("embed.weight").data);
}

TEST_CASE("model load: bad models are refused naming the tensor or field", "[model]") {
  TempDir dir;
  const Model m = small_model();
  const std::filesystem::path d = dir.path / "bad";
  const std::string st = (d / "model.safetensors").string();

  SECTION("unknown tensor") {
    save_edited(m, d, [](auto& t) { t["layers.0.mamba.extra.weight"] = tickrt::Tensor{{1}, {0}}; });
    CHECK_THAT(load_error(d), Catch::Contains(st + ": unknown tensor 'layers.0.mamba.extra.weight'"));
  }
  SECTION("missing tensor") {
    save_edited(m, d, [](auto& t) { t.erase("layers.2.mega.cema.omega"); });
    CHECK_THAT(load_error(d), Catch::Contains(st + ": missing tensor 'layers.2.mega.cema.omega' [16, 1]"));
  }
  SECTION("several missing tensors are counted") {
    save_edited(m, d, [](auto& t) {
      t.erase("head.bias");
      t.erase("head.weight");
    });
    CHECK_THAT(load_error(d), Catch::Contains("missing tensor 'head.weight' [2, 16] (and 1 more)"));
  }
  SECTION("wrong shape") {
    save_edited(m, d, [](auto& t) { t["layers.1.self_attn.q_proj.weight"].shape = {8, 32}; });
    CHECK_THAT(load_error(d), Catch::Contains("tensor 'layers.1.self_attn.q_proj.weight' has shape [8, 32], "
                                              "expected [16, 16]"));
  }
  SECTION("NaN weight") {
    save_edited(m, d, [](auto& t) { t["layers.0.mamba.A_log"].data[21] = std::numeric_limits<float>::quiet_NaN(); });
    CHECK_THAT(load_error(d), Catch::Contains("tensor 'layers.0.mamba.A_log' has a non-finite value (nan) at flat index 21"));
  }
  SECTION("infinite weight") {
    save_edited(m, d, [](auto& t) { t["head.bias"].data[1] = -std::numeric_limits<float>::infinity(); });
    CHECK_THAT(load_error(d), Catch::Contains("tensor 'head.bias' has a non-finite value (-inf) at flat index 1"));
  }
  SECTION("truncated safetensors") {
    m.save(d);
    std::filesystem::resize_file(st, std::filesystem::file_size(st) - 100);
    CHECK_THAT(load_error(d), Catch::Contains(st) && Catch::Contains("truncated"));
  }
  SECTION("header length past the end of the file") {
    m.save(d);
    std::fstream f(st, std::ios::in | std::ios::out | std::ios::binary);
    f.write("\xff\xff\xff\x7f\x00\x00\x00\x00", 8);
    f.close();
    CHECK_THAT(load_error(d), Catch::Contains(st + ": header length 2147483647 runs past the end of the file"));
  }
  SECTION("unknown layer type in config.json") {
    m.save(d);
    json j = tickrt::test::small_hybrid_config();
    j["layers"][1]["type"] = "transformer";
    std::ofstream(d / "config.json") << j.dump();
    CHECK_THAT(load_error(d), Catch::Contains("config.json: layer 1: unknown layer type \"transformer\""));
  }
  SECTION("config and weights disagree") {
    m.save(d);
    json j = tickrt::test::small_hybrid_config();
    j["d_model"] = 32;
    std::ofstream(d / "config.json") << j.dump();
    CHECK_THAT(load_error(d), Catch::Contains("expected [32, 5]"));
  }
  SECTION("missing files") {
    CHECK_THAT(load_error(d), Catch::Contains("not a model directory"));
    std::filesystem::create_directories(d);
    CHECK_THAT(load_error(d), Catch::Contains("config.json: cannot open"));
    std::ofstream(d / "config.json") << tickrt::test::small_hybrid_config().dump();
    CHECK_THAT(load_error(d), Catch::Contains("model.safetensors: cannot open"));
  }
}

TEST_CASE("model load: save refuses a model load would refuse", "[model]") {
  TempDir dir;
  Model m = small_model();
  Model nan = m;
  nan.weights.tensors.at("embed.weight").data[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(nan.save(dir.path), Catch::Contains("'embed.weight'") && Catch::Contains("non-finite"));
  Model extra = m;
  extra.weights.tensors["stray"] = tickrt::Tensor{{1}, {0}};
  CHECK_THROWS_WITH(extra.save(dir.path), Catch::Contains("unknown tensor 'stray'"));
  Model missing = m;
  missing.weights.tensors.erase("head.bias");
  CHECK_THROWS_WITH(missing.save(dir.path), Catch::Contains("'head.bias'"));
}
