#!/usr/bin/python3
"""Honest evaluation of a trained model on its held-out test split, against simple baselines.

The split is the one the model was trained with: split.json in the model directory holds the boundary times;
the rows are recomputed from the data with the same rules (dataset.py) and checked against the stored counts,
so evaluating on other data than the model was trained on is refused.

Predictors, all scored on the same test rows (rows with a finite label):
  model        the exported model (outputs in bp). State: for each stream, the model starts from a fresh state
               at the later of (its last reset at or before the first test row) and (the first test row minus
               --warmup rows), and runs through the preceding validation-period inputs to the test rows
               (inputs only; no labels are read), resetting where reset.npy says, as the live engine does.
  zero         predicts 0 (IC undefined; hit rate 0.5 by the rule below; the R2 reference).
  persistence  predicts mid_ret_bp of the current tick (the last mid return continues).
  ewma_revert  predicts -ewma_ret_fast (mean reversion of the recent mid drift; a contrarian signal).
  linear       ridge least squares (alpha 1, with intercept) on the model's normalised input features, fitted
               on the (purged) training split, one fit per output.

Metrics per output: Pearson IC, Spearman IC (average ranks for ties), hit rate over rows with a non-zero
label (sign(pred) == sign(label) counts 1, pred == 0 counts 0.5, else 0), R2 against the zero prediction
(1 - SSE / sum label^2; negative for unscaled signals such as persistence). 95% intervals: moving-block
bootstrap over the test rows in time order (all instruments pooled), --block rows per block (default 2000),
--bootstrap resamples (default 200); in a resample Spearman uses the full-sample ranks (Pearson of the ranks),
which avoids re-ranking. The model-minus-linear IC difference is bootstrapped with the same resamples
(paired): the model "beats" the linear baseline on an output when that difference's interval lies above 0.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset as ds  # noqa: E402
from tickmodel import TickModel, ModelLoadError, ConfigError  # noqa: E402


class EvalError(RuntimeError):
    pass


def load_model_dir(path):
    model = TickModel.from_dir(path).eval()
    with open(os.path.join(path, "features.json")) as f:
        spec = json.load(f)
    try:
        with open(os.path.join(path, "split.json")) as f:
            split = json.load(f)
    except FileNotFoundError:
        raise EvalError(f"{path}/split.json: missing; evaluate.py needs the split the model was trained with") from None
    return model, spec, split


def check_same_data(streams, split, dirs):
    stored = {(os.path.basename(os.path.normpath(s["data"])), s["instrument"]): s for s in split["streams"]}
    for s in streams:
        key = (os.path.basename(os.path.normpath(dirs[s.dir_index].path)), s.symbol)
        want = stored.get(key)
        got = {k: [int(a), int(b)] for k, (a, b) in s.runs.items()}
        if want is None or any(want[k] != got[k] for k in got):
            raise EvalError(f"{dirs[s.dir_index].path} instrument {s.symbol}: the rows differ from the data the "
                            f"model was trained on (split.json: {want and {k: want[k] for k in got}}, data: {got})")
    if len(stored) != len(streams):
        raise EvalError(f"the data holds {len(streams)} streams, split.json {len(stored)}")


# ========================================================================================== predictions ====

@torch.no_grad()
def predict_model(model, dirs, streams, features, warmup=5000, chunk=1024):
    """-> list per stream of float32 [n_test, H] model outputs on the stream's test rows (see docstring)."""
    out = []
    for s in streams:
        a, b = s.runs["test"]
        if b <= a:
            out.append(np.zeros((0, model.cfg.n_outputs), np.float32))
            continue
        d = dirs[s.dir_index]
        resets = np.flatnonzero(d.reset[s.rows[:a + 1]])
        w0 = max(int(resets[-1]) if len(resets) else 0, a - warmup)
        rows = s.rows[w0:b]
        x = torch.from_numpy(ds.normalise(d.x_raw[rows], d.raw_features, features))  # [n, F]
        fresh = d.reset[rows].astype(bool)
        fresh[0] = True
        cuts = list(np.flatnonzero(fresh)) + [len(rows)]
        ys = []
        for c0, c1 in zip(cuts[:-1], cuts[1:]):
            state = None
            for t in range(c0, c1, chunk):
                y, state = model(x[None, t:min(t + chunk, c1)], state)
                ys.append(y[0])
        out.append(torch.cat(ys).numpy()[a - w0:])
    return out


