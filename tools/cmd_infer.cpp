// `tickrt infer`: runs a model over a feature matrix through the streaming backend (tick by tick, batched
// step) or its sequence form, for parity checks against the trainer (MODEL-SPEC §8).
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/npy.h"
#include "kernels/backend.h"
#include "tools/command_registry.h"

namespace {

struct InferOptions {
  std::string model, features, out, mode = "step", backend = "cpu";
  int instruments = 1;
};

int run_infer(const InferOptions& o) {
  const tickrt::Model model = tickrt::Model::load(o.model);
  const tickrt::NpyArray x = tickrt::read_npy_f32(o.features);
  const int F = model.config.n_features, H = model.config.n_outputs();
  if (x.shape.size() != 2 || x.shape[1] != F)
    throw std::runtime_error(fmt::format("{}: expected float32 [T, {}] features, got shape of rank {} with {} columns",
                                         o.features, F, x.shape.size(), x.shape.size() == 2 ? x.shape[1] : 0));
  const int64_t T = x.shape[0];
  const int K = o.instruments;
  auto backend = tickrt::make_backend(o.backend, model, K, K);
  std::vector<float> y(static_cast<size_t>(T * H));  // [T, H] of instrument 0
  double max_diff = 0.0;                             // between instrument 0 and the others
  if (o.mode == "sequence") {
    for (int i = 0; i < K; ++i) {
      std::vector<float> yi(y.size());
      backend->sequence(i, x.data.data(), T, yi.data());
      if (i == 0) y = yi;
      for (size_t j = 0; j < y.size(); ++j) max_diff = std::max(max_diff, double(std::abs(yi[j] - y[j])));
    }
  } else {
    tickrt::set_ftz_daz();
    std::vector<int32_t> slots(static_cast<size_t>(K));
    for (int i = 0; i < K; ++i) slots[i] = i;
    std::vector<float> xb(static_cast<size_t>(K) * F), yb(static_cast<size_t>(K) * H);  // [K, F], [K, H]
    for (int64_t t = 0; t < T; ++t) {
      for (int i = 0; i < K; ++i) std::copy_n(x.data.data() + t * F, F, xb.data() + int64_t{i} * F);
      backend->step(slots.data(), K, xb.data(), yb.data(), nullptr);
      std::copy_n(yb.data(), H, y.data() + t * H);
      for (int i = 1; i < K; ++i)
        for (int h = 0; h < H; ++h) max_diff = std::max(max_diff, double(std::abs(yb[i * H + h] - yb[h])));
    }
  }
  tickrt::write_npy_f32(o.out, y.data(), {T, H});
  fmt::print("infer: {} ticks, {} outputs, mode {}, backend {}, {} instrument(s) -> {}\n", T, H, o.mode, o.backend, K,
             o.out);
  if (K > 1) {
    fmt::print("infer: max abs difference between instruments: {:.3g}\n", max_diff);
    if (!(max_diff == 0.0)) {
      fmt::print(stderr, "infer: instruments fed identical features disagree\n");
      return 2;
    }
  }
  return 0;
}

tickrt::cli::Registration reg("infer", "run a model over a feature matrix (parity checks)", [](CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  app.add_option("--model", o->model, "model directory (config.json, model.safetensors)")->required();
  app.add_option("--features", o->features, "float32 [T, F] .npy")->required();
  app.add_option("--out", o->out, "where to write float32 [T, H] .npy")->required();
  app.add_option("--mode", o->mode, "step (tick by tick, batched) or sequence")
      ->check(CLI::IsMember({"step", "sequence"}));
  app.add_option("--backend", o->backend, "cpu or cuda");
  app.add_option("--instruments", o->instruments, "run K copies side by side and require identical outputs")
      ->check(CLI::Range(1, 1 << 16));
  app.footer("example: tickrt infer --model models/m --features x.npy --out y.npy --mode step --instruments 4");
  return [o] { return run_infer(*o); };
});

}  // namespace
