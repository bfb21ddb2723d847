#!/usr/bin/python3
"""Cross-check tickrt's HdrHistogram against the PyPI `hdrhistogram` reference (module `hdrh`).

Loads the same samples into the reference histogram, then checks:
  1. footer: buckets, sub-buckets, total count, max, mean, stddev equal the reference's;
  2. every .hgrm row equals the row the reference counts give under Java's PercentileIterator
     (re-implemented here, because hdrh's own iterator drops Java's integer truncation of the tick scale);
  3. every (percentile, value) of ours equals Java getValueAtPercentile on the reference counts, and reports
     where hdrh's own get_value_at_percentile (round-half target count, as in HdrHistogram_c) differs.

Usage (samples: raw little-endian int64; ours: lines "percentile value"):
  hgrm_check.py --samples s.i64 --hgrm ours.hgrm --ours ours.txt --lowest 1 --highest 3600000000 \
                --digits 3 --scale 1000
Exit: 0 agree, 1 disagree, 77 reference module not importable (the caller reports SKIPPED).
Install the reference without touching the system: pip install --target /tmp/hdrpy hdrhistogram, then
PYTHONPATH=/tmp/hdrpy.
"""
import argparse
import math
import sys

try:
    from hdrh.histogram import HdrHistogram
except ImportError as e:  # optional reference: the caller turns this into a SKIP
    print(f"SKIPPED: python module hdrh (PyPI hdrhistogram) not importable: {e}")
    sys.exit(77)
import numpy as np


def java_percentile_rows(ref, ticks):
    """Java PercentileIterator over the reference counts: [(value, level, cumulative)]."""
    total = ref.get_total_count()
    rows, level, cum, last = [], 0.0, 0, 0
    for i in range(ref.counts_len):
        if cum >= total:
            break
        c = ref.get_count_at_index(i)
        if c == 0:
            continue
        cum += c
        last = ref.get_highest_equivalent_value(ref.get_value_from_index(i))
        current = 100.0 * cum / total
        while level < 100.0 and current >= level:
            rows.append((last, level, cum))
            halvings = int(math.log(100.0 / (100.0 - level)) / math.log(2)) + 1
            level += 100.0 / (ticks * int(math.pow(2, halvings)))
            if cum == total:
                break
    rows.append((last, 100.0, total))
    return rows


def java_value_at_percentile(ref, p):
    requested = min(max(math.nextafter(p, -math.inf), 0.0), 100.0)
    target = max(1, math.ceil(requested / 100.0 * ref.get_total_count()))
    cum = 0
    for i in range(ref.counts_len):
        cum += ref.get_count_at_index(i)
        if cum >= target:
            v = ref.get_value_from_index(i)
            return ref.get_lowest_equivalent_value(v) if p == 0.0 else ref.get_highest_equivalent_value(v)
    return 0


def format_row(value, level, count, scale, digits):
    p = level / 100.0
    if level != 100.0:
        return f"{value / scale:12.{digits}f} {p:2.12f} {count:10d} {1.0 / (1.0 - p):14.2f}"
    return f"{value / scale:12.{digits}f} {p:2.12f} {count:10d}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--hgrm", required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--lowest", type=int, required=True)
    ap.add_argument("--highest", type=int, required=True)
    ap.add_argument("--digits", type=int, required=True)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--ticks", type=int, default=5)
    a = ap.parse_args()

    ref = HdrHistogram(a.lowest, a.highest, a.digits)
    for v in np.fromfile(a.samples, dtype="<i8").tolist():
        if not ref.record_value(v):
            print(f"FAIL: reference refused sample {v}")
            return 1
    failures = []

    lines = [l.rstrip("\n") for l in open(a.hgrm)]
    rows = [l for l in lines[2:] if l and not l.startswith("#")]
    footer = {l.split("=")[0].strip("#[ "): l for l in lines if l.startswith("#[")}
    expect_rows = [format_row(v, lvl, c, a.scale, a.digits) for v, lvl, c in java_percentile_rows(ref, a.ticks)]
    if len(rows) != len(expect_rows):
        failures.append(f"row count {len(rows)} vs reference {len(expect_rows)}")
    for k, (ours, exp) in enumerate(zip(rows, expect_rows)):
        if ours != exp:
            failures.append(f"row {k}: ours '{ours}' reference '{exp}'")
            break
    d = a.digits
    exp_mean = f"#[Mean    = {ref.get_mean_value() / a.scale:12.{d}f}, StdDeviation   = {ref.get_stddev() / a.scale:12.{d}f}]"
    exp_max = f"#[Max     = {ref.get_max_value() / a.scale:12.{d}f}, Total count    = {ref.get_total_count():12d}]"
    exp_buckets = f"#[Buckets = {ref.bucket_count:12d}, SubBuckets     = {ref.sub_bucket_count:12d}]"
    for key, exp in (("Mean", exp_mean), ("Max", exp_max), ("Buckets", exp_buckets)):
        if footer.get(key) != exp:
            failures.append(f"footer: ours '{footer.get(key)}' reference '{exp}'")

    round_half_differs = 0
    n_ours = 0
    for line in open(a.ours):
        p_s, v_s = line.split()
        p, v = float(p_s), int(v_s)
        n_ours += 1
        java = java_value_at_percentile(ref, p)
        if v != java:
            failures.append(f"value_at_percentile({p}): ours {v} reference (Java semantics) {java}")
        if ref.get_value_at_percentile(p) != java:
            round_half_differs += 1

    print(f"reference hdrh: {len(expect_rows)} .hgrm rows, footer and {n_ours} percentiles compared; "
          f"hdrh round-half percentile differs from Java ceil at {round_half_differs} of {n_ours}")
    for f in failures[:10]:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