def fit_ridge(x, y, alpha=1.0):
    """x [n, F], y [n] (finite) -> coefficients [F + 1] (last: intercept), float64."""
    X = np.concatenate([x.astype(np.float64), np.ones((len(x), 1))], 1)
    A = X.T @ X + alpha * np.diag(np.r_[np.ones(x.shape[1]), 0.0])
    return np.linalg.solve(A, X.T @ y.astype(np.float64))


def baselines(dirs, streams, features, label_cols, H):
    """-> {name: list per stream of float64 [n_test, H]} for zero, persistence, ewma_revert, linear."""
    raw = dirs[0].raw_features
    tr = ds.split_rows(dirs, streams, "train")
    xtr = np.concatenate([ds.normalise(dirs[di].x_raw[r], raw, features) for di, r in tr])
    ytr = np.concatenate([dirs[di].y[r][:, label_cols] for di, r in tr]).astype(np.float64)
    coefs = []
    for h in range(H):
        ok = np.isfinite(ytr[:, h])
        coefs.append(fit_ridge(xtr[ok], ytr[ok, h]))
    W = np.stack(coefs, 1)  # [F + 1, H]
    preds = {"zero": [], "linear": []}
    if "mid_ret_bp" in raw:
        preds["persistence"] = []
    if "ewma_ret_fast" in raw:
        preds["ewma_revert"] = []
    for s in streams:
        a, b = s.runs["test"]
        d = dirs[s.dir_index]
        rows = s.rows[a:b]
        n = len(rows)
        preds["zero"].append(np.zeros((n, H)))
        x = ds.normalise(d.x_raw[rows], raw, features).astype(np.float64)
        preds["linear"].append(x @ W[:-1] + W[-1])
        if "persistence" in preds:
            preds["persistence"].append(np.repeat(d.x_raw[rows, raw.index("mid_ret_bp")][:, None], H, 1)
                                        .astype(np.float64))
        if "ewma_revert" in preds:
            preds["ewma_revert"].append(-np.repeat(d.x_raw[rows, raw.index("ewma_ret_fast")][:, None], H, 1)
                                        .astype(np.float64))
    return preds, W


# ============================================================================================== metrics ====

