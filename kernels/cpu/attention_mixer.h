// The attention mixer's per-instrument state and its refresh computation (MODEL-SPEC §5), kept apart from the
// mixer so that a refresh can run later on another thread (issue 4): a refresh for tick r reads only the key/value
// ring entries (r − W, r] and the query stored with it, and writes its attention vector.
//
// State layout (per instrument; sections 64-byte aligned; little-endian):
//   t             int64              ticks since reset (the index of the next tick)
//   entry_tick    int64 [S]          refresh tick + 1 held in each entry, 0 = empty
//                                    (S = ceil(ℓ/P) + 1, plus 1 when ℓ ≥ 1: the stale policy's fallback)
//   entry_status  int64 [S]          0 empty, 1 query stored (refresh pending), 2 output ready
//   entry_q       float [S, Hq·hd]   the refresh's query q_r
//   entry_o       float [S, D]       the refresh's output o_r = o_proj·a_r
//   keys          float [W + ℓ, Hkv·hd]   ring: tick s at row s mod (W + ℓ)
//   values        float [W + ℓ, Hkv·hd]
// The ring holds W + ℓ ticks so a refresh for tick r can still read (r − W, r] while ticks r+1..r+ℓ are written;
// entries are indexed by (r / P) mod S, so the refresh a tick uses, ρ(t), is never overwritten before tick t.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/model_config.h"

namespace tickrt::cpu {

struct AttentionShape {
  int d_model = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int window = 0, every = 1, lag = 0;
  int ring = 0;     // W + ℓ rows
  int entries = 0;  // ceil(ℓ / P) + 1, + 1 when ℓ ≥ 1
  int q_width() const { return n_heads * head_dim; }
  int kv_width() const { return n_kv_heads * head_dim; }
  static AttentionShape from_config(const ModelConfig& cfg);
};

struct AttentionLayout {
  std::size_t t = 0, entry_tick = 0, entry_status = 0, entry_q = 0, entry_o = 0, keys = 0, values = 0;
  std::size_t bytes = 0;  // multiple of 64
  static AttentionLayout of(const AttentionShape& s);
};

enum EntryStatus : int64_t { entry_empty = 0, entry_pending = 1, entry_ready = 2 };

// a [Hq·hd] = softmax(q·K/√hd)·V over the keys (r − W, r] ∩ [0, r] of `state`'s ring, per query head.
// scores: scratch of at least W floats. Reads nothing but the ring; allocates nothing.
void attention_refresh(const AttentionShape& s, const AttentionLayout& L, const std::byte* state, int64_t r,
                       const float* q, float* a, float* scores);

}  // namespace tickrt::cpu
