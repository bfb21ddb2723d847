// PackedLinear against a naive double-precision reference: odd sizes (panel and batch-block tails), batch
// sizes around the register block, strided rows, row ranges of a fused weight, and batch independence.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/linear.h"

namespace {

tickrt::Tensor random_tensor(std::vector<int64_t> shape, std::mt19937& rng) {
  tickrt::Tensor t;
  t.shape = shape;
  int64_t n = 1;
  for (auto s : shape) n *= s;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  t.data.resize(static_cast<size_t>(n));
  for (auto& v : t.data) v = dist(rng);
  return t;
}

// y [k, rows] = x [k, in] · W[row_begin : row_begin + rows]ᵀ + b, in double.
std::vector<double> naive(const tickrt::Tensor& W, const tickrt::Tensor* b, int64_t row_begin, int64_t rows,
                          const std::vector<float>& x, int k) {
  const int64_t in = W.shape[1];
  std::vector<double> y(static_cast<size_t>(k * rows));
  for (int r = 0; r < k; ++r)
    for (int64_t o = 0; o < rows; ++o) {
      double acc = b ? b->data[row_begin + o] : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += double(W.data[(row_begin + o) * in + i]) * x[r * in + i];
      y[r * rows + o] = acc;
    }
  return y;
}

}  // namespace

TEST_CASE("kernels: PackedLinear matches a naive product for odd sizes and batches", "[kernels]") {
  std::mt19937 rng(7);
  for (auto [out, in] : std::vector<std::pair<int, int>>{{1, 1}, {5, 3}, {16, 16}, {17, 33}, {37, 64}, {130, 71}}) {
    for (bool with_bias : {false, true}) {
      auto W = random_tensor({out, in}, rng);
      auto b = random_tensor({out}, rng);
      tickrt::cpu::PackedLinear lin(W, with_bias ? &b : nullptr);
      REQUIRE(lin.out() == out);
      REQUIRE(lin.in() == in);
      for (int k : {1, 3, 17, 64}) {
        auto xt = random_tensor({k, in}, rng);
        std::vector<float> y(static_cast<size_t>(k * out), -999.0f);
        lin.apply(xt.data.data(), k, y.data());
        auto ref = naive(W, with_bias ? &b : nullptr, 0, out, xt.data, k);
        double max_err = 0;
        for (size_t j = 0; j < y.size(); ++j) max_err = std::max(max_err, std::abs(y[j] - ref[j]));
        INFO("out " << out << " in " << in << " k " << k << " bias " << with_bias);
        CHECK(max_err < 1e-4 * std::sqrt(double(in)));
      }
    }
  }
}

TEST_CASE("kernels: PackedLinear row ranges and strided rows", "[kernels]") {
  std::mt19937 rng(11);
  auto W = random_tensor({40, 23}, rng);
  auto b = random_tensor({40}, rng);
  tickrt::cpu::PackedLinear lo(W, &b, 0, 20), hi(W, &b, 20, 20);
  const int k = 9;
  auto xt = random_tensor({k, 30}, rng);  // rows of 30 floats, of which the first 23 are the input
  std::vector<float> y(static_cast<size_t>(k * 50), 0.0f);  // rows of 50: [lo | hi | unused]
  lo.apply_strided(xt.data.data(), 30, k, y.data(), 50);
  hi.apply_strided(xt.data.data(), 30, k, y.data() + 20, 50);
  std::vector<float> x_dense(static_cast<size_t>(k * 23));
  for (int r = 0; r < k; ++r)
    for (int i = 0; i < 23; ++i) x_dense[r * 23 + i] = xt.data[r * 30 + i];
  auto ref = naive(W, &b, 0, 40, x_dense, k);
  for (int r = 0; r < k; ++r) {
    for (int o = 0; o < 40; ++o) CHECK(std::abs(y[r * 50 + o] - ref[r * 40 + o]) < 1e-4);
    for (int o = 40; o < 50; ++o) CHECK(y[r * 50 + o] == 0.0f);  // nothing written past the outputs
  }
}

TEST_CASE("kernels: PackedLinear rows do not depend on the batch they are in", "[kernels]") {
  std::mt19937 rng(3);
  auto W = random_tensor({33, 45}, rng);
  tickrt::cpu::PackedLinear lin(W, nullptr);
  const int k = 19;
  auto xt = random_tensor({k, 45}, rng);
  std::vector<float> batched(static_cast<size_t>(k * 33)), single(33);
  lin.apply(xt.data.data(), k, batched.data());
  for (int r = 0; r < k; ++r) {
    lin.apply(xt.data.data() + r * 45, 1, single.data());
    for (int o = 0; o < 33; ++o) REQUIRE(single[o] == batched[r * 33 + o]);  // bit for bit
  }
}
