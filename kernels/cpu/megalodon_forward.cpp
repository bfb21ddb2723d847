// The per-tick math of the CPU Megalodon block (MODEL-SPEC §6, steps 1-7). Hot path: no allocation, no
// locks, no exceptions. Scalar formulas come from kernels/tick_math.h, shared with the CUDA backend.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/megalodon_layer.h"

namespace tickrt::cpu {
namespace {

// Mean and biased variance of x [n].
void moments(const float* x, int n, float& mean, float& var) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += x[j];
  mean = sum / static_cast<float>(n);
  float ss = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float dx = x[j] - mean;
    ss += dx * dx;
  }
  var = ss / static_cast<float>(n);
}

float mean_square(const float* x, int n) {
  float ss = 0.0f;
  for (int j = 0; j < n; ++j) ss += x[j] * x[j];
  return ss / static_cast<float>(n);
}

}  // namespace

int64_t MegalodonLayer::recurrent_front(std::byte* state, const float* x, float* xn, float* mx) {
  const int D = d_.D, n = d_.n, group = d_.D / d_.G;

  // 1. TimestepNorm: fold this tick's group moments into the running ones, then normalise with them.
  auto* groups = reinterpret_cast<TimestepGroupState*>(state + layout_.timenorm);  // [G]
  for (int gi = 0; gi < d_.G; ++gi) {
    const int off = gi * group;
    float gm, gv;
    moments(x + off, group, gm, gv);
    TimestepGroupState& s = groups[gi];
    math::timestep_norm_update(s.count, s.mean, s.var, gm, gv);
    const float inv = math::inv_std(s.var, d_.eps);
    for (int j = off; j < off + group; ++j)
      xn[j] = math::affine_norm(x[j], s.mean, inv, tn_scale_[j], tn_bias_[j]);
  }

  // 2. CEMA: h ← q⊙h + p·xn per (channel, component); c = Σ_k Re(η·h) + omega·xn, written into mx.
  float* h = reinterpret_cast<float*>(state + layout_.cema_h);  // [D, n, 2]
  for (int c = 0; c < D; ++c) {
    const math::CemaCoeff* coeff = &cema_[static_cast<std::size_t>(c) * n];
    float* hc = h + static_cast<std::size_t>(c) * n * 2;
    float acc = 0.0f;
    for (int k = 0; k < n; ++k) acc += math::cema_step(hc[2 * k], hc[2 * k + 1], coeff[k], xn[c]);
    mx[c] = acc + omega_[c] * xn[c];
  }

  // 3a. mx = RMSNorm with offset scale of c.
  const float s = math::rms_scale(mean_square(mx, D), d_.eps);
  for (int c = 0; c < D; ++c) mx[c] = mx[c] * s * rms_scale_[c];

  // In-chunk position of this tick; the cache empties (position back to 0) once it reaches C. A position
  // outside [0, C) can only come from foreign state bytes; it is treated as an empty chunk.
  int64_t& chunk_len = *reinterpret_cast<int64_t*>(state + layout_.chunk_len);
  const int64_t pos = (chunk_len >= 0 && chunk_len < d_.C) ? chunk_len : 0;
  chunk_len = (pos + 1 == d_.C) ? 0 : pos + 1;
  return pos;
}

void MegalodonLayer::project_qkv(std::byte* state, int64_t pos, const float* z, const float* v, float* q) {
  const int Z = d_.Z, dz = d_.dz, half = d_.dz / 2;
  float* key = reinterpret_cast<float*>(state + layout_.keys) + pos * Z;         // row pos of [C, Z]
  float* value = reinterpret_cast<float*>(state + layout_.values) + pos * d_.V;  // row pos of [C, V]
  const float* cos_p = &rope_cos_[static_cast<std::size_t>(pos) * half];         // [dz/2]
  const float* sin_p = &rope_sin_[static_cast<std::size_t>(pos) * half];
  for (int hd = 0; hd < d_.heads; ++hd) {
    const int off = hd * dz;
    // 3b. Each head of z RMS-normalised without affine, then the normalised-attention affine for q and k.
    const float s = math::rms_scale(mean_square(z + off, dz), d_.eps);
    for (int j = off; j < off + dz; ++j) {
      const float zn = z[j] * s;
      q[j] = zn * q_scale_[j] + q_bias_[j];
      key[j] = zn * k_scale_[j] + k_bias_[j];
    }
    // 4. RoPE on interleaved pairs (2i, 2i+1) of the head, at the in-chunk position.
    for (int i = 0; i < half; ++i) {
      math::rope_rotate(q[off + 2 * i], q[off + 2 * i + 1], cos_p[i], sin_p[i]);
      math::rope_rotate(key[off + 2 * i], key[off + 2 * i + 1], cos_p[i], sin_p[i]);
    }
  }
  std::memcpy(value, v, sizeof(float) * d_.V);
}

