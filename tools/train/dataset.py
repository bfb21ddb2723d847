#!/usr/bin/python3
"""Reading `tickrt features` directories, the purged time split, normalisation fitting, and segments.

Shared by train.py and evaluate.py so that evaluation sees exactly the split the model was trained with.

A features directory (engine/feature_export.h; T rows in journal order, R = 19 raw features):
  X.npy float32 [T, F], X_raw.npy float32 [T, R], Y.npy float32 [T, H], time_ns.npy int64 [T],
  instrument.npy int64 [T], reset.npy int64 [T], features.json, meta.json.
load_features_dir() checks all of it and raises DataError naming the file and what is wrong.

Streams. Several directories may be given (e.g. one per day). A stream is one instrument of one directory: its
rows in order, labels computed within it. Every stream starts with a state reset.

Split (compute_split). Two boundary times t_val <= t_test over all rows of all directories:
  train: time < t_val,  validation: t_val <= time < t_test,  test: time >= t_test.
By default the boundaries are time quantiles of all rows: train gets the first 1 - val_frac - test_frac of the
rows, validation the next val_frac, test the last test_frac. With test_from (a time), test is everything from
that time on, and validation is the last val_frac of the rows before it (as a fraction of ALL rows).
Purge: a row whose label window reaches the next split's boundary is dropped from its split (train rows against
t_val, validation rows against t_test), for the longest horizon of every output:
  ticks h:   the row's label reads the mid h ticks later in the same stream; dropped if that tick's time >= the
             boundary (or the stream ends before it: the label is NaN anyway);
  seconds h: dropped if time + h >= boundary (the label reads mids up to time + h, labels.cpp).
Because a stream's times never decrease, each split of a stream is one contiguous run of its rows.
"""
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import List

import numpy as np

FEATURES_FORMAT = "tickrt-features/1"
ARRAYS = {  # file -> (dtype, ndim)
    "X.npy": (np.float32, 2), "X_raw.npy": (np.float32, 2), "Y.npy": (np.float32, 2),
    "time_ns.npy": (np.int64, 1), "instrument.npy": (np.int64, 1), "reset.npy": (np.int64, 1),
}


class DataError(ValueError):
    pass


@dataclass
class FeaturesDir:
    path: str
    x_raw: np.ndarray        # float32 [T, R]
    y: np.ndarray            # float32 [T, H]
    time_ns: np.ndarray      # int64 [T]
    instrument: np.ndarray   # int64 [T], index into instruments
    reset: np.ndarray        # int64 [T]
    instruments: List[str]
    raw_features: List[str]  # [R]
    outputs: List[dict]      # [H] {"name", "horizon", "units"}
    meta: dict

    @property
    def rows(self):
        return len(self.time_ns)


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: missing file") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON: {e}") from None


def _load_array(path, dtype, ndim):
    if not os.path.exists(path):
        raise DataError(f"{path}: missing file")
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npy file: {e}") from None
    if a.dtype != dtype:
        raise DataError(f"{path}: dtype {a.dtype}, expected {np.dtype(dtype).name}")
    if a.ndim != ndim:
        raise DataError(f"{path}: shape {list(a.shape)}, expected {ndim} dimensions")
    return a


def check_outputs(outputs, source):
    if not isinstance(outputs, list) or not outputs:
        raise DataError(f"{source}: field 'outputs' must be a non-empty list")
    for i, o in enumerate(outputs):
        if (not isinstance(o, dict) or not isinstance(o.get("name"), str)
                or not isinstance(o.get("horizon"), (int, float)) or not o["horizon"] > 0
                or o.get("units", "ticks") not in ("ticks", "seconds")):
            raise DataError(f"{source}: outputs[{i}] must be {{name, horizon > 0, units ticks|seconds}}, got {o}")
        if o.get("units", "ticks") == "ticks" and float(o["horizon"]) != int(o["horizon"]):
            raise DataError(f"{source}: outputs[{i}].horizon must be a whole number of ticks, got {o['horizon']}")
    return [{"name": o["name"], "horizon": o["horizon"], "units": o.get("units", "ticks")} for o in outputs]


