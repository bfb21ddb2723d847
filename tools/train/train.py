#!/usr/bin/python3
"""Trains a tickrt model on `tickrt features` output and exports a model directory the engine loads.

Pipeline (start reading at main()):
  1. load and validate the features directories (dataset.py), split them by time into train / validation /
     test with purging (dataset.compute_split), fit the normalisation on the training rows only;
  2. train with truncated BPTT: every split is cut into segments at state resets; segments are cut into pieces
     and laid end to end in B lanes, each piece padded to a whole number of chunks so that every piece starts
     at a chunk boundary with a fresh state (a mid-chunk reset never happens). State is carried from chunk to
     chunk within a piece and detached between chunks. Loss: MSE of the head output against label / std_h
     (std_h: the training std of output h), NaN labels and padding masked, averaged per output then over
     outputs. AdamW (no weight decay on anything but matrix/conv weights), gradient clipping, linear warm-up,
     early stopping on validation loss, a checkpoint after every epoch (--resume continues bit-identically);
  3. export: the best weights with the head rescaled by std_h, so the exported model outputs basis points;
     config.json, model.safetensors, features.json (normalisation fitted on train only), split.json (the split
     boundaries, evaluate.py reuses them), train_log.json; then parity: `tickrt infer` on >= 2,000 validation
     rows of one instrument must match PyTorch within 1e-4, else the export is renamed OUT.parity-failed and the
     command exits 3.

Zero-variance features (training std < 1e-6, e.g. sizes and trades on FXCM quote data) are dropped from the
model's inputs; they are listed in split.json "dropped_features".
"""
import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset as ds  # noqa: E402
from tickmodel import (TickModel, config_to_json, detach_state, parse_config, reset_state,  # noqa: E402
                       ConfigError, ModelLoadError)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARITY_TOL = 1e-4


class TrainError(RuntimeError):
    pass


# ============================================================================================ batching ====

class Corpus:
    """All rows of all directories in one array, so a lane is a list of global row indices.

    x [N + 1, F] float32 normalised features, y [N + 1, H] float32 labels / std_h; the extra last row is the
    padding row (zeros in, NaN labels)."""

    def __init__(self, dirs, features, label_cols, std):
        self.offsets = np.cumsum([0] + [d.rows for d in dirs])
        xs = [ds.normalise(d.x_raw, d.raw_features, features) for d in dirs]
        ys = [(d.y[:, label_cols].astype(np.float64) / std).astype(np.float32) for d in dirs]
        F, H = len(features), len(label_cols)
        self.x = np.concatenate(xs + [np.zeros((1, F), np.float32)])  # [N + 1, F]
        self.y = np.concatenate(ys + [np.full((1, H), np.nan, np.float32)])  # [N + 1, H]
        self.pad = len(self.x) - 1

    def global_rows(self, di, rows):
        return rows + self.offsets[di]


