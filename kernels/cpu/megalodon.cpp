// Megalodon widths and state layout (the layout table is in megalodon.h).
#include "kernels/cpu/megalodon.h"

#include <fmt/core.h>

#include <stdexcept>

namespace tickrt::cpu {
namespace {

std::size_t align64(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

void require(bool ok, const char* field, const std::string& why) {
  if (!ok) throw std::runtime_error(fmt::format("config: megalodon.{} {}", field, why));
}

}  // namespace

MegalodonDims MegalodonDims::from(const ModelConfig& cfg) {
  const MegalodonConfig& m = cfg.megalodon;
  MegalodonDims d;
  d.D = cfg.d_model;
  d.Z = m.z_dim > 0 ? m.z_dim : d.D;
  d.V = m.value_dim > 0 ? m.value_dim : d.D;
  d.heads = m.n_heads;
  d.n = m.cema_ndim;
  d.C = m.chunk_size;
  d.G = m.norm_groups > 0 ? m.norm_groups : 1;
  d.F = m.ffn_hidden > 0 ? m.ffn_hidden : 4 * d.D;
  d.swiglu = m.swiglu;
  d.eps = static_cast<float>(m.norm_eps);
  d.rope_base = m.rope_base;
  if (d.D <= 0) throw std::runtime_error(fmt::format("config: d_model must be positive, got {}", d.D));
  require(d.heads > 0, "n_heads", fmt::format("must be positive, got {}", d.heads));
  require(d.Z % d.heads == 0, "z_dim", fmt::format("({}) must be divisible by n_heads ({})", d.Z, d.heads));
  require(d.V % d.heads == 0, "value_dim",
          fmt::format("({}) must be divisible by n_heads ({})", d.V, d.heads));
  d.dz = d.Z / d.heads;
  d.dv = d.V / d.heads;
  require(d.dz % 2 == 0, "z_dim", fmt::format("per head ({}) must be even for RoPE pairs", d.dz));
  require(d.n > 0, "cema_ndim", fmt::format("must be positive, got {}", d.n));
  require(d.C > 0, "chunk_size", fmt::format("must be positive, got {}", d.C));
  require(d.D % d.G == 0, "norm_groups", fmt::format("({}) must divide d_model ({})", d.G, d.D));
  require(m.norm_eps > 0, "norm_eps", fmt::format("must be positive, got {}", m.norm_eps));
  require(m.rope_base > 0, "rope_base", fmt::format("must be positive, got {}", m.rope_base));
  return d;
}

MegalodonStateLayout MegalodonStateLayout::of(const MegalodonDims& d) {
  // Packed in the order of the table in megalodon.h; only the total is rounded, so the size equals
  // engine/state_layout.h's layer_state_bytes(), the one formula snapshots and the state slab use.
  MegalodonStateLayout l;
  l.timenorm = 0;
  l.chunk_len = l.timenorm + sizeof(TimestepGroupState) * static_cast<std::size_t>(d.G);
  l.cema_h = l.chunk_len + sizeof(int64_t);
  l.keys = l.cema_h + sizeof(float) * 2 * static_cast<std::size_t>(d.D) * d.n;
  l.values = l.keys + sizeof(float) * static_cast<std::size_t>(d.C) * d.Z;
  l.total = align64(l.values + sizeof(float) * static_cast<std::size_t>(d.C) * d.V);
  return l;
}

std::size_t megalodon_state_bytes(const ModelConfig& cfg) {
  return MegalodonStateLayout::of(MegalodonDims::from(cfg)).total;
}

}  // namespace tickrt::cpu
