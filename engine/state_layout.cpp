#include "engine/state_layout.h"

#include <fmt/core.h>

#include <stdexcept>

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
    case LayerType::attention: {
      const AttentionConfig& a = cfg.attention;
      const std::size_t kv_width = static_cast<std::size_t>(a.n_kv_heads) * (D / static_cast<std::size_t>(a.n_heads));
      const std::size_t ring = static_cast<std::size_t>(a.window + a.refresh_lag);
      // A lag of l ticks can leave ceil(l/P) newer refreshes computed but not yet due, plus the one in use.
      const std::size_t kept =
          static_cast<std::size_t>((a.refresh_lag + a.refresh_every - 1) / a.refresh_every) + 1;
      bytes = ring * 2 * kv_width * kF32   // K and V ring [(W + l), 2, Hkv*hd]
              + kI64                       // tick index
              + kept * (D * kF32 + kI64)   // refresh outputs [kept, D] and their ticks
              + D * kF32;                  // pending refresh's query [D]
      break;
    }
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
