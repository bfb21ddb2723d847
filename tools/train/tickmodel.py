#!/usr/bin/python3
"""The whole tickrt model in PyTorch (MODEL-SPEC.md): the oracle the C++ runtime is tested against, and the
base of the trainer.

Two independent implementations share one parameter set and one state layout:
  * sequence form  TickModel.forward(x [B,T,F], state=None) -> (y [B,T,H], new_state)   (training; vectorised
    over T except Mamba's recurrence, see MambaMixer.forward)
  * step form      TickModel.step(x_t [B,F], state=None)   -> (y_t [B,H], new_state)    (the streaming
    recurrences of MODEL-SPEC written literally; used to cross-check the sequence form)
Passing the state returned by one call into the next continues the stream exactly, in either form and mixed.

Time index. Every layer counts ticks since the instrument's last state reset: the first tick after a reset is
t = 0. Attention keeps t in its state ("t"); Megalodon keeps the TimestepNorm count (== t) and the in-chunk
position pos = t mod C ("pos"). Resetting a row (reset_state) zeroes all of its state, t included.

State layout (a dict; B = batch rows, i.e. instruments; all float32 unless noted):
  state = {"layers": [layer_state_0, ..., layer_state_{L-1}]}
  mamba:     {"conv_state": [B, E_i, K]  last K pre-convolution inputs x, column K-1 the newest,
              "ssm_state":  [B, E_i, N]}
  attention: {"t": int64 [B]            ticks seen since reset (the next tick's index),
              "k", "v": [B, W, Hkv, hd]  ring: slot s holds the key/value of the latest tick tau with tau = s mod W
                                          (tau = t-1 - ((t-1-s) mod W); slots with tau < 0 are zero),
              "o": [B, nr, D]            refresh outputs, nr = ceil(l/P) + 1: slot m mod nr holds o_{mP} for the
                                          latest refresh index m seen (zero before any refresh)}
  megalodon: {"count": int64 [B] TimestepNorm count (same for all groups), "mean", "var": [B, G],
              "h_re", "h_im": [B, D, n]  CEMA hidden state (real, imaginary),
              "k": [B, C, heads, Z/heads], "v": [B, C, heads, V/heads]  keys (after RoPE) and values of the
                   current chunk, slots 0..pos-1 valid, the rest zero,
              "pos": int64 [B]           in-chunk position of the next tick = count mod C}

Attention refresh (MODEL-SPEC section 5): refresh ticks are t = 0 (mod P). At a refresh tick r,
o_r = o_proj(softmax(q_r K^T / sqrt(hd)) V) over the keys of ticks s with r-W < s <= r and s >= 0 (the score is
the dot product divided by sqrt(hd)). The output at tick t is o_rho(t), rho(t) = P * floor((t - l) / P), the
largest refresh tick <= t - l; the zero vector when t < l.

Megalodon chunks: chunk boundaries are at t = 0 (mod C); tick t has RoPE position t mod C and attends (scale 1)
to the keys of ticks floor(t/C)*C .. t. RoPE: pairs (2i, 2i+1) of each head are rotated by the angle
float32(pos) * freq_i with freq_i = 1.0f / float32(rope_base ** (2i/dz)) (the power in double), cos/sin in float32.
CEMA coefficients (float32): p = sigmoid(alpha), r = 1 - sigmoid(alpha) sigmoid(delta),
phi_d = sigmoid(theta_d) * float32(2 pi / n), theta[d,k] = (k+1) phi_d, q = (r cos theta, r sin theta),
eta = gamma * float32(sqrt(1/n)).

Initialisation (init_weights(seed); the same distributions as the C++ init_model in engine/model_init.cpp, not
the same numbers; one torch.Generator(seed) drawn in parameter order):
  Linear weight [out, in] (embed, head, mamba in/x/out_proj, attention q/k/v/o, mlp and expert gate/up/down,
      router, megalodon wz/wv/wr/wh1/wh2, nffn fc1/fc2/fc3): U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default
      kaiming_uniform_(a=sqrt 5)); every Linear bias likewise with the same bound.
  Jamba RMSNorm weights (input_layernorm, pre_ff_layernorm, final_layernorm, dt/b/c_layernorm): 1.
  Mamba: conv1d weight and bias U(-1/sqrt(K), 1/sqrt(K)); dt_proj.weight U(-R^-0.5, R^-0.5);
      dt_proj.bias = dt + log(-expm1(-dt)) (inverse softplus), dt = exp(U(log 1e-3, log 1e-1)) floored at 1e-4;
      A_log[e, n] = log(n + 1); D = 1.
  Megalodon norms (timenorm weight/bias, rmsnorm weight, nffn.norm weight/bias): 0 (offset scales 1 + w).
  CEMA: alpha, delta ~ N(0, 0.2^2); theta[d] = logit(f_perm(d)), f_j = exp(-j ln(D)/D), j = 1..D, clamped to
      [1e-6, 1 - 1e-6], perm a random permutation; gamma[..., 0] ~ N(0, 1), gamma[..., 1] = 0;
      omega ~ N(0, 0.25^2) truncated to [-1, 1].  mega.gamma ~ N(0, 0.02^2); mega.beta = 0.

CLI: run / init / bench-step, see `tickmodel.py --help`.
"""
import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

FORMAT = "tickrt-model/1"
LAYER_TYPES = ("mamba", "attention", "megalodon")
FFN_KINDS = ("none", "mlp", "moe")


# ================================================================================================ config ====

@dataclass
class MambaConfig:
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int = 0          # 0 -> ceil(d_model / 16)
    conv_bias: bool = True
    proj_bias: bool = False
    inner_norms: bool = True


@dataclass
class AttentionConfig:
    n_heads: int = 4
    n_kv_heads: int = 0       # 0 -> n_heads
    window: int = 1024
    refresh_every: int = 1
    refresh_lag: int = 0


@dataclass
class MlpConfig:
    intermediate: int = 0     # 0 -> 4 * d_model


@dataclass
class MoeConfig:
    n_experts: int = 8
    top_k: int = 2
    intermediate: int = 0     # 0 -> 2 * d_model


@dataclass
class MegalodonConfig:
    z_dim: int = 0            # 0 -> d_model
    value_dim: int = 0        # 0 -> d_model
    n_heads: int = 1
    cema_ndim: int = 16
    chunk_size: int = 64
    norm_groups: int = 0      # 0 -> 1
    ffn_hidden: int = 0       # 0 -> 4 * d_model
    swiglu: bool = True
    norm_eps: float = 1e-5
    rope_base: float = 10000.0