def load_features_dir(path):
    """Reads and validates one `tickrt features` output directory."""
    if not os.path.isdir(path):
        raise DataError(f"{path}: not a directory")
    meta = _load_json(os.path.join(path, "meta.json"))
    spec = _load_json(os.path.join(path, "features.json"))
    if spec.get("format") != FEATURES_FORMAT:
        raise DataError(f"{path}/features.json: field 'format' must be \"{FEATURES_FORMAT}\", got {spec.get('format')!r}")
    outputs = check_outputs(spec.get("outputs"), f"{path}/features.json")
    a = {name: _load_array(os.path.join(path, name), *kind) for name, kind in ARRAYS.items()}
    T = a["time_ns.npy"].shape[0]
    for name, arr in a.items():
        if arr.shape[0] != T:
            raise DataError(f"{path}/{name}: {arr.shape[0]} rows, but time_ns.npy has {T}")
    for key in ("instruments", "raw_features"):
        if not isinstance(meta.get(key), list) or not all(isinstance(s, str) for s in meta[key]):
            raise DataError(f"{path}/meta.json: field '{key}' must be a list of names")
    if "rows" in meta and meta["rows"] != T:
        raise DataError(f"{path}/meta.json: 'rows' is {meta['rows']}, but the arrays have {T} rows")
    R = len(meta["raw_features"])
    if a["X_raw.npy"].shape[1] != R:
        raise DataError(f"{path}/X_raw.npy: {a['X_raw.npy'].shape[1]} columns, meta.json names {R} raw features")
    if a["X.npy"].shape[1] != len(spec.get("features", [])):
        raise DataError(f"{path}/X.npy: {a['X.npy'].shape[1]} columns, features.json lists "
                        f"{len(spec.get('features', []))} features")
    if a["Y.npy"].shape[1] != len(outputs):
        raise DataError(f"{path}/Y.npy: {a['Y.npy'].shape[1]} columns, features.json lists {len(outputs)} outputs")
    inst = a["instrument.npy"]
    if T and (inst.min() < 0 or inst.max() >= len(meta["instruments"])):
        raise DataError(f"{path}/instrument.npy: ids must be in [0, {len(meta['instruments'])}) "
                        f"(meta.json instruments), got [{inst.min()}, {inst.max()}]")
    if not np.isfinite(a["X_raw.npy"]).all():
        bad = np.argwhere(~np.isfinite(a["X_raw.npy"]))[0]
        raise DataError(f"{path}/X_raw.npy: non-finite value at row {bad[0]}, column {bad[1]} "
                        f"({meta['raw_features'][bad[1]]})")
    if not np.isin(a["reset.npy"], (0, 1)).all():
        raise DataError(f"{path}/reset.npy: values must be 0 or 1")
    for k in range(len(meta["instruments"])):
        rows = np.flatnonzero(inst == k)
        if len(rows) == 0:
            continue
        if a["reset.npy"][rows[0]] != 1:
            raise DataError(f"{path}/reset.npy: the first row of instrument {meta['instruments'][k]} "
                            f"(row {rows[0]}) must be a reset")
        if (np.diff(a["time_ns.npy"][rows]) < 0).any():
            raise DataError(f"{path}/time_ns.npy: time goes backwards within instrument {meta['instruments'][k]}")
    return FeaturesDir(path=path, x_raw=a["X_raw.npy"], y=a["Y.npy"], time_ns=a["time_ns.npy"], instrument=inst,
                       reset=a["reset.npy"], instruments=list(meta["instruments"]),
                       raw_features=list(meta["raw_features"]), outputs=outputs, meta=meta)


def load_all(paths):
    """Loads several directories; they must agree on raw feature names and outputs."""
    if not paths:
        raise DataError("no --data directory given")
    dirs = [load_features_dir(p) for p in paths]
    for d in dirs[1:]:
        if d.raw_features != dirs[0].raw_features:
            raise DataError(f"{d.path}/meta.json: raw_features differ from {dirs[0].path}")
        if d.outputs != dirs[0].outputs:
            raise DataError(f"{d.path}/features.json: outputs {d.outputs} differ from {dirs[0].path}: {dirs[0].outputs}")
        if d.meta.get("session_gap_s") != dirs[0].meta.get("session_gap_s"):
            raise DataError(f"{d.path}/meta.json: session_gap_s {d.meta.get('session_gap_s')} differs from "
                            f"{dirs[0].path}: {dirs[0].meta.get('session_gap_s')}")
    return dirs


