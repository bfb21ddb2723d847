"""Tests of tools/train/tickmodel.py and safetensors_io.py.

Run: /usr/bin/python3 -m unittest discover -s tools/train -p 'test_*.py'
Each model test perturbs a fresh init (zero offsets and biases would hide a forgotten term) and checks:
step form vs sequence form, chunked sequence (37 ticks, aligned with neither C nor P) vs one long sequence,
and the final states of all three. Independent float64 brute-force references check attention's refresh
schedule and the whole Megalodon block.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_io import SafetensorsError, read_safetensors, write_safetensors  # noqa: E402
from tickmodel import (FORMAT, AttentionMixer, ConfigError, ModelLoadError, TickModel, config_to_json,  # noqa: E402
                       detach_state, parse_config, reset_state)

# One thread: these tensors are tiny, and on a shared, loaded machine OpenMP worker threads turn each small
# op into a wait (measured 28x slower with 2 threads under load).
torch.set_num_threads(1)
TOL = 1e-5


def make_config(layers, d_model=16, n_features=5, outputs=("r1", "r2"), **sections):
    j = {"format": FORMAT, "n_features": n_features, "d_model": d_model, "outputs": list(outputs), "layers": layers}
    j.update(sections)
    return parse_config(j, "test-config")


def make_model(layers, seed=1, **sections):
    model = TickModel(make_config(layers, **sections)).init_weights(seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():  # perturb: every weight must matter
        for _, p in sorted(model.named_parameters()):
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def run_step(model, x, state=None):
    ys = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def run_chunked(model, x, chunk, state=None):
    ys = []
    for s in range(0, x.shape[1], chunk):
        y, state = model(x[:, s:s + chunk], state)
        ys.append(y)
    return torch.cat(ys, 1), state


def max_state_diff(a, b):
    worst = 0.0
    for sa, sb in zip(a["layers"], b["layers"]):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype, k
            worst = max(worst, (sa[k].double() - sb[k].double()).abs().max().item())
    return worst


class ModelEquivalence(unittest.TestCase):
    """step vs sequence vs chunked sequence for every layer type and option."""

    T = 300

    def check(self, layers, **sections):
        model = make_model(layers, **sections)
        x = torch.randn(2, self.T, 5, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            y_seq, s_seq = model(x)
            y_step, s_step = run_step(model, x)
            y_chunk, s_chunk = run_chunked(model, x, 37)
        self.assertEqual(y_seq.shape, (2, self.T, 2))
        self.assertGreater(y_seq.abs().max().item(), 0.1)  # not trivially zero
        self.assertLessEqual((y_seq - y_step).abs().max().item(), TOL, "step vs sequence")
        self.assertLessEqual((y_seq - y_chunk).abs().max().item(), TOL, "chunked vs one sequence")
        self.assertLessEqual(max_state_diff(s_seq, s_step), TOL, "final state, step vs sequence")
        self.assertLessEqual(max_state_diff(s_seq, s_chunk), TOL, "final state, chunked vs sequence")
        # mixing the forms: sequence for a while, then step
        with torch.no_grad():
            _, s = model(x[:, :150])
            y_mix, _ = run_step(model, x[:, 150:], s)
        self.assertLessEqual((y_seq[:, 150:] - y_mix).abs().max().item(), TOL, "sequence then step")
        return model

    def test_mamba_default(self):
        self.check([{"type": "mamba"}])

    def test_mamba_without_inner_norms_with_proj_bias_without_conv_bias(self):
        m = self.check([{"type": "mamba", "ffn": "mlp"}],
                       mamba={"inner_norms": False, "proj_bias": True, "conv_bias": False, "d_conv": 3})
        names = set(m.tensor_shapes())
        self.assertIn("layers.0.mamba.in_proj.bias", names)
        self.assertNotIn("layers.0.mamba.conv1d.bias", names)
        self.assertNotIn("layers.0.mamba.dt_layernorm.weight", names)

    def test_attention_exact_sliding_window(self):
        self.check([{"type": "attention", "ffn": "mlp"}], attention={"window": 24})

    def test_attention_refresh_gqa_moe(self):
        self.check([{"type": "attention", "ffn": "moe"}],
                   attention={"n_heads": 4, "n_kv_heads": 2, "window": 20, "refresh_every": 7, "refresh_lag": 3},
                   moe={"n_experts": 4, "top_k": 2})

    def test_megalodon_swiglu(self):
        self.check([{"type": "megalodon"}],
                   megalodon={"chunk_size": 16, "n_heads": 2, "norm_groups": 4, "cema_ndim": 4, "z_dim": 8})

    def test_megalodon_without_swiglu(self):
        m = self.check([{"type": "megalodon"}], megalodon={"swiglu": False, "value_dim": 24})
        self.assertNotIn("layers.0.nffn.fc3.weight", m.tensor_shapes())

    def test_mixed_stack(self):
        self.check([{"type": "mamba", "ffn": "mlp"}, {"type": "attention", "ffn": "moe"},
                    {"type": "megalodon"}, {"type": "mamba", "ffn": "none"}],
                   attention={"n_heads": 2, "window": 32, "refresh_every": 5, "refresh_lag": 2},
                   megalodon={"chunk_size": 20, "cema_ndim": 8}, moe={"n_experts": 3, "top_k": 2})

    def test_rows_with_different_histories(self):
        # One row is reset mid-stream, so rows carry different t / count / pos; each must continue as if alone.
        model = make_model([{"type": "attention", "ffn": "none"}, {"type": "megalodon"}, {"type": "mamba"}],
                           attention={"window": 16, "refresh_every": 3, "refresh_lag": 1},
                           megalodon={"chunk_size": 12, "cema_ndim": 4})
        g = torch.Generator().manual_seed(3)
        x = torch.randn(2, 120, 5, generator=g)
        with torch.no_grad():
            _, s = model(x[:, :50])
            s = reset_state(s, torch.tensor([True, False]))
            y_both, _ = model(x[:, 50:], s)
            y_row0, _ = model(x[:1, 50:])          # row 0 from reset
            y_row1, _ = model(x[1:, :])            # row 1 never reset
            y_step, _ = run_step(model, x[:, 50:], s)
        self.assertLessEqual((y_both[0] - y_row0[0]).abs().max().item(), TOL)
        self.assertLessEqual((y_both[1] - y_row1[0, 50:]).abs().max().item(), TOL)
        self.assertLessEqual((y_both - y_step).abs().max().item(), TOL)

    def test_gradients_through_chunks(self):
        model = make_model([{"type": "mamba", "ffn": "moe"}, {"type": "attention", "ffn": "mlp"},
                            {"type": "megalodon"}],
                           attention={"window": 8, "refresh_every": 2, "refresh_lag": 1},
                           megalodon={"chunk_size": 8, "cema_ndim": 4}, moe={"n_experts": 2, "top_k": 2})
        x = torch.randn(2, 40, 5, generator=torch.Generator().manual_seed(5))
        state, loss = None, 0.0
        for s in range(0, 40, 13):
            y, state = model(x[:, s:s + 13], state)
            loss = loss + y.pow(2).mean()
            state = detach_state(state)
        loss.backward()
        for name, p in model.named_parameters():
            self.assertIsNotNone(p.grad, name)
            self.assertTrue(torch.isfinite(p.grad).all(), name)
        self.assertGreater(model.layers[2].mega.cema.theta.grad.abs().sum().item(), 0.0)


def attention_reference(mix, u):
    """Brute force, float64: o_rho(t), recomputing full windowed attention at every refresh tick."""
    Wq, Wk, Wv, Wo = (getattr(mix, n).weight.detach().double() for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
    u = u.double()
    T = u.shape[0]
    q, k, v = u @ Wq.T, u @ Wk.T, u @ Wv.T
    out = torch.zeros(T, Wo.shape[0], dtype=torch.float64)
    for t in range(T):
        if t < mix.lag:
            continue
        r = mix.P * ((t - mix.lag) // mix.P)
        keys = range(max(0, r - mix.W + 1), r + 1)
        heads = []
        for j in range(mix.Hq):
            kv = j * mix.Hkv // mix.Hq
            qs = q[r, j * mix.hd:(j + 1) * mix.hd]
            K = torch.stack([k[s, kv * mix.hd:(kv + 1) * mix.hd] for s in keys])
            V = torch.stack([v[s, kv * mix.hd:(kv + 1) * mix.hd] for s in keys])
            heads.append(torch.softmax(K @ qs / math.sqrt(mix.hd), 0) @ V)
        out[t] = Wo @ torch.cat(heads)
    return out


class AttentionRefresh(unittest.TestCase):
    def test_refresh_schedule_matches_brute_force(self):
        for P in (1, 7):
            for lag in (0, 3):
                with self.subTest(P=P, lag=lag):
                    cfg = make_config([{"type": "attention"}], attention={
                        "n_heads": 4, "n_kv_heads": 2, "window": 10, "refresh_every": P, "refresh_lag": lag})
                    torch.manual_seed(P * 10 + lag)
                    mix = AttentionMixer(cfg)
                    u = torch.randn(1, 80, 16)
                    ref = attention_reference(mix, u[0])
                    with torch.no_grad():
                        y_seq, _ = mix(u, mix.init_state(1, None))
                        s, ys = mix.init_state(1, None), []
                        for t in range(80):
                            y, s = mix.step(u[:, t], s)
                            ys.append(y)
                        y_step = torch.stack(ys, 1)
                        s, yc = mix.init_state(1, None), []
                        for a in range(0, 80, 13):
                            y, s = mix(u[:, a:a + 13], s)
                            yc.append(y)
                        y_chunk = torch.cat(yc, 1)
                    for name, y in (("sequence", y_seq), ("step", y_step), ("chunked", y_chunk)):
                        self.assertLessEqual((y[0].double() - ref).abs().max().item(), TOL, name)
                    self.assertTrue(bool((y_seq[0, :lag] == 0).all()), "zero before the first refresh applies")
                    if P == 7:  # held constant between refreshes
                        self.assertTrue(torch.equal(y_seq[0, lag], y_seq[0, lag + 6]))


def megalodon_reference(layer, x):
    """Brute force, float64, tick by tick from MODEL-SPEC section 6 (complex CEMA, explicit chunks, RoPE)."""
    mg, ff = layer.mega, layer.nffn
    p = {n: t.detach().double() for n, t in layer.named_parameters()}
    x = x.double()
    T, D = x.shape
    G, C, H, dz, n, eps = mg.G, mg.C, mg.h, mg.dz, mg.n, mg.eps
    s1, s2 = torch.zeros(G, dtype=torch.float64), torch.zeros(G, dtype=torch.float64)
    a, d = torch.sigmoid(p["mega.cema.alpha"][..., 0]), torch.sigmoid(p["mega.cema.delta"][..., 0])
    phi = torch.sigmoid(p["mega.cema.theta"][:, 0, 0]) * 2 * math.pi / n
    q_c = (1 - a * d) * torch.exp(1j * torch.arange(1, n + 1, dtype=torch.float64)[None] * phi[:, None])
    eta = torch.complex(p["mega.cema.gamma"][..., 0], p["mega.cema.gamma"][..., 1]) / math.sqrt(n)
    h = torch.zeros(D, n, dtype=torch.complex128)
    freqs = torch.tensor([mg.base ** (-2 * i / dz) for i in range(dz // 2)], dtype=torch.float64)
    lin = lambda name, v: v @ p[name + ".weight"].T + (p[name + ".bias"] if name + ".bias" in p else 0)  # noqa
    silu = lambda v: v * torch.sigmoid(v)  # noqa: E731
    keys, vals, out = [], [], []
    for t in range(T):
        xg = x[t].view(G, D // G)
        gm, gv = xg.mean(1), xg.var(1, unbiased=False)
        s1, s2 = s1 + gm, s2 + gv + gm * gm
        mean = s1 / (t + 1)
        var = s2 / (t + 1) - mean * mean
        xn = ((xg - mean[:, None]) / torch.sqrt(var[:, None] + eps)).flatten() * (1 + p["mega.timenorm.weight"]) \
            + p["mega.timenorm.bias"]
        h = q_c * h + a * xn[:, None]
        c = (eta * h).real.sum(1) + p["mega.cema.omega"][:, 0] * xn
        mx = c / torch.sqrt((c * c).mean() + eps) * (1 + p["mega.rmsnorm.weight"])
        z = lin("mega.wz", mx).view(H, dz)
        z = (z / torch.sqrt((z * z).mean(1, keepdim=True) + eps)).flatten()
        sc = (p["mega.gamma"] + 1) / math.sqrt(dz)
        qv, kv = (z * sc[0] + p["mega.beta"][0]).view(H, dz), (z * sc[1] + p["mega.beta"][1]).view(H, dz)
        pos = t % C
        if pos == 0:
            keys, vals = [], []
        rot = torch.exp(1j * pos * freqs)
        rope = lambda v: torch.view_as_real(torch.view_as_complex(v.reshape(H, dz // 2, 2).contiguous()) * rot).flatten(1)  # noqa
        qv, kv = rope(qv), rope(kv)
        keys.append(kv)
        vals.append(silu(lin("mega.wv", xn)).view(H, -1))
        K, V = torch.stack(keys, 1), torch.stack(vals, 1)          # [H, s, d]
        att = torch.einsum("hs,hsd->hd", torch.softmax(torch.einsum("hd,hsd->hs", qv, K), -1), V).flatten()
        y = x[t] + lin("mega.wh1", mx) + (att * silu(lin("mega.wr", mx))) @ p["mega.wh2.weight"].T
        ln = (y - y.mean()) / torch.sqrt(y.var(unbiased=False) + eps) * (1 + p["nffn.norm.weight"]) + p["nffn.norm.bias"]
        hid = silu(ln @ p["nffn.fc1.weight"].T)
        if ff.swiglu:
            hid = hid * (ln @ p["nffn.fc3.weight"].T)
        out.append(x[t] + hid @ p["nffn.fc2.weight"].T)
    return torch.stack(out)


class MegalodonReference(unittest.TestCase):
    def test_block_matches_brute_force(self):
        for swiglu in (True, False):
            with self.subTest(swiglu=swiglu):
                model = make_model([{"type": "megalodon"}], megalodon={
                    "chunk_size": 16, "n_heads": 2, "norm_groups": 2, "cema_ndim": 4, "swiglu": swiglu})
                layer = model.layers[0]
                x = torch.randn(1, 70, 16, generator=torch.Generator().manual_seed(11))
                ref = megalodon_reference(layer, x[0])
                with torch.no_grad():
                    y, _ = layer(x, layer.init_state(1, None))
                self.assertLessEqual((y[0].double() - ref).abs().max().item(), TOL)


class MoeRouting(unittest.TestCase):
    def test_ties_go_to_the_lower_index_and_weights_are_not_renormalised(self):
        model = make_model([{"type": "mamba", "ffn": "moe"}], moe={"n_experts": 4, "top_k": 2})
        moe = model.layers[0].feed_forward
        u = torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            w = torch.randn(16, generator=torch.Generator().manual_seed(4))
            moe.router.weight.copy_(torch.stack([-w, w, w, w]))     # experts 1, 2, 3 tie exactly
            top, weights = moe.route(u)
            logits_pos = (u @ w) > 0
            for b in range(3):
                want = [1, 2] if logits_pos[b] else [0, 1]  # when w.u < 0 expert 0 wins, then the tie -> 1
                self.assertEqual(top[b].tolist(), want)
            probs = torch.softmax(moe.router(u), -1)
            self.assertTrue(torch.equal(weights, torch.gather(probs, 1, top)))  # not renormalised
            self.assertLess(weights.sum(1).max().item(), 1.0)
            want_out = torch.stack([sum(probs[b, e] * moe.experts[e](u[b]) for e in top[b].tolist())
                                    for b in range(3)])
            self.assertLessEqual((moe(u) - want_out).abs().max().item(), 1e-6)
            self.assertLessEqual((moe.step(u) - want_out).abs().max().item(), 1e-6)
            moe.router.weight.zero_()                                  # all E tie: experts 0 and 1
            self.assertEqual(moe.route(u)[0].tolist(), [[0, 1]] * 3)


class ConfigAndFiles(unittest.TestCase):
    def test_defaults_follow_model_config_h(self):
        cfg = make_config([{"type": "mamba"}], d_model=40)
        self.assertEqual(cfg.mamba.dt_rank, 3)                        # ceil(40 / 16)
        self.assertEqual(cfg.attention.n_kv_heads, 4)
        self.assertEqual(cfg.mlp.intermediate, 160)
        self.assertEqual(cfg.moe.intermediate, 80)
        g = cfg.megalodon
        self.assertEqual((g.z_dim, g.value_dim, g.n_heads, g.norm_groups, g.ffn_hidden), (40, 40, 1, 1, 160))
        self.assertEqual(cfg.layers, [{"type": "mamba", "ffn": "none"}])
        self.assertEqual(parse_config(config_to_json(cfg)), cfg)

    def test_bad_configs_name_the_field(self):
        with self.assertRaisesRegex(ConfigError, "attention.windw"):
            make_config([{"type": "attention"}], attention={"windw": 3})
        with self.assertRaisesRegex(ConfigError, "mamba.d_state"):
            make_config([{"type": "mamba"}], mamba={"d_state": 0})
        with self.assertRaisesRegex(ConfigError, "attention.n_kv_heads"):
            make_config([{"type": "attention"}], attention={"n_heads": 4, "n_kv_heads": 3})
        with self.assertRaisesRegex(ConfigError, r"layers\[0\].type"):
            make_config([{"type": "lstm"}])

    def test_save_load_round_trip_and_errors(self):
        model = make_model([{"type": "mamba", "ffn": "moe"}, {"type": "megalodon"}],
                           moe={"n_experts": 2, "top_k": 1}, megalodon={"chunk_size": 8, "cema_ndim": 4})
        x = torch.randn(1, 30, 5)
        with tempfile.TemporaryDirectory() as d:
            model.save_dir(d)
            with open(os.path.join(d, "config.json")) as f:
                self.assertEqual(json.load(f)["format"], FORMAT)
            loaded = TickModel.from_dir(d)
            with torch.no_grad():
                self.assertTrue(torch.equal(model(x)[0], loaded(x)[0]))
            tensors, _ = read_safetensors(os.path.join(d, "model.safetensors"))
            self.assertEqual(set(tensors), set(model.tensor_shapes()))
            bad = dict(tensors)
            del bad["layers.1.mega.cema.omega"]
            with self.assertRaisesRegex(ModelLoadError, "missing tensor 'layers.1.mega.cema.omega'"):
                loaded.load_tensors(bad)
            bad = dict(tensors, **{"layers.0.extra.weight": np.zeros(3, np.float32)})
            with self.assertRaisesRegex(ModelLoadError, "unknown tensor 'layers.0.extra.weight'"):
                loaded.load_tensors(bad)
            bad = dict(tensors, **{"head.weight": np.zeros((3, 16), np.float32)})
            with self.assertRaisesRegex(ModelLoadError, "'head.weight' has shape"):
                loaded.load_tensors(bad)
            bad = dict(tensors, **{"embed.bias": np.full(16, np.nan, np.float32)})
            with self.assertRaisesRegex(ModelLoadError, "'embed.bias' holds non-finite"):
                loaded.load_tensors(bad)


def write_raw_safetensors(path, header, data):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


class Safetensors(unittest.TestCase):
    def test_round_trip_and_metadata(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "a.safetensors")
            a = np.arange(12, dtype=np.float32).reshape(3, 4)
            write_safetensors(path, {"b": torch.ones(2), "a": a}, {"note": "x"})
            t, meta = read_safetensors(path)
            self.assertTrue(np.array_equal(t["a"], a))
            self.assertTrue(np.array_equal(t["b"], np.ones(2, np.float32)))
            self.assertEqual(meta, {"note": "x"})
            with open(path, "rb") as f:
                self.assertEqual(struct.unpack("<Q", f.read(8))[0] % 8, 0)

    def test_f16_and_bf16_are_converted(self):
        vals = np.array([1.5, -2.25, 1024.0, 0.0], np.float32)
        f16 = vals.astype("<f2").tobytes()
        bf16 = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()  # these values are exact in bf16
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.safetensors")
            write_raw_safetensors(path, {"h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
                                         "b": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]}}, f16 + bf16)
            t, _ = read_safetensors(path)
            self.assertEqual(t["h"].dtype, np.float32)
            self.assertTrue(np.array_equal(t["h"].ravel(), vals))
            self.assertTrue(np.array_equal(t["b"], vals))

    def test_bad_files_are_rejected(self):
        good = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
        data = bytes(12)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.safetensors")
            write_raw_safetensors(path, good, data)
            read_safetensors(path)  # the baseline is fine
            with open(path, "rb") as f:
                blob = f.read()
            cases = {
                "truncated": blob[:5],
                "header length past end": struct.pack("<Q", 10 ** 6) + blob[8:],
                "data cut short": blob[:-2],
            }
            for what, raw in cases.items():
                with self.subTest(what):
                    with open(path, "wb") as f:
                        f.write(raw)
                    with self.assertRaises(SafetensorsError):
                        read_safetensors(path)
            headers = {
                "overlap": {"x": good["x"], "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
                "wrong size": {"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "y": good["y"]},
                "offsets past end": {"x": good["x"], "y": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}},
                "unknown dtype": {"x": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}, "y": good["y"]},
            }
            for what, header in headers.items():
                with self.subTest(what):
                    write_raw_safetensors(path, header, data)
                    with self.assertRaisesRegex(SafetensorsError, "'[xy]'"):
                        read_safetensors(path)


class Cli(unittest.TestCase):
    def test_init_run_modes_and_bench(self):
        script = os.path.join(HERE, "tickmodel.py")
        cfg = {"format": FORMAT, "n_features": 4, "d_model": 8, "outputs": ["y"],
               "layers": [{"type": "mamba", "ffn": "mlp"}, {"type": "attention"}, {"type": "megalodon"}],
               "attention": {"n_heads": 2, "window": 16, "refresh_every": 3, "refresh_lag": 1},
               "megalodon": {"chunk_size": 8, "cema_ndim": 4}}
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "cfg.json"), "w") as f:
                json.dump(cfg, f)
            mdir = os.path.join(d, "model")
            subprocess.run([sys.executable, script, "init", "--config", os.path.join(d, "cfg.json"),
                            "--seed", "3", "--out", mdir], check=True)
            x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
            np.save(os.path.join(d, "x.npy"), x)
            outs = {}
            for name, extra in (("seq", []), ("chunk", ["--chunk", "7"]), ("step", ["--mode", "step"])):
                out = os.path.join(d, name + ".npy")
                subprocess.run([sys.executable, script, "run", "--model", mdir, "--features",
                                os.path.join(d, "x.npy"), "--out", out] + extra, check=True)
                outs[name] = np.load(out)
                self.assertEqual((outs[name].dtype, outs[name].shape), (np.float32, (50, 1)))
            self.assertLessEqual(np.abs(outs["seq"] - outs["chunk"]).max(), TOL)
            self.assertLessEqual(np.abs(outs["seq"] - outs["step"]).max(), TOL)
            res = subprocess.run([sys.executable, script, "bench-step", "--model", mdir, "--ticks", "20",
                                  "--warmup", "2"], check=True, capture_output=True, text=True)
            self.assertGreater(json.loads(res.stdout)["us_per_tick"], 0.0)


if __name__ == "__main__":
    unittest.main()
