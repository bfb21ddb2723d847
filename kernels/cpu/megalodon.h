// The Megalodon block of the CPU backend (MODEL-SPEC §6): widths, per-instrument state layout, and the layer.
// The factory is make_megalodon_layer() in cpu_layer.h; the state layout here is shared with snapshots and
// the CUDA backend, so it is a contract: change it only together with them.
//
// Per-instrument state (all-zero bytes = the reset state), packed in this order, the total rounded up to a
// multiple of 64 (its size is engine/state_layout.h's layer_state_bytes()):
//   offset 0         G × TimestepGroupState {int64 count; float mean; float var}   (16 B per group)
//   offset 16·G      int64 chunk_len: keys in the current chunk = in-chunk position of the next tick
//                    (0..C-1; back to 0 when it reaches C, which empties the chunk cache)
//   offset 16·G + 8  float h [D, n, 2]  CEMA state, (real, imag) pairs
//   keys             float [C, Z]  keys of the current chunk after RoPE (rows < chunk_len valid, rest 0)
//   values           float [C, V]  values of the current chunk (rows < chunk_len valid, rest 0)
// Every field is naturally aligned (8 bytes for the int64s and the complex pairs) given a 64-byte aligned
// base. All fields little-endian float32 / int64, as the host stores them.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/model_config.h"

namespace tickrt::cpu {

// Widths of one megalodon block, with every "0 means default" of MegalodonConfig resolved and checked.
struct MegalodonDims {
  int D = 0;      // d_model
  int Z = 0;      // z_dim (query/key width)
  int V = 0;      // value_dim
  int heads = 0;  // chunk-attention heads
  int dz = 0;     // Z / heads (even: RoPE rotates pairs)
  int dv = 0;     // V / heads
  int n = 0;      // cema_ndim
  int C = 0;      // chunk_size
  int G = 0;      // norm_groups (divides D)
  int F = 0;      // ffn_hidden
  bool swiglu = true;
  float eps = 1e-5f;
  double rope_base = 10000.0;

  // Throws std::runtime_error naming the megalodon field at fault.
  static MegalodonDims from(const ModelConfig& cfg);
};

struct TimestepGroupState {
  int64_t count;  // ticks folded in since the reset
  float mean;     // running mean of the group's per-tick means
  float var;      // running variance (per-tick group variances plus the spread of the means)
};
static_assert(sizeof(TimestepGroupState) == 16, "TimestepNorm group state is 16 bytes in the state layout");

// Byte offsets of each part of one instrument's state (see the table at the top of this file).
struct MegalodonStateLayout {
  std::size_t timenorm = 0;   // TimestepGroupState [G]
  std::size_t chunk_len = 0;  // int64
  std::size_t cema_h = 0;     // float [D, n, 2]
  std::size_t keys = 0;       // float [C, Z]
  std::size_t values = 0;     // float [C, V]
  std::size_t total = 0;      // multiple of 64

  static MegalodonStateLayout of(const MegalodonDims& d);
};

// Bytes of one instrument's state for one megalodon layer of cfg (a multiple of 64).
std::size_t megalodon_state_bytes(const ModelConfig& cfg);

}  // namespace tickrt::cpu