# ================================================================================================ split ====

@dataclass
class Stream:
    """One instrument of one directory: rows [T_s] (indices into the directory), its split runs."""
    dir_index: int
    symbol: str
    rows: np.ndarray                                   # int64 [T_s] row indices in the directory, in order
    runs: dict = field(default_factory=dict)           # split name -> (start, end) positions within rows
    raw_val_start: int = 0                             # first validation position before purging


def parse_time(text):
    """ISO date or date-time (an offset such as -05:00 allowed; none means UTC) -> ns since the epoch."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"--test-from: not an ISO date or date-time: {text!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) * 1000


def _label_end_time(times, outputs):
    """times [n] of one stream -> int64 [n]: latest time any output's label reads (int64 max past the end)."""
    n = len(times)
    end = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    big = np.iinfo(np.int64).max
    for o in outputs:
        if o["units"] == "ticks":
            h = int(o["horizon"])
            e = np.full(n, big, dtype=np.int64)
            if h < n:
                e[:n - h] = times[h:]
        else:
            e = times + int(o["horizon"] * 1e9)
        end = np.maximum(end, e)
    return end


def compute_split(dirs, val_frac=0.15, test_frac=0.15, test_from_ns=None):
    """-> (split dict for split.json, [Stream]). See the module docstring for the rules."""
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise DataError(f"--val-frac {val_frac} and --test-frac {test_frac} must be in [0, 1) and sum below 1")
    all_t = np.sort(np.concatenate([d.time_ns for d in dirs]))
    N = len(all_t)
    if N == 0:
        raise DataError("the data holds no rows")
    if test_from_ns is not None:
        t_test = int(test_from_ns)
    elif test_frac > 0:
        t_test = int(all_t[min(N - 1, int(round(N * (1 - test_frac))))])
    else:
        t_test = int(all_t[-1]) + 1
    i_val = int(np.searchsorted(all_t, t_test, side="left")) - int(round(N * val_frac))
    t_val = min(t_test, int(all_t[max(0, i_val)]))
    if i_val <= 0:
        raise DataError(f"no training rows before the validation boundary {_iso(t_val)}")
    streams = streams_for_bounds(dirs, t_val, t_test)
    counts = {k: sum(s.runs[k][1] - s.runs[k][0] for s in streams) for k in ("train", "val", "test")}
    purged = {"train": sum(s.raw_val_start - s.runs["train"][1] for s in streams),
              "val": sum(s.runs["test"][0] - s.runs["val"][1] for s in streams)}
    split = {"t_val_ns": t_val, "t_test_ns": t_test, "t_val": _iso(t_val), "t_test": _iso(t_test),
             "val_frac": val_frac, "test_frac": test_frac, "test_from_ns": test_from_ns,
             "rows": counts, "purged": purged, "data": [os.path.abspath(d.path) for d in dirs],
             "purge_rule": "rows whose label window (longest horizon of every output) reaches the next "
                           "split's boundary are dropped from their split"}
    return split, streams


def _iso(ns):
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


def streams_for_bounds(dirs, t_val, t_test):
    """Every stream with its purged train / validation / test runs for the boundary times t_val <= t_test."""
    outputs = dirs[0].outputs
    streams = []
    for di, d in enumerate(dirs):
        for k, sym in enumerate(d.instruments):
            rows = np.flatnonzero(d.instrument == k)
            if len(rows) == 0:
                continue
            t = d.time_ns[rows]
            end = _label_end_time(t, outputs)  # non-decreasing, so purging cuts a suffix off each run
            a = int(np.searchsorted(t, t_val, side="left"))    # first validation position
            b = int(np.searchsorted(t, t_test, side="left"))   # first test position
            a_p = min(a, int(np.searchsorted(end, t_val, side="left")))
            b_p = max(a, min(b, int(np.searchsorted(end, t_test, side="left"))))
            streams.append(Stream(di, sym, rows, {"train": (0, a_p), "val": (a, b_p), "test": (b, len(rows))}, a))
    return streams