@dataclass
class ModelConfig:
    n_features: int
    d_model: int
    outputs: List[str]
    layers: List[dict]        # [{"type": ..., "ffn": ...}], ffn forced to "none" for megalodon
    rms_norm_eps: float = 1e-6
    mamba: MambaConfig = field(default_factory=MambaConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    mlp: MlpConfig = field(default_factory=MlpConfig)
    moe: MoeConfig = field(default_factory=MoeConfig)
    megalodon: MegalodonConfig = field(default_factory=MegalodonConfig)
    session_gap_s: Optional[float] = None

    @property
    def n_outputs(self):
        return len(self.outputs)


class ConfigError(ValueError):
    pass


class _Reader:
    """Reads one JSON object strictly (types, ranges, unknown keys), naming `source` and the dotted field."""

    def __init__(self, obj, source, prefix):
        self.obj, self.source, self.prefix, self.used = obj, source, prefix, set()
        if not isinstance(obj, dict):
            where = f"field '{prefix[:-1]}'" if prefix else "the top level"
            raise ConfigError(f"{source}: {where} must be a JSON object, got {json.dumps(obj)}")

    def fail(self, key, what, got=None):
        raise ConfigError(f"{self.source}: field '{self.prefix}{key}' {what}, got {json.dumps(got)}")

    def find(self, key):
        self.used.add(key)
        return self.obj.get(key)

    def get_int(self, key, default, minimum):
        v = self.find(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            self.fail(key, "must be a positive integer" if minimum > 0 else "must be a non-negative integer", v)
        return v

    def get_positive(self, key, default):
        v = self.find(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            self.fail(key, "must be a positive number", v)
        return float(v)

    def get_bool(self, key, default):
        v = self.find(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            self.fail(key, "must be true or false", v)
        return v

    def refuse_unknown(self, allowed=()):
        for k in self.obj:
            if k not in self.used and k not in allowed:
                raise ConfigError(f"{self.source}: unknown field '{self.prefix}{k}' "
                                  f"(known: {', '.join(sorted(self.used))})")


def _require(ok, source, fld, what):
    if not ok:
        raise ConfigError(f"{source}: field '{fld}' {what}")


def parse_config(j, source="config.json"):
    """config.json -> ModelConfig with every default resolved; the same rules as engine/model_config.cpp."""
    top = _Reader(j, source, "")
    if top.find("format") != FORMAT:
        top.fail("format", f'must be "{FORMAT}"', j.get("format"))
    for req in ("n_features", "d_model", "outputs", "layers"):
        if top.find(req) is None:
            top.fail(req, "is required")
    n_features = top.get_int("n_features", 0, 1)
    d_model = top.get_int("d_model", 0, 1)
    outputs = top.find("outputs")
    if (not isinstance(outputs, list) or not outputs
            or not all(isinstance(o, str) and o for o in outputs) or len(set(outputs)) != len(outputs)):
        top.fail("outputs", "must be a non-empty list of distinct non-empty names", outputs)
    layers_j = top.find("layers")
    if not isinstance(layers_j, list) or not layers_j:
        top.fail("layers", 'must be a non-empty list of {"type", "ffn"} objects', layers_j)
    layers = []
    for i, lj in enumerate(layers_j):
        r = _Reader(lj, source, f"layers[{i}].")
        typ = r.find("type")
        if typ not in LAYER_TYPES:
            r.fail("type", 'must be one of "mamba", "attention", "megalodon"', typ)
        ffn = r.find("ffn")
        ffn = "none" if ffn is None else ffn
        if ffn not in FFN_KINDS:
            r.fail("ffn", 'must be one of "none", "mlp", "moe"', ffn)
        r.refuse_unknown()
        layers.append({"type": typ, "ffn": "none" if typ == "megalodon" else ffn})
    cfg = ModelConfig(n_features=n_features, d_model=d_model, outputs=list(outputs), layers=layers)
    cfg.rms_norm_eps = top.get_positive("rms_norm_eps", 1e-6)
    if top.find("session_gap_s") is not None:
        cfg.session_gap_s = top.get_positive("session_gap_s", None)
    D = d_model
    uses = {l["type"] for l in layers}

    def section(name):
        s = top.find(name)
        return _Reader({} if s is None else s, source, name + ".")

    r = section("mamba")
    m = cfg.mamba
    m.d_state = r.get_int("d_state", 16, 1)
    m.d_conv = r.get_int("d_conv", 4, 1)
    m.expand = r.get_int("expand", 2, 1)
    m.dt_rank = r.get_int("dt_rank", 0, 0) or (D + 15) // 16
    m.conv_bias = r.get_bool("conv_bias", True)
    m.proj_bias = r.get_bool("proj_bias", False)
    m.inner_norms = r.get_bool("inner_norms", True)
    r.refuse_unknown()

    r = section("attention")
    a = cfg.attention
    a.n_heads = r.get_int("n_heads", 4, 1)
    a.n_kv_heads = r.get_int("n_kv_heads", 0, 0) or a.n_heads
    a.window = r.get_int("window", 1024, 1)
    a.refresh_every = r.get_int("refresh_every", 1, 1)
    a.refresh_lag = r.get_int("refresh_lag", 0, 0)
    r.refuse_unknown()
    if "attention" in uses:
        _require(D % a.n_heads == 0, source, "attention.n_heads", f"must divide d_model ({D}), got {a.n_heads}")
        _require(a.n_heads % a.n_kv_heads == 0, source, "attention.n_kv_heads",
                 f"must divide attention.n_heads ({a.n_heads}), got {a.n_kv_heads}")

    r = section("mlp")
    cfg.mlp.intermediate = r.get_int("intermediate", 0, 0) or 4 * D
    r.refuse_unknown()

    r = section("moe")
    mo = cfg.moe
    mo.n_experts = r.get_int("n_experts", 8, 1)
    mo.top_k = r.get_int("top_k", 2, 1)
    mo.intermediate = r.get_int("intermediate", 0, 0) or 2 * D
    r.refuse_unknown()
    _require(mo.top_k <= mo.n_experts, source, "moe.top_k",
             f"must be at most moe.n_experts ({mo.n_experts}), got {mo.top_k}")

    r = section("megalodon")
    g = cfg.megalodon
    g.z_dim = r.get_int("z_dim", 0, 0) or D
    g.value_dim = r.get_int("value_dim", 0, 0) or D
    g.n_heads = r.get_int("n_heads", 1, 1)
    g.cema_ndim = r.get_int("cema_ndim", 16, 1)
    g.chunk_size = r.get_int("chunk_size", 64, 1)
    g.norm_groups = r.get_int("norm_groups", 0, 0) or 1
    g.ffn_hidden = r.get_int("ffn_hidden", 0, 0) or 4 * D
    g.swiglu = r.get_bool("swiglu", True)
    g.norm_eps = r.get_positive("norm_eps", 1e-5)
    g.rope_base = r.get_positive("rope_base", 10000.0)
    r.refuse_unknown()
    if "megalodon" in uses:
        _require(g.z_dim % g.n_heads == 0, source, "megalodon.z_dim",
                 f"must be a multiple of megalodon.n_heads ({g.n_heads}), got {g.z_dim}")
        _require(g.value_dim % g.n_heads == 0, source, "megalodon.value_dim",
                 f"must be a multiple of megalodon.n_heads ({g.n_heads}), got {g.value_dim}")
        _require((g.z_dim // g.n_heads) % 2 == 0, source, "megalodon.z_dim",
                 f"must give an even head width z_dim/n_heads for RoPE pairs, got {g.z_dim}/{g.n_heads}")
        _require(D % g.norm_groups == 0, source, "megalodon.norm_groups",
                 f"must divide d_model ({D}), got {g.norm_groups}")
    top.refuse_unknown(allowed=("meta", "comment"))
    return cfg


def config_to_json(cfg):
    """Canonical config.json content with every default written out (as ModelConfig::to_json in C++)."""
    j = {"format": FORMAT, "n_features": cfg.n_features, "d_model": cfg.d_model, "outputs": list(cfg.outputs),
         "layers": [dict(l) for l in cfg.layers], "rms_norm_eps": cfg.rms_norm_eps,
         "mamba": vars(cfg.mamba).copy(), "attention": vars(cfg.attention).copy(), "mlp": vars(cfg.mlp).copy(),
         "moe": vars(cfg.moe).copy(), "megalodon": vars(cfg.megalodon).copy()}
    if cfg.session_gap_s is not None:
        j["session_gap_s"] = cfg.session_gap_s
    return j


# ============================================================================================ building blocks ==

class RMSNorm(nn.Module):
    """y = scale * x / sqrt(mean(x^2) + eps); scale = weight (Jamba) or 1 + weight (Megalodon, offset=True)."""

    def __init__(self, dim, eps, offset=False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim) if offset else torch.ones(dim))
        self.eps, self.offset = eps, offset

    def forward(self, x):
        scale = self.weight + 1.0 if self.offset else self.weight
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * scale


class OffsetLayerNorm(nn.Module):
    """LayerNorm with scale 1 + weight and a bias (Megalodon's nffn.norm)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight + 1.0, self.bias, self.eps)


class MLP(nn.Module):
    """down_proj(silu(gate_proj u) * up_proj u), no biases (Jamba MLP and MoE expert)."""

    def __init__(self, d_model, intermediate):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, intermediate, bias=False)
        self.up_proj = nn.Linear(d_model, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, d_model, bias=False)

    def forward(self, u):
        return self.down_proj(F.silu(self.gate_proj(u)) * self.up_proj(u))


class MoE(nn.Module):
    """Jamba MoE: P = softmax(router u) over all E experts (float32), the top_k largest (ties: lower index),
    output sum_j P[e_j] * expert_{e_j}(u), with no renormalisation of the selected P."""

    def __init__(self, d_model, n_experts, top_k, intermediate):
        super().__init__()
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList([MLP(d_model, intermediate) for _ in range(n_experts)])
        self.top_k = top_k

    def route(self, u):
        """u [N, D] -> (experts [N, k] int64 in rank order, weights [N, k])."""
        probs = torch.softmax(self.router(u).float(), dim=-1)  # [N, E]
        # A stable descending sort keeps equal probabilities in index order: ties go to the lower index.
        order = torch.sort(probs, dim=-1, descending=True, stable=True).indices
        top = order[:, :self.top_k]
        return top, torch.gather(probs, 1, top)

    def forward(self, u):
        shape = u.shape
        flat = u.reshape(-1, shape[-1])  # [N, D]
        top, w = self.route(flat)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            hit = top == e  # [N, k]
            rows = hit.any(dim=1).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            we = (w * hit).sum(dim=1)[rows]  # [n_e]
            out = out.index_add(0, rows, we[:, None] * expert(flat[rows]))
        return out.reshape(shape)

    def step(self, u):
        """Literal per-row form: for each row, experts in rank order."""
        top, w = self.route(u)
        rows = []
        for b in range(u.shape[0]):
            acc = torch.zeros_like(u[b])
            for j in range(self.top_k):
                acc = acc + w[b, j] * self.experts[int(top[b, j])](u[b])
            rows.append(acc)
        return torch.stack(rows)


# ================================================================================================== mamba ====

class MambaMixer(nn.Module):
    """Mamba-1 selective SSM with Jamba's inner RMSNorms (MODEL-SPEC section 4)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        m, D = cfg.mamba, cfg.d_model
        self.E, self.N, self.K, self.R = m.expand * D, m.d_state, m.d_conv, m.dt_rank
        E, N, K, R = self.E, self.N, self.K, self.R
        self.in_proj = nn.Linear(D, 2 * E, bias=m.proj_bias)       # rows 0..E-1 -> x, E..2E-1 -> z
        self.conv1d = nn.Conv1d(E, E, K, groups=E, bias=m.conv_bias)  # weight [E, 1, K]
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)           # -> [delta_low R, B N, C N]
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.zeros(E, N))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, D, bias=m.proj_bias)
        self.inner_norms = m.inner_norms
        if m.inner_norms:
            self.dt_layernorm = RMSNorm(R, cfg.rms_norm_eps)
            self.b_layernorm = RMSNorm(N, cfg.rms_norm_eps)
            self.c_layernorm = RMSNorm(N, cfg.rms_norm_eps)

    def init_state(self, batch, device):
        return {"conv_state": torch.zeros(batch, self.E, self.K, device=device),
                "ssm_state": torch.zeros(batch, self.E, self.N, device=device)}

    def _delta_b_c(self, xc):
        """xc [..., E] -> Delta [..., E], B [..., N], C [..., N] (steps 3-4)."""
        dbc = self.x_proj(xc)
        delta, b, c = torch.split(dbc, [self.R, self.N, self.N], dim=-1)
        if self.inner_norms:
            delta, b, c = self.dt_layernorm(delta), self.b_layernorm(b), self.c_layernorm(c)
        return F.softplus(self.dt_proj(delta)), b, c  # F.softplus: beta 1, threshold 20 as MODEL-SPEC

    def forward(self, u, st):
        """Sequence form. u [B, T, D] -> [B, T, D]."""
        B, T, _ = u.shape
        xz = self.in_proj(u)
        x, z = xz[..., :self.E], xz[..., self.E:]                   # [B, T, E] each
        xt = x.transpose(1, 2)                                      # [B, E, T]
        # Causal depthwise conv: the K-1 previous inputs from the state take the place of zero padding.
        full = torch.cat([st["conv_state"], xt], dim=2)             # [B, E, K + T]
        conv = F.conv1d(full[:, :, 1:], self.conv1d.weight, self.conv1d.bias, groups=self.E)  # [B, E, T]
        xc = F.silu(conv).transpose(1, 2)                           # [B, T, E]
        dt, bm, cm = self._delta_b_c(xc)                            # [B,T,E], [B,T,N], [B,T,N]
        A = -torch.exp(self.A_log)                                  # [E, N]
        decay = torch.exp(dt.unsqueeze(-1) * A)                     # [B, T, E, N]
        inject = (dt.unsqueeze(-1) * bm.unsqueeze(2)) * xc.unsqueeze(-1)  # [B, T, E, N]
        # The recurrence h_t = decay_t h_{t-1} + inject_t as a loop over T: on CPU its cost is the same
        # memory-bound work as a vectorised scan (one fused op on [B, E, N] per tick), it never
        # exponentiates differences of cumulative sums, and it is exactly the step form's arithmetic.
        # unbind (not decay[:, t]): its backward is one stack, where per-tick slicing would add a full-size
        # zero gradient per tick (quadratic in T).
        h = st["ssm_state"]
        hs = []
        for decay_t, inject_t in zip(decay.unbind(1), inject.unbind(1)):
            h = torch.addcmul(inject_t, decay_t, h)
            hs.append(h)
        H = torch.stack(hs, dim=1)                                  # [B, T, E, N]
        y = (H * cm.unsqueeze(2)).sum(-1) + self.D * xc             # [B, T, E]
        y = y * F.silu(z)
        return self.out_proj(y), {"conv_state": full[:, :, -self.K:], "ssm_state": h}

    def step(self, u, st):
        """Step form, MODEL-SPEC section 4 literally. u [B, D] -> [B, D]."""
        xz = self.in_proj(u)
        x, z = xz[:, :self.E], xz[:, self.E:]                       # [B, E]
        conv_state = torch.cat([st["conv_state"][:, :, 1:], x.unsqueeze(-1)], dim=-1)  # [B, E, K]
        acc = (conv_state * self.conv1d.weight[:, 0, :]).sum(-1)
        if self.conv1d.bias is not None:
            acc = acc + self.conv1d.bias
        xc = F.silu(acc)                                            # [B, E]
        dt, bm, cm = self._delta_b_c(xc)                            # [B, E], [B, N], [B, N]
        A = -torch.exp(self.A_log)
        ssm = torch.exp(dt[:, :, None] * A) * st["ssm_state"] + (dt[:, :, None] * bm[:, None, :]) * xc[:, :, None]
        y = (ssm * cm[:, None, :]).sum(-1) + self.D * xc
        y = y * F.silu(z)
        return self.out_proj(y), {"conv_state": conv_state, "ssm_state": ssm}


# ============================================================================================== attention ====

class AttentionMixer(nn.Module):
    """Sliding-window multi-head attention (GQA) with periodic refresh (MODEL-SPEC section 5)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        a, D = cfg.attention, cfg.d_model
        self.Hq, self.Hkv, self.hd = a.n_heads, a.n_kv_heads, D // a.n_heads
        self.W, self.P, self.lag = a.window, a.refresh_every, a.refresh_lag
        self.nr = -(-self.lag // self.P) + 1  # ceil(l / P) + 1 refresh outputs alive at once
        self.D = D
        self.q_proj = nn.Linear(D, self.Hq * self.hd, bias=False)
        self.k_proj = nn.Linear(D, self.Hkv * self.hd, bias=False)
        self.v_proj = nn.Linear(D, self.Hkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.Hq * self.hd, D, bias=False)
        # query head j reads KV head floor(j * Hkv / Hq)
        self.register_buffer("kv_of_q", torch.tensor([j * self.Hkv // self.Hq for j in range(self.Hq)]),
                             persistent=False)

    def init_state(self, batch, device):
        z = torch.zeros(batch, self.W, self.Hkv, self.hd, device=device)
        return {"t": torch.zeros(batch, dtype=torch.int64, device=device), "k": z, "v": z.clone(),
                "o": torch.zeros(batch, self.nr, self.D, device=device)}

    def _attend(self, q, K, V, valid):
        """q [B, M, Hq, hd], K/V [B, S, Hkv, hd], valid [B, M, S] -> o_proj(attention) [B, M, D]."""
        K, V = K[:, :, self.kv_of_q], V[:, :, self.kv_of_q]                # [B, S, Hq, hd]
        scores = torch.einsum("bmhd,bshd->bhms", q, K) / math.sqrt(self.hd)
        scores = scores.masked_fill(~valid[:, None], float("-inf"))
        a = torch.einsum("bhms,bshd->bmhd", torch.softmax(scores.float(), dim=-1), V)
        return self.o_proj(a.reshape(a.shape[0], a.shape[1], self.Hq * self.hd))

    def forward(self, u, st):
        """Sequence form. u [B, T, D] -> [B, T, D]."""
        B, T, _ = u.shape
        dev = u.device
        W, P, nr = self.W, self.P, self.nr
        t0 = st["t"]                                                        # [B]
        q = self.q_proj(u).view(B, T, self.Hq, self.hd)
        k = self.k_proj(u).view(B, T, self.Hkv, self.hd)
        v = self.v_proj(u).view(B, T, self.Hkv, self.hd)
        # The ring in tick order: index i holds tick t0 - W + i.
        slots = torch.remainder(t0[:, None] - W + torch.arange(W, device=dev), W)   # [B, W]
        idx = slots[:, :, None, None].expand(B, W, self.Hkv, self.hd)
        K = torch.cat([torch.gather(st["k"], 1, idx), k], dim=1)           # [B, W + T, Hkv, hd]
        V = torch.cat([torch.gather(st["v"], 1, idx), v], dim=1)
        key_tick = t0[:, None] - W + torch.arange(W + T, device=dev)       # [B, W + T]
        q_tick = t0[:, None] + torch.arange(T, device=dev)                 # [B, T]
        # Only refresh rows are needed: the rows j that are a refresh tick in some batch row.
        rows = ((q_tick % P) == 0).any(dim=0).nonzero(as_tuple=True)[0]    # [M]
        compact = torch.zeros(T, dtype=torch.int64, device=dev)
        if rows.numel() > 0:
            compact[rows] = torch.arange(rows.numel(), device=dev)
            qt = q_tick[:, rows]                                            # [B, M]
            kt = key_tick[:, None, :]
            valid = (kt >= 0) & (kt <= qt[:, :, None]) & (kt > qt[:, :, None] - W)  # [B, M, W + T]
            o_rows = self._attend(q[:, rows], K, V, valid)                 # [B, M, D]
        else:
            o_rows = u.new_zeros(B, 1, self.D)

        def chunk_output(tick):  # o_tick for refresh ticks inside this call, tick [B, X] -> [B, X, D]
            local = (tick - t0[:, None]).clamp(0, T - 1)
            return torch.gather(o_rows, 1, compact[local][:, :, None].expand(-1, -1, self.D))

        def ring_output(tick):   # o_tick from the state's ring
            slot = torch.remainder(torch.div(tick, P, rounding_mode="floor"), nr)
            return torch.gather(st["o"], 1, slot[:, :, None].expand(-1, -1, self.D))

        has = q_tick >= self.lag
        rho = torch.div((q_tick - self.lag).clamp(min=0), P, rounding_mode="floor") * P   # [B, T]
        in_call = (has & (rho >= t0[:, None]))[:, :, None]
        from_ring = (has & (rho < t0[:, None]))[:, :, None]
        out = torch.where(in_call, chunk_output(rho),
                          torch.where(from_ring, ring_output(rho), u.new_zeros(())))

        # New state: each ring slot takes the latest tick (refresh index) it would hold after tick t0 + T - 1.
        t_end = t0 + T - 1
        s = torch.arange(W, device=dev)
        tau = t_end[:, None] - torch.remainder(t_end[:, None] - s, W)                 # [B, W]
        take = (tau >= t0[:, None])[:, :, None, None]
        nidx = (tau - t0[:, None]).clamp(0, T - 1)[:, :, None, None].expand(B, W, self.Hkv, self.hd)
        new_k = torch.where(take, torch.gather(k, 1, nidx), st["k"])
        new_v = torch.where(take, torch.gather(v, 1, nidx), st["v"])
        m_end = torch.div(t_end, P, rounding_mode="floor")
        m = m_end[:, None] - torch.remainder(m_end[:, None] - torch.arange(nr, device=dev), nr)  # [B, nr]
        take_o = ((m >= 0) & (m * P >= t0[:, None]))[:, :, None]
        new_o = torch.where(take_o, chunk_output(m * P), st["o"])
        return out, {"t": t0 + T, "k": new_k, "v": new_v, "o": new_o}

    def step(self, u, st):
        """Step form: write the ring, refresh when t = 0 mod P, output o_rho(t). u [B, D] -> [B, D]."""
        B = u.shape[0]
        dev = u.device
        t = st["t"]
        q = self.q_proj(u).view(B, 1, self.Hq, self.hd)
        k = self.k_proj(u).view(B, self.Hkv, self.hd)
        v = self.v_proj(u).view(B, self.Hkv, self.hd)
        here = (torch.arange(self.W, device=dev)[None] == (t % self.W)[:, None])[:, :, None, None]  # [B,W,1,1]
        ring_k = torch.where(here, k[:, None], st["k"])
        ring_v = torch.where(here, v[:, None], st["v"])
        ring_o = st["o"]
        refresh = (t % self.P) == 0                                          # [B]
        if bool(refresh.any()):
            tau = t[:, None] - torch.remainder(t[:, None] - torch.arange(self.W, device=dev), self.W)  # [B, W]
            o = self._attend(q, ring_k, ring_v, (tau >= 0)[:, None, :])[:, 0]  # [B, D]
            oslot = torch.remainder(torch.div(t, self.P, rounding_mode="floor"), self.nr)
            put = (refresh[:, None] & (torch.arange(self.nr, device=dev)[None] == oslot[:, None]))[:, :, None]
            ring_o = torch.where(put, o[:, None], ring_o)
        has = t >= self.lag
        rho = torch.div((t - self.lag).clamp(min=0), self.P, rounding_mode="floor") * self.P
        rslot = torch.remainder(torch.div(rho, self.P, rounding_mode="floor"), self.nr)
        out = ring_o[torch.arange(B, device=dev), rslot]
        out = torch.where(has[:, None], out, u.new_zeros(()))
        return out, {"t": t + 1, "k": ring_k, "v": ring_v, "o": ring_o}


# ============================================================================================== megalodon ====

class TimestepNorm(nn.Module):
    """Cumulative group normalisation over time (MODEL-SPEC section 6.1); scale 1 + weight, bias."""

    def __init__(self, dim, groups, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.G, self.eps = groups, eps

    def _moments(self, xg):  # group mean and population variance of the current tick, float32
        gm = xg.mean(-1)
        return gm, (xg - gm.unsqueeze(-1)).pow(2).mean(-1)

    def _normalise(self, xg, mean, var):
        xn = (xg - mean.unsqueeze(-1)) / torch.sqrt(var.unsqueeze(-1) + self.eps)
        return xn.flatten(-2) * (self.weight + 1.0) + self.bias

    def forward(self, x, count, mean0, var0):
        """x [B, T, D] -> xn [B, T, D], new (count [B], mean [B, G], var [B, G]).
        Running moments in float64 as sums: mean_t = S1/n, var_t = S2/n - mean_t^2 with S1, S2 including the
        carried state; equal to the streaming recurrence in exact arithmetic."""
        B, T, D = x.shape
        xg = x.view(B, T, self.G, D // self.G)
        gm, gv = self._moments(xg)                                           # [B, T, G]
        c0 = count.double()[:, None, None]                                   # [B, 1, 1]
        m0, v0 = mean0.double()[:, None, :], var0.double()[:, None, :]      # [B, 1, G]
        gm64 = gm.double()
        s1 = c0 * m0 + torch.cumsum(gm64, dim=1)
        s2 = c0 * (v0 + m0 * m0) + torch.cumsum(gv.double() + gm64 * gm64, dim=1)
        n = c0 + torch.arange(1, T + 1, dtype=torch.float64, device=x.device)[None, :, None]
        mean = s1 / n
        var = (s2 / n - mean * mean).clamp(min=0.0)
        mean, var = mean.float(), var.float()                                # state precision
        return self._normalise(xg, mean, var), (count + T, mean[:, -1], var[:, -1])

    def step(self, x, count, mean, var):
        """x [B, D]; the MODEL-SPEC recurrence with double coefficients."""
        B, D = x.shape
        xg = x.view(B, self.G, D // self.G)
        gm, gv = self._moments(xg)                                           # [B, G]
        n = (count + 1).double()[:, None]
        c1, c2 = count.double()[:, None] / n, 1.0 / n
        m, v = mean.double(), var.double()
        delta = gm.double() - m
        mean_n = (c1 * m + c2 * gm.double()).float()
        var_n = (c1 * v + c2 * gv.double() + c1 * c2 * delta * delta).float()
        return self._normalise(xg, mean_n, var_n), (count + 1, mean_n, var_n)


class CEMA(nn.Module):
    """Multi-head complex exponential moving average (MODEL-SPEC section 6.2)."""

    def __init__(self, dim, ndim):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(dim, ndim, 1))
        self.delta = nn.Parameter(torch.zeros(dim, ndim, 1))
        self.theta = nn.Parameter(torch.zeros(dim, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(dim, ndim, 2))
        self.omega = nn.Parameter(torch.zeros(dim, 1))
        self.n = ndim

    def coeffs(self):
        """float32 p, q_re, q_im, eta_re, eta_im, each [D, n]."""
        sa, sd = torch.sigmoid(self.alpha[..., 0]), torch.sigmoid(self.delta[..., 0])
        p, r = sa, 1.0 - sa * sd
        phi = torch.sigmoid(self.theta[:, 0, 0]) * (2.0 * math.pi / self.n)                # [D]
        th = torch.arange(1, self.n + 1, dtype=torch.float32, device=phi.device)[None] * phi[:, None]
        scale = math.sqrt(1.0 / self.n)
        return p, r * torch.cos(th), r * torch.sin(th), self.gamma[..., 0] * scale, self.gamma[..., 1] * scale

    def forward(self, x, h_re, h_im):
        """Sequence form as a causal convolution. x [B, T, D] -> c [B, T, D], new h.
        Powers q^j = exp(j log q) and the FFT convolution run in float64; the output and state are float32."""
        B, T, D = x.shape
        p, q_re, q_im, e_re, e_im = (c.double() for c in self.coeffs())
        log_r = torch.log(torch.sqrt(q_re * q_re + q_im * q_im).clamp(min=1e-300))   # |q| = r, guarded
        ang = torch.atan2(q_im, q_re)
        j = torch.arange(T + 1, dtype=torch.float64, device=x.device)
        mag = torch.exp(j * log_r[..., None])                                 # [D, n, T+1]
        pw_re, pw_im = mag * torch.cos(j * ang[..., None]), mag * torch.sin(j * ang[..., None])
        # kernel k[d, j] = sum_k Re(p eta q^j)
        kern = (p[..., None] * (e_re[..., None] * pw_re[..., :T] - e_im[..., None] * pw_im[..., :T])).sum(1)
        xd = x.double().transpose(1, 2)                                       # [B, D, T]
        nfft = 2 * T
        conv = torch.fft.irfft(torch.fft.rfft(xd, n=nfft) * torch.fft.rfft(kern, n=nfft), n=nfft)[..., :T]
        # carried state: Re(sum_k eta q^(j+1) h)
        hr, hi = h_re.double(), h_im.double()
        a_re = e_re[..., None] * pw_re[..., 1:] - e_im[..., None] * pw_im[..., 1:]      # [D, n, T]
        a_im = e_re[..., None] * pw_im[..., 1:] + e_im[..., None] * pw_re[..., 1:]
        carried = torch.einsum("dkj,bdk->bdj", a_re, hr) - torch.einsum("dkj,bdk->bdj", a_im, hi)
        omega = self.omega[:, 0].double()[None, :, None]
        c = (conv + carried + omega * xd).transpose(1, 2).float()
        # new state h_{T-1} = q^T h + sum_s q^(T-1-s) p x_s
        rev_re, rev_im = pw_re[..., :T].flip(-1) * p[..., None], pw_im[..., :T].flip(-1) * p[..., None]
        qT_re, qT_im = pw_re[..., T], pw_im[..., T]
        new_re = qT_re * hr - qT_im * hi + torch.einsum("dks,bds->bdk", rev_re, xd)
        new_im = qT_re * hi + qT_im * hr + torch.einsum("dks,bds->bdk", rev_im, xd)
        return c, new_re.float(), new_im.float()

    def step(self, x, h_re, h_im):
        """h <- q h + p x; c = sum_k Re(eta h) + omega x. x [B, D]."""
        p, q_re, q_im, e_re, e_im = self.coeffs()
        xe = x[:, :, None]
        nr = q_re * h_re - q_im * h_im + p * xe
        ni = q_re * h_im + q_im * h_re
        c = (e_re * nr - e_im * ni).sum(-1) + self.omega[:, 0] * x
        return c, nr, ni


def rope(x, pos, base):
    """Interleaved-pair rotary embedding. x [..., dz], pos int64 broadcastable to x.shape[:-1]."""
    dz = x.shape[-1]
    inv = torch.tensor([base ** (j / dz) for j in range(0, dz, 2)], dtype=torch.float32, device=x.device)
    freqs = 1.0 / inv                                                      # [dz/2] float32
    angle = pos.to(torch.float32)[..., None] * freqs
    cos, sin = torch.cos(angle), torch.sin(angle)
    xr, xi = x[..., 0::2], x[..., 1::2]
    return torch.stack([xr * cos - xi * sin, xr * sin + xi * cos], dim=-1).flatten(-2)


class MegaAttention(nn.Module):
    """The Megalodon moving-average gated attention part (MODEL-SPEC section 6, steps 1-6); `mega.*` weights."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        g, D = cfg.megalodon, cfg.d_model
        self.D, self.Z, self.V, self.h = D, g.z_dim, g.value_dim, g.n_heads
        self.dz, self.dv, self.C = g.z_dim // g.n_heads, g.value_dim // g.n_heads, g.chunk_size
        self.G, self.n, self.eps, self.base = g.norm_groups, g.cema_ndim, g.norm_eps, g.rope_base
        self.timenorm = TimestepNorm(D, g.norm_groups, g.norm_eps)
        self.cema = CEMA(D, g.cema_ndim)
        self.rmsnorm = RMSNorm(D, g.norm_eps, offset=True)
        self.wz = nn.Linear(D, self.Z)
        self.wv = nn.Linear(D, self.V)
        self.wr = nn.Linear(D, self.V)
        self.wh1 = nn.Linear(D, D)
        self.wh2 = nn.Linear(self.V, D, bias=False)
        self.gamma = nn.Parameter(torch.zeros(2, self.Z))
        self.beta = nn.Parameter(torch.zeros(2, self.Z))

    def init_state(self, batch, device):
        f = dict(device=device)
        return {"count": torch.zeros(batch, dtype=torch.int64, **f), "mean": torch.zeros(batch, self.G, **f),
                "var": torch.zeros(batch, self.G, **f), "h_re": torch.zeros(batch, self.D, self.n, **f),
                "h_im": torch.zeros(batch, self.D, self.n, **f),
                "k": torch.zeros(batch, self.C, self.h, self.dz, **f),
                "v": torch.zeros(batch, self.C, self.h, self.dv, **f),
                "pos": torch.zeros(batch, dtype=torch.int64, **f)}

    def _project(self, xn, c):
        """(xn, cema output) [..., D] -> mx, q, k [..., h, dz], v [..., h, dv], gate g [..., V]."""
        mx = self.rmsnorm(c)
        z = self.wz(mx)
        z = z.view(*z.shape[:-1], self.h, self.dz)
        z = (z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + self.eps)).flatten(-2)   # per-head RMS, no affine
        scale = (self.gamma + 1.0) / math.sqrt(self.dz)                                  # [2, Z]
        q, k = z * scale[0] + self.beta[0], z * scale[1] + self.beta[1]
        v = F.silu(self.wv(xn))
        gate = F.silu(self.wr(mx))
        hv = lambda t, d: t.view(*t.shape[:-1], self.h, d)  # noqa: E731
        return mx, hv(q, self.dz), hv(k, self.dz), hv(v, self.dv), gate

    def forward(self, x, st):
        """Sequence form. x [B, T, D] -> (y [B, T, D] before the FFN, new state)."""
        B, T, D = x.shape
        dev, C = x.device, self.C
        xn, (count, mean, var) = self.timenorm(x, st["count"], st["mean"], st["var"])
        c, h_re, h_im = self.cema(xn, st["h_re"], st["h_im"])
        mx, q, k, v, gate = self._project(xn, c)
        pos0 = st["pos"]
        unwrapped = pos0[:, None] + torch.arange(T, device=dev)          # [B, T] position from the chunk start
        q, k = rope(q, (unwrapped % C)[..., None], self.base), rope(k, (unwrapped % C)[..., None], self.base)
        chunk = torch.div(unwrapped, C, rounding_mode="floor")            # 0 = the chunk the cache belongs to
        ar_c, ar_t = torch.arange(C, device=dev), torch.arange(T, device=dev)
        valid_cache = (ar_c[None, None, :] < pos0[:, None, None]) & (chunk[:, :, None] == 0)          # [B, T, C]
        valid_new = (chunk[:, :, None] == chunk[:, None, :]) & (ar_t[None, :, None] >= ar_t[None, None, :])
        valid = torch.cat([valid_cache, valid_new], dim=-1)                                            # [B,T,C+T]
        K, V = torch.cat([st["k"], k], dim=1), torch.cat([st["v"], v], dim=1)   # [B, C + T, h, d]
        scores = torch.einsum("bthd,bshd->bhts", q, K).masked_fill(~valid[:, None], float("-inf"))
        attn = torch.einsum("bhts,bshd->bthd", torch.softmax(scores.float(), dim=-1), V).flatten(-2)
        y = self.wh1(mx) + self.wh2(attn * gate) + x
        # New cache: the last new_pos entries of [cache[:pos0], new keys], new_pos = (pos0 + T) mod C.
        total = pos0 + T
        new_pos = total % C
        logical = (total - new_pos)[:, None] + ar_c[None]                 # [B, C]
        phys = torch.where(logical < pos0[:, None], logical, C + logical - pos0[:, None]).clamp(0, C + T - 1)
        keep = (ar_c[None] < new_pos[:, None])[:, :, None, None]
        new_k = torch.where(keep, torch.gather(K, 1, phys[:, :, None, None].expand(B, C, self.h, self.dz)),
                            K.new_zeros(()))
        new_v = torch.where(keep, torch.gather(V, 1, phys[:, :, None, None].expand(B, C, self.h, self.dv)),
                            V.new_zeros(()))
        return y, {"count": count, "mean": mean, "var": var, "h_re": h_re, "h_im": h_im,
                   "k": new_k, "v": new_v, "pos": new_pos}

    def step(self, x, st):
        """Step form. x [B, D]."""
        B = x.shape[0]
        dev, C = x.device, self.C
        xn, (count, mean, var) = self.timenorm.step(x, st["count"], st["mean"], st["var"])
        c, h_re, h_im = self.cema.step(xn, st["h_re"], st["h_im"])
        mx, q, k, v, gate = self._project(xn, c)                          # q, k [B, h, dz]
        pos = st["pos"]
        q, k = rope(q, pos[:, None], self.base), rope(k, pos[:, None], self.base)
        here = (torch.arange(C, device=dev)[None] == pos[:, None])[:, :, None, None]   # [B, C, 1, 1]
        ck, cv = torch.where(here, k[:, None], st["k"]), torch.where(here, v[:, None], st["v"])
        valid = torch.arange(C, device=dev)[None] <= pos[:, None]                       # [B, C]
        scores = torch.einsum("bhd,bchd->bhc", q, ck).masked_fill(~valid[:, None], float("-inf"))
        attn = torch.einsum("bhc,bchd->bhd", torch.softmax(scores.float(), dim=-1), cv).flatten(-2)
        y = self.wh1(mx) + self.wh2(attn * gate) + x
        pos = pos + 1
        full = (pos == C)
        ck = torch.where(full[:, None, None, None], ck.new_zeros(()), ck)       # the chunk ends: cache empties
        cv = torch.where(full[:, None, None, None], cv.new_zeros(()), cv)
        pos = torch.where(full, torch.zeros_like(pos), pos)
        return y, {"count": count, "mean": mean, "var": var, "h_re": h_re, "h_im": h_im,
                   "k": ck, "v": cv, "pos": pos}