def make_lanes(corpus, segs, batch, chunk, rng=None, epoch_rows=0):
    """Lays pieces of the segments into `batch` lanes. -> (idx int64 [B, S*chunk] global rows (pad row for
    padding), fresh bool [B, S]: the state is reset before chunk s of lane b).

    Pieces are at most P = chunk * ceil(n / (batch * chunk)) rows (n: rows used this epoch) so that the lanes
    come out about equally long. With rng, each segment's cut points get a random phase and the pieces a random
    order (and, with epoch_rows, a random subset of about that many rows); without, the layout is fixed."""
    total = sum(len(r) for _, r in segs)
    n = min(total, epoch_rows) if epoch_rows else total
    P = chunk * max(1, math.ceil(n / (batch * chunk)))
    pieces = []
    for di, rows in segs:
        g = corpus.global_rows(di, rows)
        first = int(rng.integers(1, P + 1)) if rng is not None and len(g) > P else P
        starts = [0] + list(range(first, len(g), P))
        for a, b in zip(starts, starts[1:] + [len(g)]):
            pieces.append(g[a:b])
    if rng is not None:
        order = rng.permutation(len(pieces))
        pieces = [pieces[i] for i in order]
        if epoch_rows:
            keep, acc = [], 0
            for p in pieces:
                if acc >= epoch_rows:
                    break
                keep.append(p)
                acc += len(p)
            pieces = keep
    lanes = [[] for _ in range(batch)]
    length = [0] * batch  # chunks per lane
    for p in pieces:  # greedy: each piece to the currently shortest lane
        b = int(np.argmin(length))
        lanes[b].append(p)
        length[b] += math.ceil(len(p) / chunk)
    S = max(length) if pieces else 0
    idx = np.full((batch, S * chunk), corpus.pad, dtype=np.int64)
    fresh = np.ones((batch, S), dtype=bool)
    for b, plist in enumerate(lanes):
        pos = 0
        for p in plist:
            fresh[b, pos // chunk] = True
            idx[b, pos:pos + len(p)] = p
            nch = math.ceil(len(p) / chunk)
            fresh[b, pos // chunk + 1:pos // chunk + nch] = False
            pos += nch * chunk
    return idx, fresh


def masked_loss(pred, target):
    """pred, target [B, T, H] (target NaN where unknown) -> (loss: mean over outputs of the per-output MSE,
    valid count)."""
    mask = torch.isfinite(target)
    diff = torch.where(mask, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    cnt = mask.sum(dim=(0, 1))  # [H]
    per = (diff ** 2).sum(dim=(0, 1)) / cnt.clamp(min=1)
    have = cnt > 0
    if not bool(have.any()):
        return pred.sum() * 0.0, 0
    return per[have].mean(), int(cnt.sum())


def run_lanes(model, corpus, idx, fresh, chunk, opt=None, grad_clip=0.0, on_step=None, lr_at=None, step0=0):
    """One pass over the lanes: training when opt is given, else evaluation. -> (mean loss over chunks with
    labels, steps)."""
    B, S = fresh.shape
    state = model.init_state(B)
    total, n, step = 0.0, 0, step0
    for s in range(S):
        rows = torch.from_numpy(fresh[:, s])
        state = reset_state(state, rows)
        sl = idx[:, s * chunk:(s + 1) * chunk]
        x = torch.from_numpy(corpus.x[sl])  # [B, C, F]
        y = torch.from_numpy(corpus.y[sl])  # [B, C, H]
        if opt is not None:
            for gr in opt.param_groups:
                gr["lr"] = lr_at(step)
            pred, state = model(x, state)
            loss, cnt = masked_loss(pred, y)
            opt.zero_grad(set_to_none=True)
            if cnt:
                loss.backward()
                if grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                opt.step()
            state = detach_state(state)
            step += 1
        else:
            with torch.no_grad():
                pred, state = model(x, state)
                loss, cnt = masked_loss(pred, y)
        if cnt:
            total += float(loss)
            n += 1
        if on_step:
            on_step(s + 1, S, total / max(n, 1))
    return total / max(n, 1), step


# ============================================================================================ progress ====

class Progress:
    """A progress line on stderr: \\r updates on a terminal, one line per epoch otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # looked up now, so a redirected stderr is honoured
        self.tty = self.stream.isatty()
        self.last = 0.0

    def step(self, epoch, epochs, s, S, loss):
        if not self.tty or (time.time() - self.last < 0.2 and s < S):
            return
        self.last = time.time()
        w = 30
        done = int(w * s / max(S, 1))
        self.stream.write(f"\repoch {epoch}/{epochs} [{'#' * done}{'.' * (w - done)}] {s}/{S} loss {loss:.4f}")
        self.stream.flush()

    def epoch(self, text):
        self.stream.write(("\r" if self.tty else "") + text + ("\033[K" if self.tty else "") + "\n")
        self.stream.flush()


# ================================================================================================ setup ====

def param_groups(model, weight_decay):
    """AdamW groups: decay only matrix and convolution weights; none on A_log, D, norms, CEMA, biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and name.endswith(".weight") and "norm" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def find_tickrt(explicit):
    for cand in (explicit, os.environ.get("TICKRT_BINARY"), os.path.join(REPO, "build", "tickrt")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def scale_head(model, factor):
    """Multiplies the head's outputs by factor [H] (exported models predict basis points)."""
    f = torch.as_tensor(np.asarray(factor, dtype=np.float32))
    with torch.no_grad():
        model.head.weight.mul_(f[:, None])
        model.head.bias.mul_(f)


def fingerprint(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def build(args):
    """Everything fixed before training: data, split, normalisation, config, model (initialised)."""
    dirs = ds.load_all(args.data)
    test_from = ds.parse_time(args.test_from) if args.test_from else None
    split, streams = ds.compute_split(dirs, args.val_frac, args.test_frac, test_from)
    train_parts = ds.split_rows(dirs, streams, "train")
    data_outputs = dirs[0].outputs
    init_dir = args.init_from
    if args.config:
        try:
            with open(args.config) as f:
                cj = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise TrainError(f"{args.config}: cannot read config: {e}") from None
    elif init_dir:
        with open(os.path.join(init_dir, "config.json")) as f:
            cj = json.load(f)
    else:
        raise TrainError("--config is required (or --init-from a model directory)")
    names = [o["name"] for o in data_outputs]
    want = cj.get("outputs") or names
    for w in want:
        if w not in names:
            raise TrainError(f"{args.config}: output '{w}' is not in the data's outputs ({', '.join(names)})")
    label_cols = [names.index(w) for w in want]
    outputs = [data_outputs[c] for c in label_cols]
    if init_dir:  # fine-tuning keeps the pre-trained model's inputs and their normalisation
        spec_path = os.path.join(init_dir, "features.json")
        try:
            with open(spec_path) as f:
                features = json.load(f)["features"]
        except (OSError, json.JSONDecodeError, KeyError) as e:
            raise TrainError(f"{spec_path}: cannot read the pre-trained normalisation: {e}") from None
        for fe in features:
            if fe["name"] not in dirs[0].raw_features:
                raise TrainError(f"{spec_path}: feature '{fe['name']}' is not in the data")
        dropped = []
    else:
        names_sel = ds.select_features(dirs[0].raw_features, args.features)
        features, dropped = ds.fit_normalisation(dirs, train_parts, names_sel, args.clip)
    std = ds.label_std(dirs, train_parts, label_cols)
    cj = dict(cj, n_features=len(features), outputs=list(want))
    gap = dirs[0].meta.get("session_gap_s")
    if gap:
        cj["session_gap_s"] = gap
    else:
        cj.pop("session_gap_s", None)
    try:
        cfg = parse_config(cj, args.config or os.path.join(init_dir, "config.json"))
    except ConfigError as e:
        raise TrainError(str(e)) from None
    model = TickModel(cfg)
    if init_dir:
        try:
            pre = TickModel.from_dir(init_dir)
        except (ModelLoadError, ConfigError, OSError, ValueError) as e:
            raise TrainError(f"--init-from: {e}") from None
        if config_to_json(pre.cfg) != config_to_json(cfg):
            raise TrainError(f"--init-from {init_dir}: its architecture differs from the config to train")
        model.load_state_dict(pre.state_dict())
        scale_head(model, 1.0 / std)  # the pre-trained head predicts bp; training works in units of std_h
    else:
        model.init_weights(args.seed)
    split.update({"outputs": outputs, "label_std": [float(s) for s in std], "features": [f["name"] for f in features],
                  "dropped_features": dropped, "streams": [
                      {"data": os.path.abspath(dirs[s.dir_index].path), "instrument": s.symbol,
                       **{k: [int(a), int(b)] for k, (a, b) in s.runs.items()}} for s in streams]})
    return dirs, streams, split, features, outputs, label_cols, std, model


# ================================================================================================ train ====

def train(args):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    dirs, streams, split, features, outputs, label_cols, std, model = build(args)
    corpus = Corpus(dirs, features, label_cols, std)
    train_segs = ds.segments(dirs, streams, "train")
    val_segs = ds.segments(dirs, streams, "val")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"train: {split['rows']['train']} rows, val: {split['rows']['val']}, test: {split['rows']['test']} "
          f"(purged train {split['purged']['train']}, val {split['purged']['val']}); "
          f"boundaries {split['t_val']} / {split['t_test']}", file=sys.stderr)
    print(f"model: {n_params} parameters, {len(features)} features"
          + (f" (dropped constant: {', '.join(split['dropped_features'])})" if split["dropped_features"] else "")
          + f", outputs {[o['name'] for o in outputs]}", file=sys.stderr)
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95))
    lr_at = lambda step: args.lr * min(1.0, (step + 1) / max(1, args.warmup_steps))  # noqa: E731
    val_idx, val_fresh = make_lanes(corpus, val_segs, args.batch, args.chunk) if val_segs else (None, None)

    fp = fingerprint({"split": {k: split[k] for k in ("t_val_ns", "t_test_ns", "rows")},
                      "features": features, "config": config_to_json(model.cfg), "seed": args.seed,
                      "batch": args.batch, "chunk": args.chunk, "lr": args.lr, "epoch_rows": args.epoch_rows,
                      "weight_decay": args.weight_decay, "grad_clip": args.grad_clip,
                      "warmup_steps": args.warmup_steps})
    ck = {"epoch": 0, "step": 0, "best_val": math.inf, "best_epoch": 0, "bad_epochs": 0, "history": [],
          "best_state": copy.deepcopy(model.state_dict())}
    checkpoint = args.checkpoint or args.out.rstrip("/") + ".checkpoint.pt"
    if args.resume:
        saved = torch.load(args.resume)
        if saved.get("fingerprint") != fp:
            raise TrainError(f"{args.resume}: checkpoint is from a different data/config/hyper-parameter set")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        np.random.set_state(saved["numpy_rng"])
        ck = {k: saved[k] for k in ck}
        print(f"resumed from {args.resume} after epoch {ck['epoch']}", file=sys.stderr)

    prog = Progress()
    start = time.time()
    stopped = ""
    epoch = ck["epoch"]
    while epoch < args.epochs:
        if ck["bad_epochs"] >= args.patience and val_idx is not None:
            stopped = f"early stop: no validation improvement for {args.patience} epochs"
            break
        epoch += 1
        t0 = time.time()
        rng = np.random.default_rng([args.seed, epoch])  # the epoch's layout depends on (seed, epoch) only
        idx, fresh = make_lanes(corpus, train_segs, args.batch, args.chunk, rng, args.epoch_rows)
        model.train()
        tr_loss, ck["step"] = run_lanes(model, corpus, idx, fresh, args.chunk, opt, args.grad_clip,
                                        lambda s, S, l: prog.step(epoch, args.epochs, s, S, l), lr_at, ck["step"])
        model.eval()
        va_loss = run_lanes(model, corpus, val_idx, val_fresh, args.chunk)[0] if val_idx is not None else tr_loss
        improved = va_loss < ck["best_val"]
        if improved:
            ck.update(best_val=va_loss, best_epoch=epoch, bad_epochs=0, best_state=copy.deepcopy(model.state_dict()))
        else:
            ck["bad_epochs"] += 1
        ck["epoch"] = epoch
        ck["history"].append({"epoch": epoch, "train_loss": tr_loss, "val_loss": va_loss,
                              "seconds": round(time.time() - t0, 2), "rows": int((idx != corpus.pad).sum())})
        prog.epoch(f"epoch {epoch}/{args.epochs} train {tr_loss:.4f} val {va_loss:.4f}"
                   f"{' *' if improved else ''} ({time.time() - t0:.1f} s, {ck['history'][-1]['rows']} rows)")
        torch.save({**ck, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "fingerprint": fp},
                   checkpoint)
        if args.stop_after_epoch and epoch >= args.stop_after_epoch and epoch < args.epochs:
            print(f"stopping after epoch {epoch} as asked; resume with --resume {checkpoint}", file=sys.stderr)
            return 0
        if args.max_minutes and time.time() - start > args.max_minutes * 60:
            stopped = f"time limit of {args.max_minutes} min reached"
            break
    if stopped:
        print(stopped, file=sys.stderr)

    model.load_state_dict(ck["best_state"])
    scale_head(model, std)  # exported outputs are in basis points
    log = {"args": {k: v for k, v in vars(args).items()}, "parameters": n_params, "history": ck["history"],
           "best_epoch": ck["best_epoch"], "best_val_loss": ck["best_val"], "stopped": stopped or "epochs done",
           "train_seconds": round(time.time() - start, 1), "torch": torch.__version__,
           "threads": torch.get_num_threads()}
    return export(args, model, dirs, streams, split, features, outputs, log)


# =============================================================================================== export ====

def write_model_dir(path, model, features, outputs, split, log):
    model.save_dir(path)
    with open(os.path.join(path, "features.json"), "w") as f:
        json.dump({"format": ds.FEATURES_FORMAT, "features": features, "outputs": outputs}, f, indent=2)
        f.write("\n")
    for name, obj in (("split.json", split), ("train_log.json", log)):
        with open(os.path.join(path, name), "w") as f:
            json.dump(obj, f, indent=2, default=str)
            f.write("\n")


def parity_slice(dirs, streams, features, min_rows=2000, max_rows=4000):
    """The longest reset-free validation run (else training), cut to at most max_rows -> float32 [n, F]."""
    for name in ("val", "train"):
        segs = ds.segments(dirs, streams, name)
        if segs:
            di, rows = max(segs, key=lambda s: len(s[1]))
            rows = rows[:max_rows]
            d = dirs[di]
            return ds.normalise(d.x_raw[rows], d.raw_features, features), len(rows) >= min_rows
    raise TrainError("no rows to check parity on")


def check_parity(model_dir, model, x, tickrt, workdir):
    """Runs `tickrt infer` on x [n, F] and compares with PyTorch from a fresh state. -> max abs difference."""
    xp = os.path.join(workdir, "Xval.npy")
    yp = os.path.join(workdir, "Yc.npy")
    np.save(xp, np.ascontiguousarray(x, dtype=np.float32))
    cmd = [tickrt, "infer", "--model", model_dir, "--features", xp, "--out", yp]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise TrainError(f"parity: `{' '.join(cmd)}` failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    yc = np.load(yp)
    with torch.no_grad():
        yt, state, outs = None, None, []
        xt = torch.from_numpy(x)[None]
        for s in range(0, x.shape[0], 512):
            yt, state = model(xt[:, s:s + 512], state)
            outs.append(yt[0])
        yt = torch.cat(outs).numpy()
    if yc.shape != yt.shape:
        raise TrainError(f"parity: tickrt infer wrote shape {list(yc.shape)}, PyTorch gives {list(yt.shape)}")
    return float(np.max(np.abs(yc.astype(np.float64) - yt.astype(np.float64)))) if yt.size else 0.0


def export(args, model, dirs, streams, split, features, outputs, log):
    out = args.out.rstrip("/")
    if os.path.exists(out) and os.listdir(out):
        if not args.overwrite:
            raise TrainError(f"{out}: exists and is not empty (use --overwrite)")
        shutil.rmtree(out)
    stage = out + ".partial"
    shutil.rmtree(stage, ignore_errors=True)
    model.eval()
    write_model_dir(stage, model, features, outputs, split, log)
    if args.skip_parity:
        log["parity"] = {"skipped": "--skip-parity"}
        print("parity: skipped (--skip-parity)", file=sys.stderr)
    else:
        tickrt = find_tickrt(args.tickrt)
        if tickrt is None:
            shutil.rmtree(stage)
            raise TrainError("parity: no tickrt binary (give --tickrt, set TICKRT_BINARY, or build build/tickrt); "
                             "--skip-parity exports without the check")
        x, enough = parity_slice(dirs, streams, features)
        with tempfile.TemporaryDirectory() as tmp:
            diff = check_parity(stage, model, x, tickrt, tmp)
        log["parity"] = {"binary": tickrt, "rows": int(x.shape[0]), "max_abs_diff": diff, "tolerance": PARITY_TOL}
        note = "" if enough else " (fewer than 2,000 reset-free rows available)"
        if not diff <= PARITY_TOL:
            failed = out + ".parity-failed"
            shutil.rmtree(failed, ignore_errors=True)
            write_model_dir(stage, model, features, outputs, split, log)
            with open(os.path.join(stage, "PARITY_FAILED.txt"), "w") as f:
                f.write(f"tickrt infer differs from PyTorch by {diff:g} > {PARITY_TOL:g} on {x.shape[0]} rows\n")
            os.replace(stage, failed)
            print(f"parity FAILED: max |tickrt - torch| = {diff:g} > {PARITY_TOL:g} on {x.shape[0]} rows{note}; "
                  f"export moved to {failed}", file=sys.stderr)
            return 3
        print(f"parity: max |tickrt - torch| = {diff:.3g} on {x.shape[0]} rows{note}", file=sys.stderr)
    write_model_dir(stage, model, features, outputs, split, log)
    os.replace(stage, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


# ================================================================================================== CLI ====

def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="train.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  /usr/bin/python3 tools/train/train.py --data feats/ --config models/default.config.json "
               "--out models/m --test-from 2014-05-08T00:00:00-05:00 --epochs 10")
    ap.add_argument("--data", action="append", required=True, help="a `tickrt features` directory (repeatable)")
    ap.add_argument("--config", help="model config.json (n_features and outputs are set from the data)")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--epoch-rows", type=int, default=0, help="train on a random ~N rows per epoch (0: all)")
    ap.add_argument("--chunk", type=int, default=256, help="truncated-BPTT chunk length (ticks)")
    ap.add_argument("--batch", type=int, default=8, help="lanes trained in parallel")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-steps", type=int, default=100, help="linear learning-rate warm-up")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--patience", type=int, default=3, help="early stop after N epochs without improvement")
    ap.add_argument("--init-from", help="start from this model directory's weights and normalisation")
    ap.add_argument("--features", default="all", help="comma-separated raw feature names, or 'all'")
    ap.add_argument("--clip", type=float, default=5.0, help="clip normalised features to +-N (0: none)")
    ap.add_argument("--val-frac", type=float, default=0.15)
    ap.add_argument("--test-frac", type=float, default=0.15)
    ap.add_argument("--test-from", "--test-day-from", dest="test_from",
                    help="test split = everything from this ISO date/time on (no offset: UTC)")
    ap.add_argument("--checkpoint", help="checkpoint file (default OUT.checkpoint.pt)")
    ap.add_argument("--resume", help="continue from this checkpoint (same data, config and options)")
    ap.add_argument("--stop-after-epoch", type=int, default=0, help="stop after epoch N (resume later)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop after the epoch that passes this time")
    ap.add_argument("--tickrt", help="tickrt binary for the parity check (else $TICKRT_BINARY, build/tickrt)")
    ap.add_argument("--skip-parity", action="store_true", help="export without the tickrt parity check")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    for k in ("epochs", "chunk", "batch", "threads"):
        if getattr(args, k) < 1:
            ap.error(f"--{k} must be >= 1")
    if not args.lr > 0 or args.clip < 0 or args.patience < 1 or args.epoch_rows < 0:
        ap.error("--lr must be > 0, --clip >= 0, --patience >= 1, --epoch-rows >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        return train(args)
    except (ds.DataError, TrainError, ConfigError, ModelLoadError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
