// One step of the whole model as a sequence of kernel launches (embed → layers → final norm → head), written
// once for any launcher: cuda_backend.cu instantiates it with a launcher that issues <<<grid, block>>> on a
// stream (and captures it into a CUDA graph per batch bucket), host_launch.h with one that runs every thread
// of the grid on the CPU. So the host emulator tests run exactly the kernels, indexing and buffer plumbing the
// GPU runs.
//
// A Launcher provides:
//   launch(k)        run kernel body k over k.grid() (blocks of kThreads threads)
//   begin_branch()   later launches go to the refresh stream, after everything issued so far
//   end_branch()     later launches go back to the tick stream
//   join()           the tick stream waits for everything issued on the refresh stream
// With refresh_lag ≥ 1 an attention layer's refresh (partials, combine, o_proj, store) runs as such a branch,
// concurrently with the rest of the step: the tick's output reads only older entries (ρ(t) ≤ t − 1, whose
// entry index differs from t's), and each attention layer has its own kvq and row_t buffers, so the main
// path never overwrites what a branch reads. Branches share the partial buffers but are ordered among
// themselves on the refresh stream. With ℓ = 0 the refresh feeds this tick's output and runs inline.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/common_kernels.cuh"
#include "kernels/cuda/plan.h"

namespace tickrt::cuda {

// Where a step's buffers live (device memory, or host memory for the emulator).
struct StepMemory {
  const float* weights = nullptr;  // the plan's arena
  std::byte* slab = nullptr;       // [n_slots, state_bytes]
  int n_slots = 0;
  std::byte* scratch = nullptr;    // ScratchLayout
  const ScratchLayout* layout = nullptr;

  const float* w(uint64_t off) const { return off == kNone ? nullptr : weights + off; }
  template <class T>
  T* s(uint64_t off) const { return reinterpret_cast<T*>(scratch + off); }
};

template <class Launcher>
class StepProgram {
 public:
  StepProgram(Launcher& launch, const Plan& plan, const StepMemory& mem) : L_(launch), p_(plan), m_(mem) {}

  // Enqueues one step over `rows` rows: reads layout.slots and layout.x, writes layout.y and layout.age.
  void enqueue(int rows) {
    const ScratchLayout& S = *m_.layout;
    float* h = m_.s<float>(S.h);
    linear(p_.embed, m_.s<float>(S.x), p_.F, h, p_.D, rows);
    bool branched = false;
    int attn_seen = 0;
    for (const LayerPlan& Lp : p_.layers) {
      const StateRef st{m_.slab, p_.state_bytes, Lp.state_off, m_.s<int32_t>(S.slots), m_.n_slots};
      if (Lp.type == LayerType::megalodon) {
        megalodon(Lp, st, rows);
        continue;
      }
      rmsnorm(h, Lp.input_norm, m_.s<float>(S.u), rows);
      if (Lp.type == LayerType::mamba) {
        mamba(Lp, st, rows);
      } else {
        branched = attention(Lp, st, rows, attn_seen++ == 0) || branched;
      }
      if (Lp.ffn == FfnType::mlp) mlp(Lp, rows);
      if (Lp.ffn == FfnType::moe) moe(Lp, rows);
    }
    rmsnorm(h, p_.final_norm, m_.s<float>(S.u), rows);
    linear(p_.head, m_.s<float>(S.u), p_.D, m_.s<float>(S.y), p_.H, rows);
    if (branched) L_.join();
  }

 private:
  void rmsnorm(const float* x, uint64_t w, float* y, int rows) {
    L_.launch(RmsNormRowsK{x, m_.w(w), y, rows, p_.D, p_.eps});
  }

  // y = x · W (+ b), with the LinearK options spelled out by the callers that need them.
  LinearK linear_k(const LinearW& l, const float* x, int x_stride, float* y, int y_stride, int rows) const {
    LinearK k;
    k.x = x;
    k.wt = m_.w(l.wt);
    k.bias = m_.w(l.bias);
    k.y = y;
    k.x_stride = x_stride;
    k.y_stride = y_stride;
    k.rows = rows;
    k.in = l.in;
    k.out = l.out;
    return k;
  }
  void linear(const LinearW& l, const float* x, int x_stride, float* y, int y_stride, int rows) {
    L_.launch(linear_k(l, x, x_stride, y, y_stride, rows));
  }