class NormalizedFFN(nn.Module):
    """Megalodon's two-hop residual FFN: out = x + fc2(silu(fc1 LN(y)) [* fc3 LN(y)]) (`nffn.*` weights)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        g, D = cfg.megalodon, cfg.d_model
        self.norm = OffsetLayerNorm(D, g.norm_eps)
        self.fc1 = nn.Linear(D, g.ffn_hidden, bias=False)
        self.fc2 = nn.Linear(g.ffn_hidden, D, bias=False)
        self.swiglu = g.swiglu
        if g.swiglu:
            self.fc3 = nn.Linear(D, g.ffn_hidden, bias=False)

    def forward(self, y, residual):
        n = self.norm(y)
        hidden = F.silu(self.fc1(n)) * self.fc3(n) if self.swiglu else F.silu(self.fc1(n))
        return self.fc2(hidden) + residual


class MegalodonLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mega = MegaAttention(cfg)
        self.nffn = NormalizedFFN(cfg)

    def init_state(self, batch, device):
        return self.mega.init_state(batch, device)

    def forward(self, x, st):
        y, st = self.mega(x, st)
        return self.nffn(y, x), st

    def step(self, x, st):
        y, st = self.mega.step(x, st)
        return self.nffn(y, x), st


class DecoderLayer(nn.Module):
    """Jamba decoder layer: h += Mixer(input_layernorm h); h += FFN(pre_ff_layernorm h) when ffn != none."""

    def __init__(self, cfg, kind, ffn):
        super().__init__()
        self.kind, self.ffn = kind, ffn
        D = cfg.d_model
        self.input_layernorm = RMSNorm(D, cfg.rms_norm_eps)
        if kind == "mamba":
            self.mamba = MambaMixer(cfg)
        else:
            self.self_attn = AttentionMixer(cfg)
        if ffn != "none":
            self.pre_ff_layernorm = RMSNorm(D, cfg.rms_norm_eps)
            self.feed_forward = (MLP(D, cfg.mlp.intermediate) if ffn == "mlp" else
                                 MoE(D, cfg.moe.n_experts, cfg.moe.top_k, cfg.moe.intermediate))

    @property
    def mixer(self):
        return self.mamba if self.kind == "mamba" else self.self_attn

    def init_state(self, batch, device):
        return self.mixer.init_state(batch, device)

    def forward(self, h, st):
        m, st = self.mixer(self.input_layernorm(h), st)
        h = h + m
        if self.ffn != "none":
            h = h + self.feed_forward(self.pre_ff_layernorm(h))
        return h, st

    def step(self, h, st):
        m, st = self.mixer.step(self.input_layernorm(h), st)
        h = h + m
        if self.ffn == "mlp":
            h = h + self.feed_forward(self.pre_ff_layernorm(h))
        elif self.ffn == "moe":
            h = h + self.feed_forward.step(self.pre_ff_layernorm(h))
        return h, st


# ================================================================================================= model ====

class ModelLoadError(ValueError):
    pass


class TickModel(nn.Module):
    """embed -> layers -> final_layernorm -> head (MODEL-SPEC section 1). Parameter names are MODEL-SPEC's."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.embed = nn.Linear(cfg.n_features, D)
        self.layers = nn.ModuleList([MegalodonLayer(cfg) if l["type"] == "megalodon" else
                                     DecoderLayer(cfg, l["type"], l["ffn"]) for l in cfg.layers])
        self.final_layernorm = RMSNorm(D, cfg.rms_norm_eps)
        self.head = nn.Linear(D, cfg.n_outputs)

    # ---- state ----
    def init_state(self, batch, device=None):
        device = device if device is not None else self.embed.weight.device
        return {"layers": [layer.init_state(batch, device) for layer in self.layers]}

    # ---- the two forms ----
    def forward(self, x, state=None):
        """x [B, T, F] float32 -> (y [B, T, H], new_state)."""
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        h = self.embed(x)
        new = []
        for layer, st in zip(self.layers, state["layers"]):
            h, st = layer(h, st)
            new.append(st)
        return self.head(self.final_layernorm(h)), {"layers": new}

    def step(self, x_t, state=None):
        """x_t [B, F] -> (y_t [B, H], new_state): one tick through the streaming recurrences."""
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.device)
        h = self.embed(x_t)
        new = []
        for layer, st in zip(self.layers, state["layers"]):
            h, st = layer.step(h, st)
            new.append(st)
        return self.head(self.final_layernorm(h)), {"layers": new}

    # ---- initialisation ----
    @torch.no_grad()
    def init_weights(self, seed):
        """Random initialisation; the scheme is in the module docstring (matches engine/model_init.cpp)."""
        g = torch.Generator().manual_seed(int(seed))
        cfg = self.cfg
        params = dict(self.named_parameters())

        def uniform(t, bound):
            t.copy_(torch.empty(t.shape).uniform_(-bound, bound, generator=g))

        def normal(t, std):
            t.copy_(torch.empty(t.shape).normal_(0.0, std, generator=g))

        for name, t in params.items():
            if name.endswith("layernorm.weight"):
                t.fill_(1.0)
            elif ".mega.timenorm." in name or name.endswith(".mega.rmsnorm.weight") or ".nffn.norm." in name:
                t.zero_()
            elif name.endswith(".mamba.A_log"):
                t.copy_(torch.log(torch.arange(1, t.shape[1] + 1, dtype=torch.float32)).expand_as(t))
            elif name.endswith(".mamba.D"):
                t.fill_(1.0)
            elif name.endswith(".mamba.dt_proj.bias"):
                lo, hi = math.log(1e-3), math.log(1e-1)
                u = torch.rand(t.shape, generator=g, dtype=torch.float64)
                dt = torch.exp(u * (hi - lo) + lo).clamp(min=1e-4)
                t.copy_(dt + torch.log(-torch.expm1(-dt)))
            elif name.endswith(".mamba.dt_proj.weight"):
                uniform(t, cfg.mamba.dt_rank ** -0.5)
            elif ".mamba.conv1d." in name:
                uniform(t, 1.0 / math.sqrt(cfg.mamba.d_conv))
            elif name.endswith(".cema.alpha") or name.endswith(".cema.delta"):
                normal(t, 0.2)
            elif name.endswith(".cema.theta"):
                D = t.shape[0]
                j = torch.arange(1, D + 1, dtype=torch.float64)
                f = torch.exp(-j * math.log(D) / D).clamp(1e-6, 1.0 - 1e-6)
                f = f[torch.randperm(D, generator=g)]
                t.copy_(torch.log(f / (1.0 - f)).view(D, 1, 1))
            elif name.endswith(".cema.gamma"):
                normal(t, 1.0)
                t[..., 1] = 0.0
            elif name.endswith(".cema.omega"):
                v = torch.empty(t.shape).normal_(0.0, 0.25, generator=g)
                bad = v.abs() > 1.0
                while bool(bad.any()):  # truncation by rejection
                    v[bad] = torch.empty(int(bad.sum())).normal_(0.0, 0.25, generator=g)
                    bad = v.abs() > 1.0
                t.copy_(v)
            elif name.endswith(".mega.gamma"):
                normal(t, 0.02)
            elif name.endswith(".mega.beta"):
                t.zero_()
            elif name.endswith(".weight") and t.dim() == 2:
                uniform(t, 1.0 / math.sqrt(t.shape[1]))
            elif name.endswith(".bias"):
                uniform(t, 1.0 / math.sqrt(params[name[:-4] + "weight"].shape[1]))
            else:
                raise RuntimeError(f"init_weights: no rule for parameter '{name}'")
        return self

    # ---- files ----
    def tensor_shapes(self):
        return {n: tuple(p.shape) for n, p in self.named_parameters()}

    @torch.no_grad()
    def load_tensors(self, tensors, source="model.safetensors"):
        """{name: array} -> parameters; unknown, missing, mis-shaped or non-finite tensors raise, naming it."""
        expected = self.tensor_shapes()
        for name in sorted(tensors):
            if name not in expected:
                raise ModelLoadError(f"{source}: unknown tensor '{name}' (not used by this config)")
        for name, shape in expected.items():
            if name not in tensors:
                raise ModelLoadError(f"{source}: missing tensor '{name}' (expected shape {list(shape)})")
            arr = np.asarray(tensors[name], dtype=np.float32)
            if tuple(arr.shape) != shape:
                raise ModelLoadError(f"{source}: tensor '{name}' has shape {list(arr.shape)}, "
                                     f"expected {list(shape)}")
            if not np.isfinite(arr).all():
                raise ModelLoadError(f"{source}: tensor '{name}' holds non-finite values")
        params = dict(self.named_parameters())
        for name in expected:
            params[name].copy_(torch.from_numpy(np.asarray(tensors[name], dtype=np.float32)))

    @classmethod
    def from_dir(cls, path):
        cfg_path = os.path.join(path, "config.json")
        try:
            with open(cfg_path) as f:
                j = json.load(f)
        except OSError as e:
            raise ModelLoadError(f"{cfg_path}: cannot open: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise ModelLoadError(f"{cfg_path}: not valid JSON: {e}") from None
        model = cls(parse_config(j, cfg_path))
        st_path = os.path.join(path, "model.safetensors")
        tensors, _ = read_safetensors(st_path)
        model.load_tensors(tensors, st_path)
        return model

    def save_dir(self, path):
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config_to_json(self.cfg), f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(path, "model.safetensors"),
                          {n: p.detach() for n, p in self.named_parameters()})


