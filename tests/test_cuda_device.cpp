// The CUDA backend on a GPU: parity with the CPU backend (MODEL-SPEC §8: ≤ 1e-3 abs) for every layer type and a
// mixed stack at batches of 1, 7, 1,000 and 10,000 instruments, snapshots CPU -> CUDA -> CPU, padding rows.
// Always registered; on a machine without a CUDA device (or a build without CUDA) each test prints
// "SKIPPED: ..." and returns, except the construction test, which checks the error such a machine gives.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(TICKRT_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

#include "kernels/backend.h"
#include "tests/backend_test_models.h"
#include "tests/cuda_parity.h"

using tickrt::test::cuda_cases;
using tickrt::test::max_abs_diff;
using tickrt::test::parity_run;
using tickrt::test::random_features;
using tickrt::test::small_config;
using tickrt::test::small_model;

namespace {

constexpr double kDeviceTolerance = 1e-3;  // MODEL-SPEC §8, CUDA vs CPU

// Whether a CUDA device can be used; `why` says why not.
bool cuda_device(std::string& why) {
#if defined(TICKRT_HAVE_CUDA)
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    why = std::string("no CUDA device (") + cudaGetErrorString(err) + ")";
    return false;
  }
  if (n == 0) {
    why = "no CUDA device (cudaGetDeviceCount found none)";
    return false;
  }
  return true;
#else
  why = "built without CUDA (TICKRT_CUDA=OFF)";
  return false;
#endif
}

#define SKIP_WITHOUT_CUDA_DEVICE()               \
  do {                                           \
    std::string why_;                            \
    if (!cuda_device(why_)) {                    \
      WARN("SKIPPED: " << why_);                 \
      return;                                    \
    }                                            \
  } while (0)

void device_parity(int k, int64_t T, bool mixed_only) {
  for (const auto& c : cuda_cases()) {
    if (mixed_only && c.name != "mixed stack") continue;
    const auto model = small_model(small_config(c.layers, c.extra), 3);
    auto cpu = tickrt::make_backend("cpu", model, k + 5, k);
    auto gpu = tickrt::make_backend("cuda", model, k + 5, k);
    REQUIRE(gpu->state_bytes() == cpu->state_bytes());
    const auto r = parity_run(*cpu, *gpu, model.config.n_features, model.config.n_outputs(), k, T, 17);
    INFO(c.name << ", batch " << k);
    CHECK(r.max_out <= kDeviceTolerance);
    CHECK(r.max_state <= kDeviceTolerance);
    fmt::print("cuda device parity [{}] batch {}: y {:.2e}, state {:.2e}\n", c.name, k, r.max_out, r.max_state);
  }
}

}  // namespace

TEST_CASE("cuda device: construction without a device is a clear error, with one a backend", "[cuda][cuda-device]") {
  const auto model = small_model(small_config(cuda_cases().back().layers, cuda_cases().back().extra));
  std::string why;
  if (cuda_device(why)) {
    auto b = tickrt::make_backend("cuda", model, 4, 4);
    CHECK(b->name() == "cuda");
    return;
  }
  WARN("no CUDA device here: checking the construction error (" << why << ")");
  try {
    tickrt::make_backend("cuda", model, 4, 4);
    FAIL("make_backend(\"cuda\") succeeded without a device");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    INFO(msg);
#if defined(TICKRT_HAVE_CUDA)
    CHECK(msg.rfind("no CUDA device: ", 0) == 0);
#else
    CHECK(msg.find("not built") != std::string::npos);
#endif
  }
}

TEST_CASE("cuda device: every layer type matches the CPU backend, 1 and 7 instruments", "[cuda][cuda-device]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  device_parity(1, 300, false);
  device_parity(7, 300, false);
}

TEST_CASE("cuda device: every layer type matches the CPU backend, 1,000 instruments", "[cuda][cuda-device]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  device_parity(1000, 100, false);
}

TEST_CASE("cuda device: mixed stack matches the CPU backend, 10,000 instruments", "[cuda][cuda-device]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  device_parity(10000, 40, true);
}

TEST_CASE("cuda device: snapshot CPU -> CUDA -> CPU continues within tolerance", "[cuda][cuda-device]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const auto& c : cuda_cases()) {
    INFO(c.name);
    const auto model = small_model(small_config(c.layers, c.extra), 6);
    const int F = model.config.n_features, H = model.config.n_outputs();
    auto cpu = tickrt::make_backend("cpu", model, 2, 1);
    auto gpu = tickrt::make_backend("cuda", model, 2, 1);
    const auto x = random_features(240, F, 8);
    std::vector<float> y_cpu(240 * H), y_mix(240 * H);
    const int32_t s0 = 0, s1 = 1;
    for (int t = 0; t < 240; ++t) cpu->step(&s0, 1, x.data() + t * F, y_cpu.data() + t * H, nullptr);
    std::vector<std::byte> st(cpu->state_bytes());
    for (int t = 0; t < 80; ++t) cpu->step(&s1, 1, x.data() + t * F, y_mix.data() + t * H, nullptr);
    cpu->read_state(1, st.data());
    gpu->write_state(1, st.data());
    for (int t = 80; t < 160; ++t) gpu->step(&s1, 1, x.data() + t * F, y_mix.data() + t * H, nullptr);
    gpu->read_state(1, st.data());
    cpu->write_state(1, st.data());
    for (int t = 160; t < 240; ++t) cpu->step(&s1, 1, x.data() + t * F, y_mix.data() + t * H, nullptr);
    CHECK(max_abs_diff(y_cpu, y_mix) <= kDeviceTolerance);
  }
}

TEST_CASE("cuda device: padding rows write no state, reset zeroes, sequence is T steps", "[cuda][cuda-device]") {
  SKIP_WITHOUT_CUDA_DEVICE();
  const auto c = cuda_cases().back();
  const auto model = small_model(small_config(c.layers, c.extra), 5);
  const int F = model.config.n_features, H = model.config.n_outputs();
  auto gpu = tickrt::make_backend("cuda", model, 12, 64);
  const auto x = random_features(150, F, 2);
  std::vector<float> y(150 * H);
  const int32_t slots[3] = {4, 9, 1};
  for (int t = 0; t < 20; ++t) gpu->step(slots, 3, x.data(), y.data(), nullptr);  // bucket 8: 5 padding rows
  std::vector<std::byte> s(gpu->state_bytes()), zero(gpu->state_bytes());
  for (int slot = 0; slot < 12; ++slot) {
    gpu->read_state(slot, s.data());
    INFO("slot " << slot);
    CHECK((std::memcmp(s.data(), zero.data(), s.size()) != 0) == (slot == 4 || slot == 9 || slot == 1));
  }
  gpu->reset(4);
  gpu->read_state(4, s.data());
  CHECK(std::memcmp(s.data(), zero.data(), s.size()) == 0);
  auto cpu = tickrt::make_backend("cpu", model, 1, 1);
  std::vector<float> a(150 * H);
  cpu->sequence(0, x.data(), 150, a.data());
  gpu->sequence(4, x.data(), 150, y.data());
  CHECK(max_abs_diff(a, y) <= kDeviceTolerance);
}
