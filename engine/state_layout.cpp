#include "engine/state_layout.h"

#include <fmt/core.h>

#include <stdexcept>

#include "kernels/cpu/attention_mixer.h"

namespace tickrt {
namespace {

constexpr std::size_t kF32 = 4, kI64 = 8, kAlign = 64;

std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

std::size_t layer_state_bytes(const ModelConfig& cfg, int layer) {
  if (layer < 0 || layer >= static_cast<int>(cfg.layers.size()))
    throw std::out_of_range(fmt::format("layer_state_bytes: layer {} of {}", layer, cfg.layers.size()));
  const std::size_t D = static_cast<std::size_t>(cfg.d_model);
  std::size_t bytes = 0;
  switch (cfg.layers[static_cast<std::size_t>(layer)].type) {
    case LayerType::mamba: {
      const std::size_t E = static_cast<std::size_t>(cfg.mamba_d_inner());
      bytes = E * static_cast<std::size_t>(cfg.mamba.d_conv) * kF32     // conv_state [E, K]
              + E * static_cast<std::size_t>(cfg.mamba.d_state) * kF32;  // ssm_state [E, N]
      break;
    }
    case LayerType::attention:
      // The attention state carries more than the spec's minimum (a status and query per pending refresh, so a
      // refresh can run on a worker thread) and aligns its sections: its layout is the CPU backend's.
      bytes = cpu::AttentionLayout::of(cpu::AttentionShape::from_config(cfg)).bytes;
      break;
    case LayerType::megalodon: {
      const MegalodonConfig& m = cfg.megalodon;
      const std::size_t C = static_cast<std::size_t>(m.chunk_size);
      bytes = static_cast<std::size_t>(m.norm_groups) * (kI64 + 2 * kF32)                   // TimestepNorm
              + D * static_cast<std::size_t>(m.cema_ndim) * 2 * kF32                        // CEMA h [D, n] complex
              + C * static_cast<std::size_t>(m.z_dim) * kF32                                // chunk K [C, Z]
              + C * static_cast<std::size_t>(m.value_dim) * kF32                            // chunk V [C, V]
              + kI64;                                                                        // in-chunk position
      break;
    }
  }
  return round_up(bytes);
}

std::size_t model_state_bytes(const ModelConfig& cfg) {
  std::size_t total = 0;
  for (int i = 0; i < static_cast<int>(cfg.layers.size()); ++i) total += layer_state_bytes(cfg, i);
  return total;
}

}  // namespace tickrt
