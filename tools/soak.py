#!/usr/bin/python3
"""Soak test of the live engine (`make soak`): a steady feed with hostile messages mixed in, for a long time.

Starts `tickrt run` on a model made by `tickrt init-model` from models/default/config.json, a signal subscriber
(`tickrt subscribe --json`, read here) and `tickrt gen --rate R --hostile-every N` for SOAK_SECONDS, sampling
the engine's resident memory (/proc/PID/status VmRSS) every few seconds. At the end it checks that
  - every valid tick sent got exactly one signal (by seq: none missing, none twice),
  - the engine's decoder refused exactly the hostile messages sent, and the pipeline refused nothing,
  - resident memory at the end <= resident memory after warm-up + max(2 MiB, 5 %) (not enforced under
    sanitizers, TICKRT_SANITIZED=1, whose shadow memory grows by design),
prints one line (RSS start/end, ticks, signals, rejects, PASS/FAIL) and exits 1 on FAIL.

Usage: tools/soak.py --tickrt build/tickrt [--seconds 600] [--rate 2000] [--hostile-every 20]
SOAK_SECONDS in the environment sets the default duration.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1024 * 1024


def rss_bytes(pid):
    """Resident set size of a live process, bytes (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class SignalCounter(threading.Thread):
    """Reads `tickrt subscribe --json` lines: signals counted by seq (unique per generator run)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.seen = set()
        self.signals = 0
        self.duplicates = 0
        self.not_signals = 0

    def run(self):
        for line in self.stream:
            try:
                msg = json.loads(line)
            except ValueError:
                self.not_signals += 1
                continue
            if msg.get("type") != "signal":
                self.not_signals += 1
                continue
            self.signals += 1
            key = (msg["symbol"], msg["seq"])
            if key in self.seen:
                self.duplicates += 1
            self.seen.add(key)


def counter_sum(line, name):
    """Sum of `name{...}=V` (or `name=V`) entries of an engine log line (zero counters are left out there)."""
    return sum(float(v) for v in re.findall(r"(?<![\w])" + re.escape(name) + r"(?:\{[^}]*\})?=([0-9.e+]+)", line))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickrt", required=True, help="the tickrt binary")
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "..", "models", "default",
                                                       "config.json"), help="model config to initialise")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--rate", type=float, default=2000, help="valid ticks per second")
    ap.add_argument("--instruments", type=int, default=20)
    ap.add_argument("--hostile-every", type=int, default=20, help="one invalid message after every N ticks")
    ap.add_argument("--sample-every", type=float, default=2.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before the reference RSS sample (default: 10 %% of the run, at least 3 s)")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else max(3.0, 0.1 * args.seconds)

    with tempfile.TemporaryDirectory(prefix="tickrt-soak-") as tmp:
        model = os.path.join(tmp, "model")
        subprocess.run([args.tickrt, "init-model", "--config", args.config, "--seed", "1", "--out", model],
                       check=True, stdout=subprocess.DEVNULL)
        ticks_ep, signals_ep = f"ipc://{tmp}/ticks", f"ipc://{tmp}/signals"
        engine_log = open(os.path.join(tmp, "engine.log"), "w+")
        engine = subprocess.Popen([args.tickrt, "run", "--model", model, "--sub", ticks_ep, "--pub", signals_ep,
                                   "--max-instruments", "64", "--log-every", "60"],
                                  stderr=engine_log, stdout=engine_log)
        sub = subprocess.Popen([args.tickrt, "subscribe", "--sub", signals_ep, "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, bufsize=1)
        counter = SignalCounter(sub.stdout)
        counter.start()
        time.sleep(2.0)  # both sockets connected (ipc: immediate), the signal subscription has reached the engine
        gen = subprocess.Popen([args.tickrt, "gen", "--pub", "@" + ticks_ep, "--rate", str(args.rate),
                                "--duration", str(args.seconds), "--instruments", str(args.instruments),
                                "--hostile-every", str(args.hostile_every), "--wait-subscribers", "1",
                                "--live-clock", "--burstiness", "0", "--seed", "7"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        start = time.monotonic()
        samples = []  # (seconds since start, RSS bytes)
        rss_start = None
        while gen.poll() is None:
            t = time.monotonic() - start
            r = rss_bytes(engine.pid)
            if r is None:
                break
            samples.append((t, r))
            if rss_start is None and t >= warmup:
                rss_start = r
            time.sleep(args.sample_every)
        gen_out = gen.communicate()[0]
        rss_end = rss_bytes(engine.pid)
        sent = int(re.search(r"gen: sent (\d+)", gen_out).group(1))
        hostile = int(re.search(r"hostile sent (\d+)", gen_out).group(1))
        # The last signals are on their way: give them a moment.
        deadline = time.monotonic() + 15
        while len(counter.seen) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=30)
        sub.send_signal(signal.SIGTERM)
        sub.wait(timeout=10)
        counter.join(timeout=10)
        engine_log.seek(0)
        log = engine_log.read()

    stopped = [l for l in log.splitlines() if l.startswith("tickrt run: stopped:")]
    final = stopped[-1] if stopped else ""
    decode_rejects = int(counter_sum(final, "tickrt_decode_rejects_total"))
    pipeline_rejects = int(counter_sum(final, "tickrt_pipeline_rejects_total"))
    missing_seq = int(counter_sum(final, "tickrt_sequence_missing_ticks_total"))
    engine_signals = int(counter_sum(final, "tickrt_signals_total"))
    if rss_start is None and samples:
        rss_start = samples[-1][1]
    rss_start = rss_start or 0
    rss_end = rss_end or (samples[-1][1] if samples else 0)
    tolerance = max(2 * MIB, 0.05 * rss_start)
    missing = sent - len(counter.seen)

    failures = []
    if not final:
        failures.append("no final engine log line (did it crash?)")
    if engine.returncode != 0:
        failures.append(f"engine exit code {engine.returncode}")
    if missing != 0 or counter.duplicates != 0:
        failures.append(f"{missing} ticks without a signal, {counter.duplicates} duplicate signals")
    if engine_signals != sent:
        failures.append(f"engine counted {engine_signals} signals for {sent} ticks")
    if decode_rejects != hostile:
        failures.append(f"engine refused {decode_rejects} messages, {hostile} hostile sent")
    if pipeline_rejects != 0 or missing_seq != 0:
        failures.append(f"pipeline refused {pipeline_rejects} ticks, {missing_seq} counted missing")
    # Under ASan/TSan (make sanitize / make tsan set TICKRT_SANITIZED=1) resident memory is mostly the
    # sanitizer's shadow and quarantine, which grow by design: the bound is printed but not enforced there.
    sanitized = os.environ.get("TICKRT_SANITIZED") == "1"
    if rss_end > rss_start + tolerance and not sanitized:
        failures.append(f"resident memory grew {(rss_end - rss_start) / MIB:.2f} MiB (limit {tolerance / MIB:.2f})")
    if sent < 0.9 * args.rate * args.seconds:
        failures.append(f"only {sent} ticks sent of {args.rate * args.seconds:.0f} scheduled")

    verdict = "PASS" if not failures else "FAIL"
    print(f"soak: {verdict} {args.seconds:.0f} s at {args.rate:.0f} ticks/s: RSS start {rss_start / MIB:.1f} MiB "
          f"(after {warmup:.0f} s) end {rss_end / MIB:.1f} MiB ({(rss_end - rss_start) / MIB:+.2f} MiB, limit "
          f"+{tolerance / MIB:.2f}) | ticks {sent} signals {len(counter.seen)} (missing {missing}, duplicates "
          f"{counter.duplicates}) | rejects {decode_rejects} of {hostile} hostile, pipeline rejects "
          f"{pipeline_rejects} | RSS samples {len(samples)}")
    for f in failures:
        print(f"soak: FAIL: {f}")
    if failures:
        print("soak: engine log:\n" + log[-4000:], file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
