// The CPU backend: embed -> layers -> final RMSNorm -> head (MODEL-SPEC §1) over batches of instruments whose
// state lives in one preallocated slab.
//
// Slab: max_instruments x state_bytes() bytes, 64-byte aligned; instrument `slot` owns
// [slot·state_bytes, (slot+1)·state_bytes), laid out as the layers' states one after another in layer order
// (each a multiple of 64 bytes). All-zero bytes are the reset state. read_state/write_state copy it verbatim:
// the layout is the portable format (kernels/README.md).
//
// FTZ/DAZ: step() and sequence() set them on the calling thread themselves (two MXCSR instructions), so results
// never depend on who called; set_ftz_daz() is also public for threads that want it set once up front.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "kernels/backend.h"
#include "kernels/cpu/cpu_layer.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/linear.h"

namespace tickrt {

void set_ftz_daz() {
#if defined(__SSE__)
  // Bit 15 flush-to-zero, bit 6 denormals-are-zero.
  _mm_setcsr(_mm_getcsr() | 0x8040u);
#endif
}

namespace cpu {
namespace {

constexpr int kSequenceChunk = 128;  // ticks per chunk of the sequence form

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, int max_instruments, int max_batch)
      : cfg_(model.config), D_(cfg_.d_model), F_(cfg_.n_features), H_(cfg_.n_outputs()),
        max_instruments_(max_instruments), max_batch_(max_batch),
        rows_(std::max(max_batch, kSequenceChunk)), eps_(static_cast<float>(cfg_.rms_norm_eps)) {
    if (max_instruments <= 0 || max_batch <= 0)
      throw std::runtime_error("cpu backend: max_instruments and max_batch must be positive");
    if (D_ <= 0 || F_ <= 0 || H_ <= 0) throw std::runtime_error("cpu backend: model has zero d_model, n_features or outputs");
    const Weights& w = model.weights;
    embed_ = PackedLinear(tensor(w, "embed.weight", int64_t{D_} * F_), &tensor(w, "embed.bias", D_));
    head_ = PackedLinear(tensor(w, "head.weight", int64_t{H_} * D_), &tensor(w, "head.bias", H_));
    final_norm_ = tensor(w, "final_layernorm.weight", D_).data;
    for (size_t i = 0; i < cfg_.layers.size(); ++i) {
      const int li = static_cast<int>(i);
      const bool mega = cfg_.layers[i].type == LayerType::megalodon;
      layers_.push_back(mega ? make_megalodon_layer(cfg_, w, li, rows_) : make_decoder_layer(cfg_, w, li, rows_));
      layer_offset_.push_back(state_bytes_);
      state_bytes_ += round_up(layers_.back()->state_bytes(), kStateAlign);
      is_attention_.push_back(cfg_.layers[i].type == LayerType::attention);
    }
    state_bytes_ = std::max<std::size_t>(state_bytes_, kStateAlign);  // a slot is never empty
    const std::size_t total = state_bytes_ * static_cast<std::size_t>(max_instruments);
    slab_.reset(static_cast<std::byte*>(std::aligned_alloc(kStateAlign, total)));
    if (!slab_) throw std::runtime_error("cpu backend: cannot allocate the state slab of " + std::to_string(total) + " bytes");
    std::memset(slab_.get(), 0, total);
    h_.resize(static_cast<size_t>(rows_) * D_);
    u_.resize(static_cast<size_t>(rows_) * D_);
    ptrs_.resize(static_cast<size_t>(rows_));
  }

  std::string name() const override { return "cpu"; }
  std::size_t state_bytes() const override { return state_bytes_; }
  int max_instruments() const override { return max_instruments_; }
  int max_batch() const override { return max_batch_; }

  void reset(int32_t slot) override {
    quiesce(slot);
    std::memset(state(slot), 0, state_bytes_);
  }

  void step(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) override {
    set_ftz_daz();
    for (int b = 0; b < k; b += max_batch_) {  // callers keep k <= max_batch; larger k is split, not refused
      const int n = std::min(max_batch_, k - b);
      step_block(slots + b, n, x + int64_t{b} * F_, y + int64_t{b} * H_, info ? info + b : nullptr);
    }
  }

  void sequence(int32_t slot, const float* x, int64_t T, float* y) override {
    set_ftz_daz();
    std::byte* base = state(slot);
    for (int64_t t = 0; t < T; t += kSequenceChunk) {
      const int n = static_cast<int>(std::min<int64_t>(kSequenceChunk, T - t));
      embed_.apply(x + t * F_, n, h_.data());  // [n, D]
      for (size_t l = 0; l < layers_.size(); ++l) layers_[l]->sequence(base + layer_offset_[l], h_.data(), n);
      finish(n, y + t * H_);
    }
  }

  void read_state(int32_t slot, std::byte* out) const override {
    quiesce(slot);
    std::memcpy(out, slab_.get() + static_cast<std::size_t>(slot) * state_bytes_, state_bytes_);
  }
  void write_state(int32_t slot, const std::byte* in) override {
    quiesce(slot);
    std::memcpy(state(slot), in, state_bytes_);
  }

