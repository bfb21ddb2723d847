// The tickrt binary: init-model and inspect end to end, bad models exit non-zero with a clear message
// (never a crash), and a model re-encoded by PyTorch (F16 / BF16) loads.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/model.h"
#include "engine/state_layout.h"
#include "tests/test_model_util.h"
#include "tests/test_util.h"

using nlohmann::json;
using tickrt::test::run_command;
using tickrt::test::TempDir;

namespace {

std::string bin() { return tickrt::test::tickrt_binary(); }

// The 16 hex digits after "hash " in a command's output.
std::string hash_in(const std::string& out) {
  const std::size_t at = out.find("hash ");
  if (at == std::string::npos || at + 5 + 16 > out.size()) return "";
  const std::string hex = out.substr(at + 5, 16);
  return hex.find_first_not_of("0123456789abcdef") == std::string::npos ? hex : "";
}

// Writes the small hybrid config and runs init-model into DIR/name.
tickrt::test::CommandResult init(const TempDir& dir, const std::string& name, int seed) {
  std::ofstream(dir / "config.json") << tickrt::test::small_hybrid_config().dump(2);
  return run_command(fmt::format("{} init-model --config {} --seed {} --out {}", bin(), dir / "config.json", seed,
                                 dir / name));
}

}  // namespace

TEST_CASE("model cli: init-model then inspect agree on hash, parameters and state", "[model]") {
  TempDir dir;
  auto a = init(dir, "a", 11);
  INFO(a.output);
  REQUIRE(a.exit_code == 0);
  const std::string hash = hash_in(a.output);
  REQUIRE(hash.size() == 16);

  tickrt::Model m = tickrt::Model::load(dir / "a");
  CHECK(fmt::format("{:016x}", m.hash) == hash);
  CHECK_THAT(a.output, Catch::Contains(fmt::format("{} parameters", m.parameter_count())));

  auto text = run_command(fmt::format("{} inspect {}", bin(), dir / "a"));
  INFO(text.output);
  CHECK(text.exit_code == 0);
  CHECK(hash_in(text.output) == hash);
  CHECK_THAT(text.output, Catch::Contains("mamba") && Catch::Contains("attention") && Catch::Contains("megalodon"));
  CHECK_THAT(text.output, Catch::Contains(fmt::format("parameters {}", m.parameter_count())));
  CHECK_THAT(text.output, Catch::Contains(fmt::format("state bytes per instrument {}", tickrt::model_state_bytes(m.config))));

  auto js = run_command(fmt::format("{} inspect --json {}", bin(), dir / "a"));
  REQUIRE(js.exit_code == 0);
  json j = json::parse(js.output);
  CHECK(j["hash"] == hash);
  CHECK(j["parameters"] == m.parameter_count());
  REQUIRE(j["layers"].size() == 3);
  int64_t sum = j["global_parameters"].get<int64_t>();
  for (int i = 0; i < 3; ++i) {
    CHECK(j["layers"][i]["state_bytes"] == tickrt::layer_state_bytes(m.config, i));
    CHECK(j["layers"][i]["state_bytes"].get<std::size_t>() % 64 == 0);
    sum += j["layers"][i]["parameters"].get<int64_t>();
  }
  CHECK(sum == m.parameter_count());

  // Same seed, same model; another seed, another model; an existing model is not overwritten.
  CHECK(hash_in(init(dir, "b", 11).output) == hash);
  CHECK(hash_in(init(dir, "c", 12).output) != hash);
  auto again = init(dir, "a", 11);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.output, Catch::Contains("--force"));
}

