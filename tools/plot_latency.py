#!/usr/bin/python3
"""Draws a `tickrt profile` directory's latency against percentile (the usual HdrHistogram plot).

    /usr/bin/python3 tools/plot_latency.py PROFILE_DIR [--out PROFILE_DIR/latency.png]

Reads PROFILE_DIR/summary.json (series names, which are floors) and each series' .hgrm file (values in us).
x axis: 1 / (1 - percentile) on a log scale, ticked 0%, 90%, 99%, 99.9%, 99.99%, 99.999%; y: latency in us
(log scale). One line per series; transport floors dashed. Matplotlib with the Agg backend (no display).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_hgrm(path):
    """Returns [(value_us, percentile 0..1)] from the rows of an .hgrm file."""
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or line.lstrip().startswith("#"):
                continue
            try:
                value, pct = float(parts[0]), float(parts[1])
                int(parts[2])
            except ValueError:
                continue
            rows.append((value, pct))
    if not rows:
        raise ValueError(f"{path}: no percentile rows")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a `tickrt profile --out` directory")
    ap.add_argument("--out", help="PNG to write (default DIR/latency.png)")
    ap.add_argument("--skip", default="e2e_uncorrected", help="comma list of series not to draw")
    args = ap.parse_args()
    with open(os.path.join(args.dir, "summary.json")) as f:
        summary = json.load(f)
    skip = set(filter(None, args.skip.split(",")))
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.set_prop_cycle(color=[plt.cm.tab20(i) for i in range(0, 20, 2)] + [plt.cm.tab20(i) for i in range(1, 20, 2)])
    max_x = 10.0
    for s in summary["series"]:
        if s["name"] in skip or s["count"] == 0:
            continue
        rows = read_hgrm(os.path.join(args.dir, s["file"]))
        # 1/(1-p) is infinite at p = 1: the 100% row is drawn at the last finite x.
        xs, ys = [], []
        for value, pct in rows:
            if pct >= 1.0:
                continue
            xs.append(1.0 / (1.0 - pct))
            ys.append(max(value, 1e-3))
        if not xs:
            continue
        max_x = max(max_x, xs[-1])
        ax.plot(xs, ys, linestyle="--" if s["floor"] else "-", linewidth=1.5,
                label=f'{s["name"]} (p50 {s["p50"]:.1f}, p99 {s["p99"]:.1f} us)')
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [t for t in (1, 10, 100, 1000, 10000, 100000) if t <= max_x * 1.01]
    labels = {1: "0%", 10: "90%", 100: "99%", 1000: "99.9%", 10000: "99.99%", 100000: "99.999%"}
    ax.set_xticks(ticks)
    ax.set_xticklabels([labels[t] for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(1, max(max_x, 10))
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (us)")
    o = summary["options"]
    c = summary["counts"]
    ax.set_title(f'tickrt profile: {o["rate"]:.0f} ticks/s, {o["instruments"]} instruments, {o["transport"]}, '
                 f'{c["sent"]} sent, {c["missing"]} missing')
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out = args.out or os.path.join(args.dir, "latency.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError) as e:
        print(f"plot_latency.py: {e}", file=sys.stderr)
        sys.exit(1)
