// The model hash and parameter count. The hash is FNV-1a 64 (engine/hash.h) over, in order:
//   the canonical config JSON (ModelConfig::to_json().dump(): sorted keys, no spaces, defaults resolved),
//   then for each tensor in name order (std::map order, bytewise): the name, a 0 byte, the rank as u64,
//   each dimension as u64, and the float32 values' little-endian bytes.
// So two models with equal hashes compute the same function; file layout, dtype on disk (F16 vs F32 of the
// same values), tensor order in the file and config whitespace or omitted defaults do not change it.
#include <bit>

#include "engine/hash.h"
#include "engine/model.h"

namespace tickrt {

static_assert(std::endian::native == std::endian::little, "the hash and safetensors I/O assume little-endian");

uint64_t Model::compute_hash() const {
  Fnv1a64 h;
  h.update(config.to_json().dump());
  for (const auto& [name, t] : weights.tensors) {
    h.update(name);
    h.update("\0", 1);
    h.update_u64(t.shape.size());
    for (int64_t d : t.shape) h.update_u64(static_cast<uint64_t>(d));
    h.update(t.data.data(), t.data.size() * sizeof(float));
  }
  return h.value();
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : weights.tensors) n += t.numel();
  return n;
}

}  // namespace tickrt
