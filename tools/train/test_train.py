#!/usr/bin/python3
"""Tests of train.py, evaluate.py and dataset.py on synthetic features directories (synthetic_data.py).

Run: /usr/bin/python3 -m unittest discover -s tools/train -p 'test_train.py' -v
The engine parity test needs the tickrt binary ($TICKRT_BINARY or build/tickrt, with the `infer` subcommand)
and is skipped with a printed message without it; the parity machinery itself is also tested against a
stand-in binary that runs the Python oracle.
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset as ds  # noqa: E402
import evaluate  # noqa: E402
import synthetic_data  # noqa: E402
import train  # noqa: E402
from tickmodel import TickModel  # noqa: E402

torch.set_num_threads(1)

TINY = {"format": "tickrt-model/1", "n_features": 1, "d_model": 16, "outputs": ["ret_1t", "ret_5t", "ret_2s"],
        "layers": [{"type": "mamba", "ffn": "none"}], "mamba": {"d_state": 4}}
ALL_TYPES = {"format": "tickrt-model/1", "n_features": 1, "d_model": 16, "outputs": ["ret_1t", "ret_5t", "ret_2s"],
             "layers": [{"type": "mamba", "ffn": "mlp"}, {"type": "megalodon"}, {"type": "attention", "ffn": "moe"}],
             "mamba": {"d_state": 4}, "mlp": {"intermediate": 16},
             "attention": {"n_heads": 2, "window": 32, "refresh_every": 4, "refresh_lag": 1},
             "moe": {"n_experts": 3, "top_k": 2, "intermediate": 8},
             "megalodon": {"n_heads": 2, "cema_ndim": 4, "chunk_size": 16, "ffn_hidden": 16}}


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run_quiet(fn, argv):
    """Calls fn(argv) with stderr captured -> (return code, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = fn(argv)
    return rc, err.getvalue()


class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tickrt_train_test_")
        cls.data = synthetic_data.make_features_dir(os.path.join(cls.tmp, "data"), 3000, seed=1)
        cls.small = synthetic_data.make_features_dir(os.path.join(cls.tmp, "small"), 700, seed=2)
        # One instrument, no session gap: validation holds one reset-free run of >= 2,000 rows for parity.
        cls.long = synthetic_data.make_features_dir(os.path.join(cls.tmp, "long"), 4000, instruments=("CCC",),
                                                    seed=3, gap_s=0.0)
        for name, cfg in (("tiny.json", TINY), ("all.json", ALL_TYPES)):
            with open(os.path.join(cls.tmp, name), "w") as f:
                json.dump(cfg, f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def copy_data(self, src, name):
        dst = self.path(name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        return dst

    def parity_args(self, out, binary, config="tiny.json"):
        return self.train_args(self.long, out, "--epochs", "1", "--epoch-rows", "256", "--val-frac", "0.6",
                               "--test-frac", "0.1", "--tickrt", binary, config=config)

    def train_args(self, data, out, *extra, config="tiny.json"):
        return ["--data", data, "--config", self.path(config), "--out", out, "--overwrite", "--threads", "1",
                "--chunk", "64", "--batch", "4", "--warmup-steps", "5", "--lr", "3e-3", *extra]


class SplitTest(Fixture):
    def test_purged_split_has_no_overlap_and_a_gap_of_at_least_the_horizon(self):
        dirs = ds.load_all([self.data])
        split, streams = ds.compute_split(dirs, 0.15, 0.15)
        d = dirs[0]
        seen = np.zeros(d.rows, bool)
        for s in streams:
            runs = s.runs
            parts = {k: s.rows[a:b] for k, (a, b) in runs.items()}
            for rows in parts.values():
                self.assertFalse(seen[rows].any(), "a row is in two splits")
                seen[rows] = True
            t = d.time_ns
            self.assertTrue((t[parts["train"]] < split["t_val_ns"]).all())
            self.assertTrue(((t[parts["val"]] >= split["t_val_ns"]) & (t[parts["val"]] < split["t_test_ns"])).all())
            self.assertTrue((t[parts["test"]] >= split["t_test_ns"]).all())
            # Tick horizons (5): the last train row is >= 5 ticks of this instrument before the first val row.
            self.assertGreaterEqual(runs["val"][0] - runs["train"][1], 5)
            self.assertGreaterEqual(runs["test"][0] - runs["val"][1], 5)
            # Seconds horizon (2 s): the last kept row's window ends before the boundary.
            self.assertLess(t[parts["train"][-1]] + 2_000_000_000, split["t_val_ns"])
            self.assertLess(t[parts["val"][-1]] + 2_000_000_000, split["t_test_ns"])
            # The rows right after the kept ones were purged because their window reaches the boundary.
            self.assertGreaterEqual(t[s.rows[runs["train"][1] + 5]], split["t_val_ns"])
        self.assertGreater(split["purged"]["train"], 0)
        self.assertEqual(sum(split["rows"].values()) + sum(split["purged"].values()), d.rows)
        self.assertAlmostEqual(split["rows"]["test"] / d.rows, 0.15, delta=0.01)

    def test_test_from_holds_out_everything_from_that_time(self):
        dirs = ds.load_all([self.data])
        t_mid = int(np.median(dirs[0].time_ns))
        iso = ds._iso(t_mid)
        self.assertLessEqual(abs(ds.parse_time(iso) - t_mid), 1000)  # the ISO text keeps microseconds
        split, streams = ds.compute_split(dirs, 0.1, 0.0, ds.parse_time(iso))
        n_after = int((dirs[0].time_ns >= split["t_test_ns"]).sum())
        self.assertEqual(split["rows"]["test"], n_after)
        self.assertAlmostEqual(n_after / dirs[0].rows, 0.5, delta=0.01)
        self.assertEqual(ds.parse_time("2014-05-08T00:00:00-05:00"), ds.parse_time("2014-05-08T05:00:00"))

    def test_lanes_cover_every_training_row_once_and_start_fresh_at_every_reset(self):
        dirs = ds.load_all([self.data])
        split, streams = ds.compute_split(dirs, 0.15, 0.15)
        spec, _ = ds.fit_normalisation(dirs, ds.split_rows(dirs, streams, "train"), dirs[0].raw_features, 5.0)
        corpus = train.Corpus(dirs, spec, [0, 1, 2], np.ones(3))
        segs = ds.segments(dirs, streams, "train")
        self.assertEqual(len(segs), 4)  # 2 instruments, each with one session reset inside train
        idx, fresh = train.make_lanes(corpus, segs, 4, 64, np.random.default_rng(0))
        used = idx[idx != corpus.pad]
        self.assertEqual(len(used), split["rows"]["train"])
        self.assertEqual(len(np.unique(used)), len(used))
        reset = dirs[0].reset
        for b in range(idx.shape[0]):
            lane = idx[b]
            for p in range(1, lane.size):
                if lane[p] != corpus.pad and reset[lane[p]]:
                    # A reset row always begins a chunk whose state is fresh (never mid-chunk).
                    self.assertEqual(p % 64, 0)
                    self.assertTrue(fresh[b, p // 64])
                if p % 64 and lane[p] != corpus.pad and lane[p - 1] != corpus.pad:  # rows stay in order
                    self.assertGreater(lane[p], lane[p - 1])


class NormalisationTest(Fixture):
    def build(self, data):
        args = train.parse_args(self.train_args(data, self.path("unused")))
        return train.build(args)

    def test_normalisation_is_fitted_on_the_training_split_only(self):
        base = self.build(self.data)
        spec = base[3]
        changed = self.copy_data(self.data, "changed_test")
        streams = base[1]
        x = np.load(os.path.join(changed, "X_raw.npy"))
        y = np.load(os.path.join(changed, "Y.npy"))
        for s in streams:
            for part in ("val", "test"):
                a, b = s.runs[part]
                x[s.rows[a:b]] = x[s.rows[a:b]] * 1000 + 77
                y[s.rows[a:b]] *= 50
        np.save(os.path.join(changed, "X_raw.npy"), x)
        np.save(os.path.join(changed, "Y.npy"), y)
        after = self.build(changed)
        self.assertEqual(after[3], spec)
        self.assertTrue(np.array_equal(after[6], base[6]))  # label std
        # The check can fail: changing training rows does change the fit.
        a, b = streams[0].runs["train"]
        x[streams[0].rows[a:b]] += 3
        np.save(os.path.join(changed, "X_raw.npy"), x)
        self.assertNotEqual(self.build(changed)[3], spec)

    def test_constant_features_are_dropped_and_normalisation_matches_the_engine_formula(self):
        _, _, split, spec, *_ = self.build(self.data)
        names = [f["name"] for f in spec]
        self.assertIn("log_bid_size", split["dropped_features"])
        self.assertIn("log_since_trade", split["dropped_features"])
        self.assertNotIn("log_bid_size", names)
        self.assertIn("mid_ret_bp", names)
        raw = np.array([[0.0] * 19, [100.0] * 19], np.float32)
        x = ds.normalise(raw, synthetic_data.RAW_FEATURES, [{"name": "mid_ret_bp", "mean": 1.0, "std": 2.0, "clip": 5.0},
                                                           {"name": "spread_bp", "mean": 0.5, "std": 0.25, "clip": 0.0}])
        np.testing.assert_array_equal(x, np.array([[-0.5, -2.0], [5.0, np.float32(99.5) / np.float32(0.25)]], np.float32))


class BadDataTest(Fixture):
    def expect(self, mutate, needle, name):
        d = self.copy_data(self.small, name)
        mutate(d)
        with self.assertRaises(ds.DataError) as cm:
            ds.load_features_dir(d)
        self.assertIn(needle, str(cm.exception))
        return str(cm.exception)

    def test_corrupt_or_mismatched_feature_files_are_refused_with_clear_errors(self):
        p = lambda d, f: os.path.join(d, f)  # noqa: E731
        self.expect(lambda d: os.remove(p(d, "Y.npy")), "Y.npy: missing file", "bad1")
        self.expect(lambda d: np.save(p(d, "X_raw.npy"), np.load(p(d, "X_raw.npy")).astype(np.float64)),
                    "X_raw.npy: dtype float64, expected float32", "bad2")
        self.expect(lambda d: np.save(p(d, "Y.npy"), np.load(p(d, "Y.npy"))[:-3]), "Y.npy: 1397 rows", "bad3")

        def meta_one_instrument(d):
            m = read_json(p(d, "meta.json"))
            m["instruments"] = m["instruments"][:1]
            with open(p(d, "meta.json"), "w") as f:
                json.dump(m, f)
        self.expect(meta_one_instrument, "instrument.npy: ids must be in [0, 1)", "bad4")

        def nan_raw(d):
            x = np.load(p(d, "X_raw.npy"))
            x[17, 3] = np.nan
            np.save(p(d, "X_raw.npy"), x)
        self.expect(nan_raw, "non-finite value at row 17, column 3 (log_ask_size)", "bad5")
        self.expect(lambda d: write(p(d, "time_ns.npy"), b"garbage"), "time_ns.npy: not a readable", "bad6")
        self.expect(lambda d: write(p(d, "features.json"), b"{}"), "field 'format'", "bad7")
        # Through the command line: exit code 2 and the message.
        bad = self.copy_data(self.small, "bad8")
        os.remove(os.path.join(bad, "reset.npy"))
        rc, err = run_quiet(train.main, self.train_args(bad, self.path("never"), "--skip-parity"))
        self.assertEqual(rc, 2)
        self.assertIn("reset.npy: missing file", err)
        self.assertFalse(os.path.exists(self.path("never")))


class TrainingTest(Fixture):
    def weights(self, out):
        return {k: v.detach().clone() for k, v in TickModel.from_dir(out).state_dict().items()}

    def test_short_training_learns_the_ar1_signal_on_the_test_split(self):
        out = self.path("ic_model")
        rc, err = run_quiet(train.main, self.train_args(self.data, out, "--epochs", "6", "--skip-parity",
                                                        "--batch", "8"))
        self.assertEqual(rc, 0, err)
        rep = self.path("ic_report")
        rc, err = run_quiet(evaluate.main, ["--model", out, "--data", self.data, "--out", rep, "--block", "100",
                                            "--bootstrap", "50", "--threads", "1"])
        self.assertEqual(rc, 0, err)
        m = read_json(os.path.join(rep, "metrics.json"))
        ic = m["ret_1t"]["model"]["pearson"][0]
        print(f"\n  synthetic AR(1), phi 0.5: test IC model {ic:.3f}, linear {m['ret_1t']['linear']['pearson'][0]:.3f}",
              file=sys.stderr)
        self.assertGreater(ic, 0.3)
        self.assertGreater(m["ret_1t"]["model"]["hit"][0], 0.55)
        with open(os.path.join(rep, "report.md")) as f:
            report = f.read()
        self.assertIn("linear baseline", report)
        for f in ("pred_vs_realised.png", "cumulative_ic.png", "equity.png"):
            self.assertGreater(os.path.getsize(os.path.join(rep, f)), 1000)
        # Files of the export.
        spec = read_json(os.path.join(out, "features.json"))
        self.assertEqual([o["name"] for o in spec["outputs"]], ["ret_1t", "ret_5t", "ret_2s"])
        cfg = read_json(os.path.join(out, "config.json"))
        self.assertEqual(cfg["n_features"], len(spec["features"]))
        self.assertEqual(cfg["session_gap_s"], 300.0)
        # Evaluating against other data than the model was trained on is refused.
        rc, err = run_quiet(evaluate.main, ["--model", out, "--data", self.small, "--out", rep])
        self.assertEqual(rc, 2)
        self.assertIn("differ", err)

    def test_training_is_deterministic_and_resume_equals_an_uninterrupted_run(self):
        common = ["--epochs", "3", "--skip-parity", "--patience", "5"]
        a, b, c = self.path("det_a"), self.path("det_b"), self.path("det_c")
        self.assertEqual(run_quiet(train.main, self.train_args(self.small, a, *common))[0], 0)
        self.assertEqual(run_quiet(train.main, self.train_args(self.small, b, *common))[0], 0)
        ck = self.path("resume.pt")
        rc, err = run_quiet(train.main, self.train_args(self.small, c, *common, "--checkpoint", ck,
                                                        "--stop-after-epoch", "1"))
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(c))
        rc, err = run_quiet(train.main, self.train_args(self.small, c, *common, "--checkpoint", ck, "--resume", ck))
        self.assertEqual(rc, 0, err)
        self.assertIn("resumed from", err)
        wa, wb, wc = self.weights(a), self.weights(b), self.weights(c)
        for k in wa:
            self.assertTrue(torch.equal(wa[k], wb[k]), f"same seed, different {k}")
            self.assertTrue(torch.equal(wa[k], wc[k]), f"resumed run differs in {k}")
        la = read_json(os.path.join(a, "train_log.json"))["history"]
        lc = read_json(os.path.join(c, "train_log.json"))["history"]
        self.assertEqual([h["val_loss"] for h in la], [h["val_loss"] for h in lc])
        # A different seed gives different weights (the comparison can fail).
        d = self.path("det_d")
        self.assertEqual(run_quiet(train.main, self.train_args(self.small, d, *common, "--seed", "9"))[0], 0)
        self.assertFalse(torch.equal(wa["embed.weight"], self.weights(d)["embed.weight"]))
        # A checkpoint from other settings is refused.
        rc, err = run_quiet(train.main, self.train_args(self.small, c, *common, "--lr", "1e-2", "--resume", ck))
        self.assertEqual(rc, 2)
        self.assertIn("different data/config", err)

    def test_init_from_fine_tunes_a_pretrained_model(self):
        a = self.path("pre")
        self.assertEqual(run_quiet(train.main, self.train_args(self.small, a, "--epochs", "1", "--skip-parity"))[0], 0)
        b = self.path("fine")
        rc, err = run_quiet(train.main, ["--data", self.small, "--init-from", a, "--out", b, "--epochs", "1",
                                         "--skip-parity", "--threads", "1", "--chunk", "64", "--batch", "4",
                                         "--lr", "1e-9", "--warmup-steps", "1", "--weight-decay", "0"])
        self.assertEqual(rc, 0, err)
        wa, wb = TickModel.from_dir(a).state_dict(), TickModel.from_dir(b).state_dict()
        for k in wa:  # a tiny learning rate: the fine-tuned model starts from the pre-trained weights
            self.assertTrue(torch.allclose(wa[k], wb[k], atol=1e-5), k)
        self.assertEqual(read_json(os.path.join(a, "features.json"))["features"],
                         read_json(os.path.join(b, "features.json"))["features"])


def oracle_binary(path, offset=0.0):
    """A stand-in `tickrt` whose `infer` runs the Python oracle (plus an offset, to force a parity failure)."""
    with open(path, "w") as f:
        f.write(f"""#!/usr/bin/python3
import sys, numpy as np
sys.path.insert(0, {HERE!r})
import tickmodel
a = sys.argv[1:]
assert a[0] == "infer", a
o = dict(zip(a[1::2], a[2::2]))
tickmodel.main(["run", "--model", o["--model"], "--features", o["--features"], "--out", o["--out"], "--chunk", "256"])
y = np.load(o["--out"]); np.save(o["--out"], (y + {offset}).astype(np.float32))
""")
    os.chmod(path, 0o755)
    return path


class ParityTest(Fixture):
    def test_parity_machinery_accepts_a_match_and_rejects_a_mismatch(self):
        good = oracle_binary(self.path("tickrt_ok"))
        out = self.path("par_ok")
        rc, err = run_quiet(train.main, self.parity_args(out, good))
        self.assertEqual(rc, 0, err)
        log = read_json(os.path.join(out, "train_log.json"))
        self.assertGreaterEqual(log["parity"]["rows"], 2000)
        self.assertLessEqual(log["parity"]["max_abs_diff"], 1e-4)
        bad = oracle_binary(self.path("tickrt_bad"), offset=1e-3)
        out = self.path("par_bad")
        rc, err = run_quiet(train.main, self.parity_args(out, bad))
        self.assertEqual(rc, 3, err)
        self.assertIn("parity FAILED", err)
        self.assertFalse(os.path.exists(out))
        self.assertTrue(os.path.exists(out + ".parity-failed/PARITY_FAILED.txt"))

    def test_export_matches_the_engine_tickrt_infer(self):
        binary = train.find_tickrt(None)
        has_infer = False
        if binary:
            r = subprocess.run([binary, "infer", "--help"], capture_output=True, text=True)
            has_infer = r.returncode == 0
        if not has_infer:
            msg = (f"SKIPPED engine parity: no tickrt binary with an `infer` subcommand "
                   f"(TICKRT_BINARY={os.environ.get('TICKRT_BINARY')!r}, build/tickrt: {binary!r})")
            print("\n  " + msg, file=sys.stderr)
            self.skipTest(msg)
        out = self.path("par_engine")
        rc, err = run_quiet(train.main, self.parity_args(out, binary, config="all.json"))
        self.assertEqual(rc, 0, err)
        log = read_json(os.path.join(out, "train_log.json"))
        print(f"\n  engine parity: max |tickrt - torch| = {log['parity']['max_abs_diff']:.3g} over "
              f"{log['parity']['rows']} rows", file=sys.stderr)
        self.assertLessEqual(log["parity"]["max_abs_diff"], 1e-4)


if __name__ == "__main__":
    unittest.main()