void MegalodonLayer::attend(const std::byte* state, int64_t pos, const float* q, const float* g, float* out) {
  const int Z = d_.Z, V = d_.V, dz = d_.dz, dv = d_.dv;
  const float* keys = reinterpret_cast<const float*>(state + layout_.keys);      // [C, Z]
  const float* values = reinterpret_cast<const float*>(state + layout_.values);  // [C, V]
  float* scores = scores_.data();                                                // [pos + 1]
  for (int hd = 0; hd < d_.heads; ++hd) {
    // 5. Causal attention over this chunk's keys 0..pos, scale 1, softmax in float32 with the max subtracted.
    const float* qh = q + hd * dz;
    float best = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s <= pos; ++s) {
      const float* kh = keys + s * Z + hd * dz;
      float dot = 0.0f;
      for (int j = 0; j < dz; ++j) dot += qh[j] * kh[j];
      scores[s] = dot;
      best = std::max(best, dot);
    }
    float sum = 0.0f;
    for (int64_t s = 0; s <= pos; ++s) {
      scores[s] = expf(scores[s] - best);
      sum += scores[s];
    }
    const float inv_sum = 1.0f / sum;
    float* oh = out + hd * dv;
    for (int j = 0; j < dv; ++j) oh[j] = 0.0f;
    for (int64_t s = 0; s <= pos; ++s) {
      const float p = scores[s] * inv_sum;
      const float* vh = values + s * V + hd * dv;
      for (int j = 0; j < dv; ++j) oh[j] += p * vh[j];
    }
    // 6 (part). Gate: attn ⊙ g.
    for (int j = 0; j < dv; ++j) oh[j] *= g[hd * dv + j];
  }
}

void MegalodonLayer::forward_rows(int rows, std::byte* const* states, float* h) {
  const int D = d_.D, Z = d_.Z, V = d_.V, F = d_.F;
  float *xn = xn_.data(), *mx = mx_.data(), *z = z_.data(), *q = q_.data(), *v = v_.data(), *g = g_.data();
  float *gated = gated_.data(), *hx = hx_.data(), *y = y_.data(), *ln = ln_.data(), *out = out_.data();
  float *f1 = f1_.data(), *f3 = f3_.data();

  // Steps 1-3a, recurrent, row by row in order (rows sharing a state are consecutive ticks).
  for (int r = 0; r < rows; ++r) pos_[r] = recurrent_front(states[r], h + r * D, xn + r * D, mx + r * D);

  // Step 3: the projections, one pass over each weight for all rows.
  wz_.apply(mx, rows, z);    // [rows, Z]
  wr_.apply(mx, rows, g);    // [rows, V]
  wh1_.apply(mx, rows, hx);  // [rows, D]
  wv_.apply(xn, rows, v);    // [rows, V]
  for (int i = 0; i < rows * V; ++i) {
    v[i] = math::silu(v[i]);
    g[i] = math::silu(g[i]);
  }

  // Steps 3b-5: all rows' keys and values enter their chunk caches before any row attends (a row only
  // reads positions up to its own).
  for (int r = 0; r < rows; ++r) project_qkv(states[r], pos_[r], z + r * Z, v + r * V, q + r * Z);
  for (int r = 0; r < rows; ++r) attend(states[r], pos_[r], q + r * Z, g + r * V, gated + r * V);
  // A row that filled its chunk has used the cache for the last time: empty it, so rows at or past
  // chunk_len are always zero and equal histories give equal state bytes (snapshots, CPU vs CUDA).
  for (int r = 0; r < rows; ++r)
    if (pos_[r] == d_.C - 1) {
      std::memset(states[r] + layout_.keys, 0, sizeof(float) * static_cast<std::size_t>(d_.C) * Z);
      std::memset(states[r] + layout_.values, 0, sizeof(float) * static_cast<std::size_t>(d_.C) * V);
    }

  // Step 6: y = x + wh1·mx + b_h1 + wh2·(attn ⊙ g).
  wh2_.apply(gated, rows, y);  // [rows, D]
  for (int i = 0; i < rows * D; ++i) y[i] += h[i] + hx[i];

  // Step 7: out = x + fc2(silu(fc1·LN(y)) [⊙ fc3·LN(y)]).
  for (int r = 0; r < rows; ++r) {
    float mean, var;
    moments(y + r * D, D, mean, var);
    const float inv = math::inv_std(var, d_.eps);
    for (int j = 0; j < D; ++j)
      ln[r * D + j] = math::affine_norm(y[r * D + j], mean, inv, ln_scale_[j], ln_bias_[j]);
  }
  fc1_.apply(ln, rows, f1);  // [rows, F]
  if (d_.swiglu) {
    fc3_.apply(ln, rows, f3);  // [rows, F]
    for (int i = 0; i < rows * F; ++i) f1[i] = math::silu(f1[i]) * f3[i];
  } else {
    for (int i = 0; i < rows * F; ++i) f1[i] = math::silu(f1[i]);
  }
  fc2_.apply(f1, rows, out);  // [rows, D]
  for (int i = 0; i < rows * D; ++i) h[i] += out[i];
}

void MegalodonLayer::step(int k, std::byte* const* states, float* h) {
  // k never exceeds max_batch by contract; larger batches are still served, in pieces.
  for (int done = 0; done < k; done += max_rows_) {
    const int rows = std::min(max_rows_, k - done);
    forward_rows(rows, states + done, h + static_cast<std::size_t>(done) * d_.D);
  }
}

void MegalodonLayer::sequence(std::byte* state, float* h, int64_t T) {
  // Segments end at chunk boundaries, so within one segment every row's key lands in a distinct cache row.
  std::fill(row_states_.begin(), row_states_.end(), state);
  const int64_t chunk_len = *reinterpret_cast<const int64_t*>(state + layout_.chunk_len);
  int64_t pos = (chunk_len >= 0 && chunk_len < d_.C) ? chunk_len : 0;
  for (int64_t t = 0; t < T;) {
    const int rows = static_cast<int>(std::min<int64_t>(d_.C - pos, T - t));
    forward_rows(rows, row_states_.data(), h + t * d_.D);
    t += rows;
    pos = 0;
  }
}

}  // namespace tickrt::cpu