def split_rows(dirs, streams, name):
    """-> list of (dir_index, row indices int64 [n]) of one split, stream by stream."""
    out = []
    for s in streams:
        a, b = s.runs[name]
        if b > a:
            out.append((s.dir_index, s.rows[a:b]))
    return out


# ======================================================================================= normalisation ====

def select_features(raw_names, wanted):
    """--features 'all' or comma-separated names -> list of names (raw order for 'all')."""
    if wanted in (None, "", "all"):
        return list(raw_names)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    for n in names:
        if n not in raw_names:
            raise DataError(f"--features: unknown feature '{n}' (known: {', '.join(raw_names)})")
    if len(set(names)) != len(names):
        raise DataError("--features: a feature is named twice")
    return names


def fit_normalisation(dirs, train_parts, names, clip, min_std=1e-6):
    """Mean and std of each named raw feature over the training rows only (float64 accumulation).

    Features whose training std is below min_std carry no information the model could learn from (on FXCM
    data: the size and trade features are constant 0) and are DROPPED from the model's inputs; the dropped
    names are returned so the caller can report them. -> (features [{"name","mean","std","clip"}], dropped)."""
    raw_names = dirs[0].raw_features
    cols = [raw_names.index(n) for n in names]
    n = 0
    s1 = np.zeros(len(cols))
    for di, rows in train_parts:
        x = dirs[di].x_raw[rows][:, cols].astype(np.float64)
        s1 += x.sum(0)
        n += len(rows)
    if n < 2:
        raise DataError(f"the training split holds {n} rows; need at least 2 to fit the normalisation")
    mean = s1 / n
    s2 = np.zeros(len(cols))
    for di, rows in train_parts:
        x = dirs[di].x_raw[rows][:, cols].astype(np.float64)
        s2 += ((x - mean) ** 2).sum(0)
    std = np.sqrt(s2 / n)
    feats, dropped = [], []
    for i, name in enumerate(names):
        if not std[i] >= min_std:
            dropped.append(name)
            continue
        feats.append({"name": name, "mean": float(np.float32(mean[i])), "std": float(np.float32(std[i])),
                      "clip": float(clip)})
    if not feats:
        raise DataError("every selected feature is constant on the training split")
    return feats, dropped


def normalise(x_raw, raw_names, features):
    """x_raw float32 [n, R] -> float32 [n, F]: clip((raw - mean) / std, -clip, clip), in float32 exactly as
    FeatureSpec::normalise (engine/feature_spec.cpp); clip 0 means no clipping."""
    cols = [raw_names.index(f["name"]) for f in features]
    mean = np.array([f["mean"] for f in features], dtype=np.float32)
    std = np.array([f["std"] for f in features], dtype=np.float32)
    clip = np.array([f["clip"] for f in features], dtype=np.float32)
    x = (x_raw[:, cols].astype(np.float32) - mean) / std  # float32 throughout
    lim = np.where(clip > 0, clip, np.float32(np.inf)).astype(np.float32)
    return np.ascontiguousarray(np.clip(x, -lim, lim), dtype=np.float32)  # C order: the engine reads no other


def label_std(dirs, train_parts, cols):
    """Std of each selected label column over the finite training labels -> float64 [H]."""
    ys = np.concatenate([dirs[di].y[rows][:, cols] for di, rows in train_parts]).astype(np.float64)
    std = np.array([np.nanstd(ys[:, h]) if np.isfinite(ys[:, h]).any() else np.nan for h in range(len(cols))])
    for h, s in enumerate(std):
        if not s > 0:
            raise DataError(f"label column {cols[h]} has no spread on the training split (std {s})")
    return std


# ============================================================================================ segments ====

def segments(dirs, streams, name):
    """-> list of (dir_index, rows int64 [n]): the split's runs cut at state resets, so that every segment
    starts with a fresh state (the reset flag of its first row, or the split's first row of a stream)."""
    out = []
    for di, rows in split_rows(dirs, streams, name):
        r = dirs[di].reset[rows]
        cuts = [0] + [int(i) for i in np.flatnonzero(r[1:]) + 1] + [len(rows)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b > a:
                out.append((di, rows[a:b]))
    return out
