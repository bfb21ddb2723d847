#!/usr/bin/python3
"""A synthetic `tickrt features` directory (engine/feature_export.h layout) with a known, learnable signal.

Per instrument, mid returns follow AR(1): r_t = phi r_{t-1} + e_t, e ~ N(0, 1) (bp); mid_t = exp(cumsum r / 1e4).
Raw feature mid_ret_bp = r_t, ewma_ret_fast = its EWMA (alpha 0.1), log_dt = ln of the gap, a few noise
features, and the size / trade features constant 0 (as on FXCM quote data). Labels follow labels.cpp:
forward mid log-return in bp over h ticks, or to the last tick with time <= t + h seconds; NaN past the data.
For a 1-tick horizon the best linear predictor phi * r_t has correlation phi with the label.
Instruments are interleaved in time; each instrument has a session gap (and a reset) halfway unless gap_s is 0.
"""
import json
import os

import numpy as np

RAW_FEATURES = ["mid_ret_bp", "spread_bp", "log_bid_size", "log_ask_size", "imbalance", "is_trade", "trade_ret_bp",
                "trade_side", "log_trade_size", "trade_vs_mid_bp", "log_dt", "log_since_trade", "ewma_ret_fast",
                "ewma_ret_slow", "ewma_absret_fast", "ewma_absret_slow", "ewma_flow", "ewma_log_dt",
                "spread_vs_avg_bp"]
OUTPUTS = [{"name": "ret_1t", "horizon": 1, "units": "ticks"}, {"name": "ret_5t", "horizon": 5, "units": "ticks"},
           {"name": "ret_2s", "horizon": 2, "units": "seconds"}]


def labels(times, mids, outputs):
    """times int64 [n], mids float64 [n] of one instrument -> float32 [n, H] (labels.cpp)."""
    n = len(mids)
    y = np.full((n, len(outputs)), np.nan, np.float32)
    for h, o in enumerate(outputs):
        if o["units"] == "ticks":
            k = int(o["horizon"])
            if k < n:
                y[:n - k, h] = 1e4 * np.log(mids[k:] / mids[:n - k])
        else:
            target = times + int(o["horizon"] * 1e9)
            j = np.searchsorted(times, target, side="right") - 1
            ok = times[-1] >= target
            y[ok, h] = 1e4 * np.log(mids[j[ok]] / mids[ok])
    return y


def make_features_dir(path, ticks_per_instrument=3000, instruments=("AAA", "BBB"), phi=0.5, seed=0,
                      start_ns=1_400_000_000 * 10**9, outputs=OUTPUTS, gap_s=600.0):
    """Writes the directory; returns its path."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, _ in enumerate(instruments):
        n = ticks_per_instrument
        e = rng.standard_normal(n)
        r = np.zeros(n)
        for t in range(n):
            r[t] = (phi * r[t - 1] if t else 0.0) + e[t]
        dt = rng.exponential(0.5, n) + 1e-3                        # seconds between ticks
        dt[0] = 0.0
        if gap_s > 0:
            dt[n // 2] += gap_s                                    # a session gap halfway: state reset
        times = start_ns + k * 1000 + np.round(np.cumsum(dt) * 1e9).astype(np.int64)
        mids = 1.0 * np.exp(np.cumsum(r) / 1e4)
        raw = np.zeros((n, len(RAW_FEATURES)), np.float32)
        col = RAW_FEATURES.index
        raw[:, col("mid_ret_bp")] = r
        raw[:, col("spread_bp")] = 1.0 + 0.1 * rng.standard_normal(n)
        raw[:, col("log_dt")] = np.log(1e-3 + np.minimum(dt, 3600))
        raw[:, col("log_since_trade")] = np.log(1e-3 + 3600.0)   # no trades: constant
        ew = np.zeros(n)
        for t in range(n):
            ew[t] = (0.9 * ew[t - 1] if t else 0.0) + 0.1 * r[t]
        raw[:, col("ewma_ret_fast")] = ew
        raw[:, col("ewma_absret_slow")] = rng.standard_normal(n)   # noise
        reset = np.zeros(n, np.int64)
        reset[0] = 1
        if gap_s > 0:
            reset[n // 2] = 1
        rows.append((times, np.full(n, k, np.int64), raw, labels(times, mids, outputs), reset))
    times = np.concatenate([r[0] for r in rows])
    order = np.argsort(times, kind="stable")
    cat = lambda i: np.concatenate([r[i] for r in rows])[order]  # noqa: E731
    t, inst, raw, y, reset = cat(0), cat(1), cat(2), cat(3), cat(4)
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "X_raw.npy"), raw.astype(np.float32))
    np.save(os.path.join(path, "X.npy"), raw.astype(np.float32))  # identity spec
    np.save(os.path.join(path, "Y.npy"), y.astype(np.float32))
    np.save(os.path.join(path, "time_ns.npy"), t.astype(np.int64))
    np.save(os.path.join(path, "instrument.npy"), inst.astype(np.int64))
    np.save(os.path.join(path, "reset.npy"), reset.astype(np.int64))
    with open(os.path.join(path, "features.json"), "w") as f:
        json.dump({"format": "tickrt-features/1",
                   "features": [{"name": n, "mean": 0.0, "std": 1.0, "clip": 0.0} for n in RAW_FEATURES],
                   "outputs": outputs}, f)
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump({"source": "synthetic", "instruments": list(instruments), "raw_features": RAW_FEATURES,
                   "rows": int(len(t)), "session_gap_s": gap_s / 2 if gap_s > 0 else 0, "rejects": {}}, f)
    return path