  void mamba(const LayerPlan& Lp, const StateRef& st, int rows) {
    const ScratchLayout& S = *m_.layout;
    const MambaDims& md = Lp.mamba;
    float *u = m_.s<float>(S.u), *xz = m_.s<float>(S.xz), *xc = m_.s<float>(S.xc), *dbc = m_.s<float>(S.dbc);
    float *y = m_.s<float>(S.my), *h = m_.s<float>(S.h);
    linear(Lp.in_proj, u, p_.D, xz, 2 * md.E, rows);
    L_.launch(MambaConvK{md, st, xz, m_.w(Lp.conv_w), m_.w(Lp.conv_b), xc, rows});
    linear(Lp.x_proj, xc, md.E, dbc, md.R + 2 * md.N, rows);
    MambaScanK scan{md, st, xz, xc, dbc, m_.w(Lp.dt_w), m_.w(Lp.dt_b), m_.w(Lp.A), m_.w(Lp.Dskip),
                    m_.w(Lp.dt_norm), m_.w(Lp.b_norm), m_.w(Lp.c_norm), p_.eps, y, rows};
    L_.launch(scan);
    LinearK out = linear_k(Lp.out_proj, y, md.E, h, p_.D, rows);
    out.accumulate = true;  // the decoder residual: h += out_proj · y
    L_.launch(out);
  }

  // Returns whether the refresh ran as a branch on the refresh stream.
  bool attention(const LayerPlan& Lp, const StateRef& st, int rows, bool first) {
    const ScratchLayout& S = *m_.layout;
    const AttnDims& a = Lp.attn;
    float* kvq = m_.s<float>(S.kvq[Lp.attn_index]);
    int64_t* row_t = m_.s<int64_t>(S.row_t[Lp.attn_index]);
    float *pm = m_.s<float>(S.part_m), *pl = m_.s<float>(S.part_l), *pa = m_.s<float>(S.part_acc);
    float *att = m_.s<float>(S.attn_a), *o = m_.s<float>(S.attn_o);
    linear(Lp.kvq, m_.s<float>(S.u), p_.D, kvq, kvq_width(a), rows);
    L_.launch(AttnTickK{a, st, row_t, m_.s<uint32_t>(S.age), first, rows});
    L_.launch(AttnAppendK{a, st, row_t, kvq, rows});
    const bool branch = a.lag >= 1;
    if (branch) L_.begin_branch();
    L_.launch(AttnPartialK{a, st, row_t, kvq, pm, pl, pa, rows});
    L_.launch(AttnCombineK{a, row_t, pm, pl, pa, att, rows});
    linear(Lp.o_proj, att, a.qw(), o, p_.D, rows);
    L_.launch(AttnStoreK{a, st, row_t, kvq, o, rows});
    if (branch) L_.end_branch();
    L_.launch(AttnOutputK{a, st, row_t, m_.s<float>(S.h), rows});
    return branch;
  }

  void mlp(const LayerPlan& Lp, int rows) {
    const ScratchLayout& S = *m_.layout;
    float *h = m_.s<float>(S.h), *u = m_.s<float>(S.u), *g = m_.s<float>(S.hidden);
    rmsnorm(h, Lp.pre_ff_norm, u, rows);
    const int I = Lp.gate.out;
    L_.launch(GateUpK{u, m_.w(Lp.gate.wt), m_.w(Lp.up.wt), g, rows, p_.D, I});
    LinearK down = linear_k(Lp.down, g, I, h, p_.D, rows);
    down.accumulate = true;
    L_.launch(down);
  }

