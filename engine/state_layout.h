// Per-instrument state size of each layer, computed from the config alone (MODEL-SPEC §7): what `tickrt
// inspect` reports and what snapshots and the state slab are sized by. The backends' actual layouts must
// occupy exactly these sizes; this is the single place the formula lives.
#pragma once
#include <cstddef>

#include "engine/model_config.h"

namespace tickrt {

// Bytes of per-instrument state of layer `layer`, rounded up to a multiple of 64 (cache line):
//   mamba:     conv_state [E_i, K] f32 + ssm_state [E_i, N] f32
//   attention: tick index i64 + S = ceil(l/P) + 1 (+1 when l >= 1) refresh entries (tick i64, status i64, query [Hq*hd] f32,
//              output [D] f32) + KV ring [(W + l), 2, Hkv*hd] f32, each section 64-byte aligned
//              (kernels/cpu/attention_mixer.h: the layout itself)
//   megalodon: TimestepNorm G x (count i64, mean f32, var f32) + CEMA h [D, n, 2] f32
//              + chunk keys [C, Z] f32 + chunk values [C, V] f32 + in-chunk position i64
// FFNs and norms are stateless. Throws std::out_of_range for a bad layer index.
std::size_t layer_state_bytes(const ModelConfig& cfg, int layer);

// Sum over all layers: the state of one instrument.
std::size_t model_state_bytes(const ModelConfig& cfg);

}  // namespace tickrt