def rankdata(a):
    """Average ranks (ties share the mean rank), float64 [n]."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    ranks = np.empty(len(a), np.float64)
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    ends = np.r_[starts[1:], len(a)]
    avg = (starts + ends - 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def _pearson(p, y):
    p = p - p.mean()
    y = y - y.mean()
    den = np.sqrt((p * p).sum() * (y * y).sum())
    return float((p * y).sum() / den) if den > 0 else float("nan")


def _hit(p, y):
    nz = y != 0
    if not nz.any():
        return float("nan")
    return float(np.where(p[nz] == 0, 0.5, (np.sign(p[nz]) == np.sign(y[nz])).astype(np.float64)).mean())


def _r2(p, y):
    den = (y * y).sum()
    return float(1.0 - ((p - y) ** 2).sum() / den) if den > 0 else float("nan")


def block_indices(n, block, reps, rng):
    """Moving-block bootstrap: reps index arrays of length ~n from random contiguous blocks -> int64 [reps, m]."""
    block = max(1, min(block, n))
    k = int(np.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=(reps, k))
    return (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(reps, -1)[:, :n]


def score(preds, y, block=2000, reps=200, seed=0):
    """preds {name: float64 [n]}, y [n] (finite, time order) -> {name: {metric: (value, lo, hi)}} plus
    "model-linear" paired IC differences when both are present."""
    n = len(y)
    rng = np.random.default_rng(seed)
    idx = block_indices(n, block, reps, rng) if n > 1 else np.zeros((0, 0), np.int64)
    ry = rankdata(y)
    res = {}
    boot_ic = {}
    for name, p in preds.items():
        rp = rankdata(p)
        full = {"n": n, "pearson": _pearson(p, y), "spearman": _pearson(rp, ry), "hit": _hit(p, y), "r2": _r2(p, y)}
        bs = {"pearson": [], "spearman": [], "hit": [], "r2": []}
        for ix in idx:
            bs["pearson"].append(_pearson(p[ix], y[ix]))
            bs["spearman"].append(_pearson(rp[ix], ry[ix]))
            bs["hit"].append(_hit(p[ix], y[ix]))
            bs["r2"].append(_r2(p[ix], y[ix]))
        boot_ic[name] = np.array(bs["pearson"])
        r = {"n": (n, n, n)}
        for m in ("pearson", "spearman", "hit", "r2"):
            v = np.array(bs[m])
            v = v[np.isfinite(v)]
            lo, hi = (np.percentile(v, [2.5, 97.5]) if len(v) else (np.nan, np.nan))
            r[m] = (full[m], float(lo), float(hi))
        res[name] = r
    if "model" in preds and "linear" in preds:
        d = boot_ic["model"] - boot_ic["linear"]
        d = d[np.isfinite(d)]
        full = res["model"]["pearson"][0] - res["linear"]["pearson"][0]
        lo, hi = np.percentile(d, [2.5, 97.5]) if len(d) else (np.nan, np.nan)
        res["model-linear"] = {"pearson_diff": (full, float(lo), float(hi))}
    return res


# ================================================================================================ plots ====

def plots(out_dir, names, times, y, preds):
    """hexbin (model vs realised), cumulative IC over time, sign-strategy equity curves. -> file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    H = len(names)
    files = []
    tdays = (times - times[0]) / 86400e9
    if "model" in preds:
        fig, axs = plt.subplots(1, H, figsize=(4.5 * H, 4), squeeze=False)
        for h in range(H):
            ok = np.isfinite(y[:, h])
            ax = axs[0, h]
            ax.hexbin(preds["model"][ok, h], y[ok, h], gridsize=60, bins="log", mincnt=1, cmap="viridis")
            ax.set_xlabel("model prediction (bp)")
            ax.set_ylabel("realised (bp)")
            ax.set_title(names[h])
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "pred_vs_realised.png"), dpi=90)
        plt.close(fig)
        files.append("pred_vs_realised.png")
    for fname, what in (("cumulative_ic.png", "ic"), ("equity.png", "equity")):
        fig, axs = plt.subplots(1, H, figsize=(4.5 * H, 4), squeeze=False)
        for h in range(H):
            ok = np.isfinite(y[:, h])
            yy, tt = y[ok, h], tdays[ok]
            ax = axs[0, h]
            for name, p in preds.items():
                pp = p[ok, h]
                if what == "equity":
                    ax.plot(tt, np.cumsum(np.sign(pp) * yy), label=name, lw=1)
                elif name != "zero":
                    # Expanding-window Pearson IC from running sums.
                    k = np.arange(1, len(yy) + 1)
                    mp, my = np.cumsum(pp) / k, np.cumsum(yy) / k
                    cov = np.cumsum(pp * yy) / k - mp * my
                    vp = np.maximum(np.cumsum(pp * pp) / k - mp * mp, 0)
                    vy = np.maximum(np.cumsum(yy * yy) / k - my * my, 0)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        ic = cov / np.sqrt(vp * vy)
                    ic[:min(200, len(ic))] = np.nan  # too few rows to mean anything
                    ax.plot(tt, ic, label=name, lw=1)
            ax.set_xlabel("days into the test split")
            ax.set_ylabel("cumulative sign(pred) * label (bp)" if what == "equity" else "IC from the start")
            ax.set_title(names[h])
            ax.axhline(0, color="k", lw=0.5)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, fname), dpi=90)
        plt.close(fig)
        files.append(fname)
    return files


# =============================================================================================== report ====

def fmt_ci(v):
    val, lo, hi = v
    if not np.isfinite(val):
        return "n/a"
    return f"{val:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def evaluate(args):
    model, spec, split = load_model_dir(args.model)
    features, outputs = spec["features"], spec["outputs"]
    dirs = ds.load_all(args.data)
    streams = ds.streams_for_bounds(dirs, split["t_val_ns"], split["t_test_ns"])
    check_same_data(streams, split, dirs)
    data_names = [o["name"] for o in dirs[0].outputs]
    names = [o["name"] for o in outputs]
    label_cols = [data_names.index(n) for n in names]
    H = len(names)
    test = [(s, s.runs["test"]) for s in streams]
    n_test = sum(b - a for _, (a, b) in test)
    if n_test == 0:
        raise EvalError("the test split is empty")
    mp = predict_model(model, dirs, streams, features, args.warmup)
    bp, _ = baselines(dirs, streams, features, label_cols, H)
    # Pool all streams' test rows in time order.
    t = np.concatenate([dirs[s.dir_index].time_ns[s.rows[a:b]] for s, (a, b) in test])
    y = np.concatenate([dirs[s.dir_index].y[s.rows[a:b]][:, label_cols] for s, (a, b) in test]).astype(np.float64)
    preds = {"model": np.concatenate(mp).astype(np.float64)}
    preds.update({k: np.concatenate(v) for k, v in bp.items()})
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    preds = {k: v[order] for k, v in preds.items()}
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for h, name in enumerate(names):
        ok = np.isfinite(y[:, h])
        results[name] = score({k: v[ok, h] for k, v in preds.items()}, y[ok, h], args.block, args.bootstrap,
                              args.seed)
    files = plots(args.out, names, t, y, preds)
    beats = [n for n in names if results[n]["model-linear"]["pearson_diff"][1] > 0]
    write_report(args, split, dirs, streams, names, outputs, results, files, beats, n_test)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(results, f, indent=2, default=float)
    print(f"wrote {os.path.join(args.out, 'report.md')}", file=sys.stderr)
    return 0


