#!/usr/bin/env bash
# `make bench`: the benchmark suite, one table (tickrt bench-suite) of
#   - CPU step latency of the model in tools/bench_model.json against batch size (1, 16, 256, 4096 instruments),
#     next to the weight-streaming floor and the PyTorch step form (tools/train/tickmodel.py bench-step);
#   - step latency after 1K, 100K and 1M ticks of history (flat: state never grows);
#   - attention refresh cost against window (256 .. 65,536 ticks, one attention layer, P = 1);
#   - decode-only throughput of a real journal (FXCM EUR/USD, imported here) and backtest throughput
#     (`tickrt replay --model`, "pending" while this build has no replay);
#   - engine and end-to-end latency from a 5-second `tickrt profile` (20,000 ticks/s, 100 instruments, tcp).
# Goals are printed beside the numbers, never asserted. About 2-3 minutes on 2 cores.
# Usage: tools/bench.sh BUILD_DIR [BENCH_JSON_OUT]
set -euo pipefail
build=${1:-build}
json_out=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
tickrt="$build/tickrt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { echo "bench: $*" >&2; }

step "benchmark model from tools/bench_model.json"
"$tickrt" init-model --config "$here/tools/bench_model.json" --seed 1 --out "$tmp/model" >/dev/null

step "PyTorch eager step (tickmodel.py bench-step, 500 ticks)"
torch_json=$(/usr/bin/python3 "$here/tools/train/tickmodel.py" bench-step --model "$tmp/model" --ticks 500)
torch_us=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["us_per_tick"])' "$torch_json")

step "journal: tickrt import --format fxcm fxcm_eurusd_20140505_quote.csv"
"$tickrt" import --format fxcm "$here/../shared/data/fxcm_eurusd_20140505_quote.csv" --out "$tmp/eurusd.ticks" >/dev/null

step "profile: 5 s at 20,000 ticks/s over 100 instruments, tcp"
pin=()
if [ "$(nproc)" -ge 2 ]; then pin=(--cpu-engine 1 --cpu-gen 0 --cpu-sub 0); fi
"$tickrt" profile --instruments 100 --rate 20000 --duration 5 --transport tcp "${pin[@]}" --no-plot \
    --out "$tmp/profile" >"$tmp/profile.txt" || step "profile: some ticks went unanswered (see the table)"

backtest=()
if "$tickrt" replay --help 2>/dev/null | grep -q -- '--model'; then
  step "backtest: tickrt replay --model (the profile's model)"
  records=$("$tickrt" inspect "$tmp/eurusd.ticks" 2>/dev/null | sed -n 's/.*records[^0-9]*\([0-9][0-9]*\).*/\1/p' | head -1)
  model=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["options"]["model"])' \
      "$tmp/profile/summary.json")
  t0=$(date +%s.%N)
  "$tickrt" replay "$tmp/eurusd.ticks" --model "$model" --signals "$tmp/signals.npy" >/dev/null
  t1=$(date +%s.%N)
  if [ -n "$records" ]; then
    backtest=(--backtest-ticks-per-s "$(/usr/bin/python3 -c "print($records / ($t1 - $t0))")")
  fi
fi

step "suite"
"$tickrt" bench-suite --model "$tmp/model" --torch-us "$torch_us" --journal "$tmp/eurusd.ticks" \
    --profile-summary "$tmp/profile/summary.json" "${backtest[@]}" ${json_out:+--json "$json_out"}
