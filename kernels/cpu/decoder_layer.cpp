// A decoder layer (MODEL-SPEC §3): h ← h + Mixer(input_layernorm(h)); then, when the layer has an FFN,
// h ← h + FFN(pre_ff_layernorm(h)). The state is the mixer's; the FFN is stateless.
// The sequence form runs the same stages over chunks of at most kSequenceChunk ticks, so every linear is a
// matrix-matrix product over the chunk while the scratch stays bounded.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_layer.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/mixer.h"

namespace tickrt::cpu {
namespace {

constexpr int kSequenceChunk = 128;

class DecoderLayer final : public Layer {
 public:
  DecoderLayer(const ModelConfig& cfg, const Weights& w, int i, int max_batch)
      : D_(cfg.d_model), eps_(static_cast<float>(cfg.rms_norm_eps)), rows_(std::max(max_batch, kSequenceChunk)) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const LayerSpec& spec = cfg.layers.at(static_cast<size_t>(i));
    input_norm_ = tensor(w, p + "input_layernorm.weight", D_).data;
    if (spec.type == LayerType::mamba) {
      mixer_ = make_mamba_mixer(cfg, w, i, rows_);
    } else if (spec.type == LayerType::attention) {
      mixer_ = make_attention_mixer(cfg, w, i, rows_);
    } else {
      throw std::runtime_error("cpu backend: layer " + std::to_string(i) + " is not a decoder layer");
    }
    if (spec.ffn != FfnType::none) {
      pre_ff_norm_ = tensor(w, p + "pre_ff_layernorm.weight", D_).data;
      ffn_ = spec.ffn == FfnType::mlp ? make_mlp(cfg, w, i, rows_) : make_moe(cfg, w, i, rows_);
    }
    u_.resize(static_cast<size_t>(rows_) * D_);
    d_.resize(static_cast<size_t>(rows_) * D_);
  }

  std::size_t state_bytes() const override { return mixer_->state_bytes(); }

  void step(int k, std::byte* const* states, float* h) override {
    rmsnorm_rows(h, input_norm_.data(), k, D_, eps_, u_.data());
    mixer_->step(k, states, u_.data(), d_.data());
    finish(k, h);
  }

  void sequence(std::byte* state, float* h, int64_t T) override {
    for (int64_t t = 0; t < T; t += kSequenceChunk) {
      const int n = static_cast<int>(std::min<int64_t>(kSequenceChunk, T - t));
      float* hc = h + t * D_;  // [n, D]
      rmsnorm_rows(hc, input_norm_.data(), n, D_, eps_, u_.data());
      mixer_->sequence(state, u_.data(), n, d_.data());
      finish(n, hc);
    }
  }

  uint32_t context_age(const std::byte* state) const override { return mixer_->context_age(state); }
  void set_refresh_mode(RefreshMode mode) override { mixer_->set_refresh_mode(mode); }
  int deferred(const int** rows, const int64_t** ticks) const override { return mixer_->deferred(rows, ticks); }
  bool late(int row) const override { return mixer_->late(row); }
  void run_refresh(std::byte* state, int64_t tick) override { mixer_->run_refresh(state, tick); }
  void quiesce(const std::byte* state) const override { mixer_->quiesce(state); }

 private:
  // The mixer's residual (d_ holds its output) and the FFN with its residual, over rows of h [n, D].
  void finish(int n, float* h) {
    add_into(h, d_.data(), int64_t{n} * D_);
    if (!ffn_) return;
    rmsnorm_rows(h, pre_ff_norm_.data(), n, D_, eps_, u_.data());
    ffn_->apply(n, u_.data(), d_.data());
    add_into(h, d_.data(), int64_t{n} * D_);
  }

  int D_;
  float eps_;
  int rows_;  // scratch rows: max(max_batch, kSequenceChunk)
  std::vector<float> input_norm_, pre_ff_norm_;  // [D]
  std::unique_ptr<Mixer> mixer_;
  std::unique_ptr<Ffn> ffn_;  // null when ffn = none
  std::vector<float> u_;      // [rows, D] normed input of the mixer / FFN
  std::vector<float> d_;      // [rows, D] their output, added to h
};

}  // namespace

std::unique_ptr<Layer> make_decoder_layer(const ModelConfig& cfg, const Weights& w, int i, int max_batch) {
  return std::make_unique<DecoderLayer>(cfg, w, i, max_batch);
}

}  // namespace tickrt::cpu