  void set_refresh_mode(RefreshMode mode) override {
    bool lagged = false;
    for (size_t l = 0; l < layers_.size(); ++l) lagged |= is_attention_[l];
    if (mode != RefreshMode::inline_refresh && !(lagged && cfg_.attention.refresh_lag >= 1))
      throw std::runtime_error("cpu backend: deferred refreshes need an attention layer with refresh_lag >= 1");
    for (auto& layer : layers_) layer->set_refresh_mode(mode);
    mode_ = mode;
    jobs_.resize(static_cast<size_t>(max_batch_) * layers_.size());
    n_jobs_ = 0;
  }
  int take_refresh_jobs(RefreshJob* out, int max) override {
    const int n = std::min(n_jobs_, max);
    std::copy_n(jobs_.begin(), n, out);
    std::copy(jobs_.begin() + n, jobs_.begin() + n_jobs_, jobs_.begin());
    n_jobs_ -= n;
    return n;
  }
  void run_refresh(const RefreshJob& job) override {
    layers_[static_cast<size_t>(job.layer)]->run_refresh(state(job.slot) + layer_offset_[job.layer], job.tick);
  }
  uint64_t late_refreshes() const override { return late_refreshes_; }

 private:
  std::byte* state(int32_t slot) const { return slab_.get() + static_cast<std::size_t>(slot) * state_bytes_; }
  // Waits until no deferred refresh of `slot` is in flight (before its state is reset, read or replaced).
  void quiesce(int32_t slot) const {
    if (mode_ == RefreshMode::inline_refresh) return;
    for (size_t l = 0; l < layers_.size(); ++l) layers_[l]->quiesce(state(slot) + layer_offset_[l]);
  }

  void step_block(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) {
    embed_.apply(x, k, h_.data());  // [k, D]
    for (size_t l = 0; l < layers_.size(); ++l) {
      for (int r = 0; r < k; ++r) ptrs_[r] = state(slots[r]) + layer_offset_[l];
      layers_[l]->step(k, ptrs_.data(), h_.data());
      if (mode_ != RefreshMode::inline_refresh) {
        const int* rows = nullptr;
        const int64_t* ticks = nullptr;
        const int n = layers_[l]->deferred(&rows, &ticks);
        for (int j = 0; j < n; ++j) {
          const RefreshJob job{slots[rows[j]], static_cast<int32_t>(l), ticks[j]};
          // Jobs not taken since the last step would overflow: never drop one (a tick would wait for it
          // forever), run it here instead.
          if (n_jobs_ < static_cast<int>(jobs_.size())) jobs_[n_jobs_++] = job;
          else run_refresh(job);
        }
      }
    }
    finish(k, y);
    for (int r = 0; r < k; ++r) {
      uint32_t age = 0;
      bool late = false;
      for (size_t l = 0; l < layers_.size(); ++l) {
        if (!is_attention_[l]) continue;
        // A late refresh (stale policy) means this tick used the refresh before ρ(t): P ticks older.
        const bool layer_late = layers_[l]->late(r);
        const uint32_t a = layers_[l]->context_age(state(slots[r]) + layer_offset_[l]) +
                           (layer_late ? static_cast<uint32_t>(cfg_.attention.refresh_every) : 0u);
        age = std::max(age, a);
        late |= layer_late;
        late_refreshes_ += layer_late;
      }
      if (info) info[r] = StepOutput{age, late};
    }
  }

  // y [n, H] = head(final_norm(h_ [n, D])).
  void finish(int n, float* y) {
    rmsnorm_rows(h_.data(), final_norm_.data(), n, D_, eps_, u_.data());
    head_.apply(u_.data(), n, y);
  }

  ModelConfig cfg_;
  int D_, F_, H_;
  int max_instruments_, max_batch_;
  int rows_;  // scratch rows: max(max_batch, kSequenceChunk)
  float eps_;
  PackedLinear embed_, head_;
  std::vector<float> final_norm_;                // [D]
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::size_t> layer_offset_;        // [L] byte offset of each layer's state in a slot
  std::vector<bool> is_attention_;               // [L]
  std::size_t state_bytes_ = 0;
  std::unique_ptr<std::byte, FreeDeleter> slab_; // [max_instruments, state_bytes]
  std::vector<float> h_, u_;                     // [rows, D] activations, normed activations
  std::vector<std::byte*> ptrs_;                 // [rows] state pointers of the current layer
  RefreshMode mode_ = RefreshMode::inline_refresh;
  std::vector<RefreshJob> jobs_;                 // [max_batch · L] refreshes deferred since the last take
  int n_jobs_ = 0;
  uint64_t late_refreshes_ = 0;
};

}  // namespace
}  // namespace cpu

#if defined(TICKRT_HAVE_CUDA)
std::unique_ptr<Backend> make_cuda_backend(const Model& model, int max_instruments, int max_batch);
#endif

std::unique_ptr<Backend> make_backend(const std::string& name, const Model& model, int max_instruments,
                                      int max_batch) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(model, max_instruments, max_batch);
  if (name == "cuda") {
#if defined(TICKRT_HAVE_CUDA)
    return make_cuda_backend(model, max_instruments, max_batch);
#else
    throw std::runtime_error("backend 'cuda' is not built into this binary (configure with -DTICKRT_CUDA=ON)");
#endif
  }
  throw std::runtime_error("unknown backend '" + name + "' (expected cpu or cuda)");
}

}  // namespace tickrt