  void moe(const LayerPlan& Lp, int rows) {
    const ScratchLayout& S = *m_.layout;
    const MoeDims& md = Lp.moe;
    float *h = m_.s<float>(S.h), *u = m_.s<float>(S.u), *logits = m_.s<float>(S.logits);
    int32_t *pe = m_.s<int32_t>(S.pick_e), *list = m_.s<int32_t>(S.list), *count = m_.s<int32_t>(S.count);
    float *pw = m_.s<float>(S.pick_w), *hidden = m_.s<float>(S.hidden), *eo = m_.s<float>(S.eo);
    rmsnorm(h, Lp.pre_ff_norm, u, rows);
    linear(Lp.router, u, p_.D, logits, md.E, rows);
    L_.launch(MoeRouteK{md, m_.s<int32_t>(S.slots), m_.n_slots, logits, pe, pw, rows});
    L_.launch(MoeGroupK{md, pe, list, count, rows});
    L_.launch(MoeGateUpK{md, list, count, u, m_.w(Lp.e_gate), m_.w(Lp.e_up), hidden, rows});
    L_.launch(MoeDownK{md, list, count, hidden, m_.w(Lp.e_down), eo, rows});
    L_.launch(MoeCombineK{md, pe, pw, eo, h, rows});
  }

  void megalodon(const LayerPlan& Lp, const StateRef& st, int rows) {
    const ScratchLayout& S = *m_.layout;
    const MegaDims& md = Lp.mega;
    float *h = m_.s<float>(S.h), *gstat = m_.s<float>(S.gstat), *xn = m_.s<float>(S.xn);
    float *cout = m_.s<float>(S.cout), *mx = m_.s<float>(S.mx), *z = m_.s<float>(S.z), *v = m_.s<float>(S.mv);
    float *g = m_.s<float>(S.mg), *hx = m_.s<float>(S.hx), *gated = m_.s<float>(S.gated);
    float *y = m_.s<float>(S.my2), *ln = m_.s<float>(S.ln), *f1 = m_.s<float>(S.f1);
    int64_t* pos = m_.s<int64_t>(S.pos);
    L_.launch(MegaStatsK{md, st, h, gstat, rows});
    L_.launch(MegaCemaK{md, st, h, gstat, m_.w(Lp.tn_scale), m_.w(Lp.tn_bias), m_.w(Lp.cema), m_.w(Lp.omega), xn,
                        cout, rows});
    L_.launch(MegaNormK{md, st, cout, m_.w(Lp.rms_scale), mx, pos, rows});
    linear(Lp.wz, mx, md.D, z, md.Z, rows);
    LinearK wr = linear_k(Lp.wr, mx, md.D, g, md.V, rows);
    wr.act = Act::silu;
    L_.launch(wr);
    linear(Lp.wh1, mx, md.D, hx, md.D, rows);
    LinearK wv = linear_k(Lp.wv, xn, md.D, v, md.V, rows);
    wv.act = Act::silu;
    L_.launch(wv);
    MegaAttendK att{md, st, pos, z, v, g, m_.w(Lp.q_scale), m_.w(Lp.q_bias), m_.w(Lp.k_scale), m_.w(Lp.k_bias),
                    m_.w(Lp.rope_cos), m_.w(Lp.rope_sin), gated, rows};
    L_.launch(att);
    LinearK wh2 = linear_k(Lp.wh2, gated, md.V, y, md.D, rows);
    wh2.add1 = h;  // y = wh2·(attn ⊙ g) + (x + wh1·mx + b)
    wh2.add2 = hx;
    L_.launch(wh2);
    L_.launch(LayerNormRowsK{y, m_.w(Lp.ln_scale), m_.w(Lp.ln_bias), ln, rows, md.D, md.eps});
    if (Lp.swiglu) {
      L_.launch(GateUpK{ln, m_.w(Lp.fc1.wt), m_.w(Lp.fc3.wt), f1, rows, md.D, md.F});
    } else {
      LinearK fc1 = linear_k(Lp.fc1, ln, md.D, f1, md.F, rows);
      fc1.act = Act::silu;
      L_.launch(fc1);
    }
    LinearK fc2 = linear_k(Lp.fc2, f1, md.F, h, md.D, rows);
    fc2.accumulate = true;  // two-hop residual: the block input x, not y
    L_.launch(fc2);
  }

  Launcher& L_;
  const Plan& p_;
  StepMemory m_;
};

}  // namespace tickrt::cuda