def map_state(state, fn):
    """Applies fn to every tensor of a state (e.g. lambda t: t.detach())."""
    return {"layers": [{k: fn(v) for k, v in st.items()} for st in state["layers"]]}


def detach_state(state):
    return map_state(state, lambda t: t.detach())


def reset_state(state, rows):
    """Zeroes the state of the batch rows where `rows` [B] bool is true (an instrument's reset)."""
    def zero(t):
        m = rows.view(-1, *([1] * (t.dim() - 1)))
        return torch.where(m, torch.zeros_like(t), t)
    return map_state(state, zero)


# =================================================================================================== CLI ====

def _run(args):
    model = TickModel.from_dir(args.model).eval()
    x = np.load(args.features)
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != model.cfg.n_features:
        raise SystemExit(f"{args.features}: need float32 [T, {model.cfg.n_features}], got {x.dtype} {list(x.shape)}")
    xt = torch.from_numpy(x)[None]                                       # [1, T, F]
    T = xt.shape[1]
    outs = []
    with torch.no_grad():
        state = None
        if args.mode == "step":
            for t in range(T):
                y, state = model.step(xt[:, t], state)
                outs.append(y[:, None])
        else:
            chunk = args.chunk if args.chunk else max(T, 1)
            for s in range(0, T, chunk):
                y, state = model(xt[:, s:s + chunk], state)
                outs.append(y)
    y = torch.cat(outs, 1)[0] if outs else torch.zeros(0, model.cfg.n_outputs)
    np.save(args.out, y.numpy().astype(np.float32))