def write_report(args, split, dirs, streams, names, outputs, results, files, beats, n_test):
    L = []
    L.append(f"# Evaluation of `{os.path.normpath(args.model)}` on its held-out test split\n")
    L.append("Generated by `tools/train/evaluate.py`; how each number is computed is in that file's docstring.\n")
    L.append("## Summary\n")
    if len(beats) == len(names):
        verdict = "The model BEATS the linear baseline on every output"
    elif beats:
        verdict = f"The model beats the linear baseline on {len(beats)} of {len(names)} outputs ({', '.join(beats)})"
    else:
        verdict = "The model does NOT beat the linear baseline on any output"
    L.append(f"**{verdict}** (paired block-bootstrap 95% interval of the Pearson IC difference above zero).\n")
    L.append("## Split\n")
    L.append(f"- data: {', '.join(os.path.normpath(d.path) for d in dirs)}")
    L.append(f"- train: time < {split['t_val']}; validation: {split['t_val']} <= time < {split['t_test']}; "
             f"test: time >= {split['t_test']}")
    L.append(f"- rows: train {split['rows']['train']}, validation {split['rows']['val']}, test {split['rows']['test']}; "
             f"purged: train {split['purged']['train']}, validation {split['purged']['val']} "
             f"({split.get('purge_rule', '')})")
    for s in streams:
        a, b = s.runs["test"]
        if b > a:
            L.append(f"- test rows of {s.symbol} in {os.path.basename(os.path.normpath(dirs[s.dir_index].path))}: {b - a}")
    L.append(f"- model state: fresh at the later of the stream's last reset before the test split and "
             f"{args.warmup} rows before it, then carried through the test rows (resets as in reset.npy)")
    L.append(f"- intervals: moving-block bootstrap, {args.block}-row blocks, {args.bootstrap} resamples, seed {args.seed}")
    L.append("- outputs: " + ", ".join(f"{o['name']} ({o['horizon']:g} {o['units']})" for o in outputs) + "\n")
    for h, name in enumerate(names):
        r = results[name]
        n = r["model"]["n"][0]
        L.append(f"## {name} ({n} test rows with a label)\n")
        L.append("| predictor | Pearson IC [95%] | Spearman IC [95%] | hit rate, label != 0 [95%] | R2 vs zero [95%] |")
        L.append("|---|---|---|---|---|")
        for k in r:
            if k == "model-linear":
                continue
            L.append(f"| {k} | {fmt_ci(r[k]['pearson'])} | {fmt_ci(r[k]['spearman'])} | {fmt_ci(r[k]['hit'])} | "
                     f"{fmt_ci(r[k]['r2'])} |")
        L.append(f"\nModel minus linear, Pearson IC: {fmt_ci(r['model-linear']['pearson_diff'])}\n")
    L.append("## Plots\n")
    for f in files:
        L.append(f"![{f}]({f})\n")
    L.append("Equity curves are sums of sign(prediction) x label before costs; labels of horizons longer than one "
             "tick overlap, so these are not tradable P&L, only a picture of where the signal earns.\n")
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(L))


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="evaluate.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  /usr/bin/python3 tools/train/evaluate.py --model models/m --data feats/ --out models/m")
    ap.add_argument("--model", required=True, help="model directory written by train.py (with split.json)")
    ap.add_argument("--data", action="append", required=True, help="the same features directories as training")
    ap.add_argument("--out", required=True, help="report directory (report.md, metrics.json, PNGs)")
    ap.add_argument("--warmup", type=int, default=5000, help="rows of state warm-up before the test split")
    ap.add_argument("--block", type=int, default=2000, help="bootstrap block length (rows)")
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.warmup < 0 or args.block < 1 or args.bootstrap < 1:
        ap.error("--warmup must be >= 0, --block and --bootstrap >= 1")
    torch.set_num_threads(args.threads)
    try:
        return evaluate(args)
    except (ds.DataError, EvalError, ModelLoadError, ConfigError, OSError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
