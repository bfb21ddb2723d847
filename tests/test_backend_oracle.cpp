// The CPU backend against the PyTorch oracle (tools/train/tickmodel.py) on random models over 2,000+ ticks
// (MODEL-SPEC §8: ≤ 1e-4): the model is written by Model::save, run by `tickrt infer` (step and sequence forms,
// several instruments side by side) and by tickmodel.py, and the outputs compared.
#include <catch2/catch.hpp>

#include <string>

#include "engine/npy.h"
#include "tests/backend_test_models.h"
#include "tests/test_util.h"

using json = nlohmann::json;
using tickrt::test::run_command;

namespace {

void compare_with_oracle(const json& layers, const json& extra, int64_t T) {
  tickrt::test::TempDir dir;
  const auto model = tickrt::test::small_model(tickrt::test::small_config(layers, extra), 21);
  model.save(dir / "model");
  const int F = model.config.n_features;
  const auto x = tickrt::test::random_features(T, F, 22);
  tickrt::write_npy_f32(dir / "x.npy", x.data(), {T, F});
  const auto py = run_command(fmt::format("{} {}/tools/train/tickmodel.py run --model {} --features {} --out {}",
                                          tickrt::test::python(), tickrt::test::source_dir(), dir / "model",
                                          dir / "x.npy", dir / "y_torch.npy"));
  INFO(py.output);
  REQUIRE(py.exit_code == 0);
  const auto expect = tickrt::read_npy_f32(dir / "y_torch.npy");
  for (std::string mode : {"step", "sequence"}) {
    const auto cpp = run_command(fmt::format("{} infer --model {} --features {} --out {} --mode {} --instruments 3",
                                             tickrt::test::tickrt_binary(), dir / "model", dir / "x.npy",
                                             dir / ("y_" + mode + ".npy"), mode));
    INFO(mode << ": " << cpp.output);
    REQUIRE(cpp.exit_code == 0);
    const auto got = tickrt::read_npy_f32(dir / ("y_" + mode + ".npy"));
    REQUIRE(got.shape == expect.shape);
    CHECK(tickrt::test::max_abs_diff(got.data, expect.data) <= 1e-4);
  }
}

}  // namespace

TEST_CASE("backend: mixed stack matches tickmodel.py over 2,000 ticks", "[backend][oracle]") {
  compare_with_oracle(json::array({{{"type", "mamba"}},
                                   {{"type", "megalodon"}},
                                   {{"type", "attention"}, {"ffn", "moe"}},
                                   {{"type", "mamba"}, {"ffn", "mlp"}}}),
                      {{"attention", {{"window", 64}}}}, 2000);
}

TEST_CASE("backend: attention refresh P 7 lag 3 and mamba variants match tickmodel.py", "[backend][oracle]") {
  compare_with_oracle(json::array({{{"type", "attention"}, {"ffn", "mlp"}}, {{"type", "mamba"}, {"ffn", "moe"}}}),
                      {{"attention", {{"window", 40}, {"refresh_every", 7}, {"refresh_lag", 3}}},
                       {"mamba", {{"inner_norms", false}, {"proj_bias", true}}}},
                      2000);
}