def _init(args):
    with open(args.config) as f:
        cfg = parse_config(json.load(f), args.config)
    TickModel(cfg).init_weights(args.seed).save_dir(args.out)


def _bench_step(args):
    model = TickModel.from_dir(args.model).eval()
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(args.warmup + args.ticks, 1, model.cfg.n_features, generator=g)
    with torch.no_grad():
        state = None
        for t in range(args.warmup):
            _, state = model.step(xs[t], state)
        start = time.perf_counter()
        for t in range(args.warmup, args.warmup + args.ticks):
            _, state = model.step(xs[t], state)
        elapsed = time.perf_counter() - start
    print(json.dumps({"us_per_tick": elapsed / args.ticks * 1e6, "ticks": args.ticks, "warmup": args.warmup,
                      "threads": 1, "torch": torch.__version__, "model": args.model}))


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="tickmodel.py", description="The tickrt model in PyTorch (MODEL-SPEC): run, init, bench-step.",
        epilog="example: /usr/bin/python3 tools/train/tickmodel.py run --model models/m --features x.npy "
               "--out y.npy --chunk 256")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="outputs for a feature matrix",
                       description="Reads float32 [T, F] .npy, writes float32 [T, H] .npy (one instrument, from reset).",
                       epilog="example: tickmodel.py run --model DIR --features X.npy --out Y.npy --mode step")
    r.add_argument("--model", required=True, help="model directory (config.json, model.safetensors)")
    r.add_argument("--features", required=True, help="float32 [T, F] .npy")
    r.add_argument("--out", required=True, help="where to write float32 [T, H] .npy")
    r.add_argument("--chunk", type=int, default=0, help="sequence form in pieces of N ticks, state carried")
    r.add_argument("--mode", choices=("sequence", "step"), default="sequence")
    r.add_argument("--threads", type=int, default=1, help="torch intra-op threads (small models: 1 is fastest)")
    i = sub.add_parser("init", help="write a randomly initialised model",
                       epilog="example: tickmodel.py init --config cfg.json --seed 1 --out models/m")
    i.add_argument("--config", required=True, help="config.json to initialise")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--out", required=True, help="model directory to write")
    b = sub.add_parser("bench-step", help="time the step form, one tick at a time (1 thread, eager)",
                       epilog="example: tickmodel.py bench-step --model models/m --ticks 2000")
    b.add_argument("--model", required=True)
    b.add_argument("--ticks", type=int, default=1000)
    b.add_argument("--warmup", type=int, default=50)
    args = ap.parse_args(argv)
    if args.cmd == "run" and (args.chunk < 0 or args.threads < 1):
        ap.error("--chunk must be >= 0 (0: one piece) and --threads >= 1")
    if args.cmd == "bench-step" and (args.ticks < 1 or args.warmup < 0):
        ap.error("--ticks must be >= 1 and --warmup >= 0")
    torch.set_num_threads(getattr(args, "threads", 1))  # bench-step and init: always one thread
    {"run": _run, "init": _init, "bench-step": _bench_step}[args.cmd](args)


if __name__ == "__main__":
    main()