TEST_CASE("model cli: bad models and configs exit non-zero naming the fault", "[model]") {
  TempDir dir;
  REQUIRE(init(dir, "m", 1).exit_code == 0);
  const std::filesystem::path m = dir.path / "m";
  const std::string st = (m / "model.safetensors").string();
  auto inspect = [&] { return run_command(fmt::format("{} inspect {}", bin(), m.string())); };
  auto expect_refused = [&](const std::string& what) {
    auto r = inspect();
    INFO(r.output);
    CHECK(r.exit_code == 1);  // an error exit, not a signal (-1)
    CHECK_THAT(r.output, Catch::Contains("tickrt: error: ") && Catch::Contains(what));
  };
  const std::string good = [&] {
    std::ifstream in(st, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();

  // Truncated file.
  std::filesystem::resize_file(st, good.size() / 2);
  expect_refused("truncated");
  // Header length past the end of the file.
  {
    std::string bad = good;
    bad[5] = '\x01';
    std::ofstream(st, std::ios::binary | std::ios::trunc) << bad;
    expect_refused("runs past the end of the file");
  }
  // A NaN in a weight: overwrite the last 4 bytes (the last tensor written is head.bias).
  {
    std::string bad = good;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(bad.data() + bad.size() - 4, &nan, 4);
    std::ofstream(st, std::ios::binary | std::ios::trunc) << bad;
    expect_refused("tensor 'head.bias' has a non-finite value (nan) at flat index 1");
  }
  std::ofstream(st, std::ios::binary | std::ios::trunc) << good;
  REQUIRE(inspect().exit_code == 0);
  // Unknown layer type.
  {
    json j = tickrt::test::small_hybrid_config();
    j["layers"][0]["type"] = "transformer";
    std::ofstream(m / "config.json", std::ios::trunc) << j.dump();
    expect_refused("layer 0: unknown layer type \"transformer\"");
    auto r = run_command(fmt::format("{} init-model --config {} --out {}", bin(), (m / "config.json").string(),
                                     dir / "other"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("unknown layer type"));
    CHECK_FALSE(std::filesystem::exists(dir.path / "other"));
  }
  // A file is not a model: the journal dispatch point; a missing path is an error.
  auto file = run_command(fmt::format("{} inspect {}", bin(), st));
  CHECK(file.exit_code == 2);
  CHECK_THAT(file.output, Catch::Contains("journal"));
  auto missing = run_command(fmt::format("{} inspect {}", bin(), dir / "nothing-here"));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Catch::Contains("no such file or directory"));
}

TEST_CASE("model cli: a model re-encoded by PyTorch in BF16 and F16 loads", "[model][python]") {
  TempDir dir;
  REQUIRE(init(dir, "m", 3).exit_code == 0);
  // A minimal safetensors reader/writer in Python on torch tensors: what the trainer's export does.
  const std::string script = R"PY(
import json, struct, sys, torch
src, dst, dtype = sys.argv[1], sys.argv[2], {"BF16": torch.bfloat16, "F16": torch.float16}[sys.argv[3]]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
out_header, blobs, off = {}, [], 0
for name, e in header.items():
    if name == "__metadata__":
        continue
    b, en = e["data_offsets"]
    t = torch.frombuffer(bytearray(data[b:en]), dtype=torch.float32).reshape(e["shape"]).to(dtype)
    blob = t.view(torch.int16).numpy().tobytes()
    out_header[name] = {"dtype": sys.argv[3], "shape": e["shape"], "data_offsets": [off, off + len(blob)]}
    blobs.append(blob)
    off += len(blob)
h = json.dumps(out_header).encode()
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
)PY";
  std::ofstream(dir / "reencode.py") << script;
  const tickrt::Model f32 = tickrt::Model::load(dir / "m");
  for (const std::string dtype : {"BF16", "F16"}) {
    INFO(dtype);
    const std::filesystem::path out = dir.path / dtype;
    std::filesystem::create_directories(out);
    std::filesystem::copy_file(dir.path / "m" / "config.json", out / "config.json");
    auto r = run_command(fmt::format("{} {} {} {} {}", tickrt::test::python(), dir / "reencode.py",
                                     dir / "m/model.safetensors", (out / "model.safetensors").string(), dtype));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const tickrt::Model low = tickrt::Model::load(out);
    for (const auto& [name, t] : f32.weights.tensors) {
      const auto& got = low.weights.at(name).data;
      for (std::size_t i = 0; i < t.data.size(); ++i) {
        const float x = t.data[i];
        if (dtype == "BF16") {
          // Round to nearest even on the top 16 bits, as torch does for finite values.
          uint32_t bits = std::bit_cast<uint32_t>(x);
          bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
          REQUIRE(got[i] == std::bit_cast<float>(bits));
        } else {
          REQUIRE(std::abs(got[i] - x) <= std::max(std::abs(x) * 0x1.0p-11f, 0x1.0p-25f));
        }
      }
    }
    CHECK(low.hash != f32.hash);  // the values differ, so the hash does
  }
}
