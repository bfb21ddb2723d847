// The CPU megalodon block against the PyTorch oracle (tools/train/tickmodel.py), MODEL-SPEC §8: a one-layer
// model whose embed and head are identities, so the oracle's outputs are RMSNorm(block(x)) and can be
// compared with this block's step() outputs passed through the same final norm.
#include <fmt/core.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <vector>

#include "engine/model.h"
#include "test_megalodon_util.h"
#include "test_util.h"

namespace {

tickrt::Tensor identity(int64_t n) {
  tickrt::Tensor t;
  t.shape = {n, n};
  t.data.assign(static_cast<std::size_t>(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i) t.data[i * n + i] = 1.0f;
  return t;
}

tickrt::Tensor filled(int64_t n, float v) {
  tickrt::Tensor t;
  t.shape = {n};
  t.data.assign(static_cast<std::size_t>(n), v);
  return t;
}

void write_raw(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

std::vector<float> read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  std::vector<float> v(static_cast<std::size_t>(f.tellg()) / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

}  // namespace

TEST_CASE("megalodon: step agrees with the PyTorch oracle (chunked sequence form)", "[megalodon][oracle]") {
  tickrt::test::MegaShape s;  // D 32, Z 32, V 48, 2 heads, n 8, C 8, 2 groups, swiglu
  const int D = s.D;
  const int64_t T = 400;
  tickrt::Model model;
  model.config = tickrt::test::megalodon_config(s);
  model.config.outputs.clear();
  for (int j = 0; j < D; ++j) model.config.outputs.push_back(fmt::format("o{}", j));
  model.weights = tickrt::test::megalodon_weights(s, 41);
  model.weights.tensors["embed.weight"] = identity(D);
  model.weights.tensors["embed.bias"] = filled(D, 0.0f);
  model.weights.tensors["final_layernorm.weight"] = filled(D, 1.0f);
  model.weights.tensors["head.weight"] = identity(D);
  model.weights.tensors["head.bias"] = filled(D, 0.0f);

  tickrt::test::TempDir dir;
  model.save(dir.path / "model");
  const auto x = tickrt::test::megalodon_inputs(T, D, 43);  // [T, D]
  write_raw(dir / "x.f32", x);
  const std::string py = tickrt::test::python();
  const std::string cmd = fmt::format(
      "{py} -c \"import numpy as np, sys; np.save(sys.argv[2], np.fromfile(sys.argv[1], '<f4').reshape(-1, "
      "{D}))\" "
      "{x32} {xnpy} && {py} {src}/tools/train/tickmodel.py run --model {model} --features {xnpy} --out "
      "{ynpy} "
      "--chunk 37 && {py} -c \"import numpy as np, sys; "
      "np.load(sys.argv[1]).astype('<f4').tofile(sys.argv[2])\" "
      "{ynpy} {y32}",
      fmt::arg("py", py), fmt::arg("D", D), fmt::arg("x32", dir / "x.f32"), fmt::arg("xnpy", dir / "x.npy"),
      fmt::arg("src", tickrt::test::source_dir()), fmt::arg("model", (dir.path / "model").string()),
      fmt::arg("ynpy", dir / "y.npy"), fmt::arg("y32", dir / "y.f32"));
  const auto run = tickrt::test::run_command(cmd);
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const auto oracle = read_raw(dir / "y.f32");  // [T, D]
  REQUIRE(oracle.size() == x.size());

  auto layer = tickrt::cpu::make_megalodon_layer(model.config, model.weights, 0, 1);
  tickrt::test::StateBuf state(layer->state_bytes());
  std::byte* st = state.get();
  double worst = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> h(x.begin() + t * D, x.begin() + (t + 1) * D);
    layer->step(1, &st, h.data());
    double ms = 0.0;  // final RMSNorm (weight 1, rms_norm_eps), then the identity head
    for (float v : h) ms += double(v) * v;
    const double scale = 1.0 / std::sqrt(ms / D + model.config.rms_norm_eps);
    for (int j = 0; j < D; ++j) worst = std::max(worst, std::fabs(h[j] * scale - oracle[t * D + j]));
  }
  INFO("max |cpu - oracle| = " << worst);
  CHECK(worst <= 1e-4);
}
