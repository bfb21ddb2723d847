#!/usr/bin/env bash
# Scale-out throughput on this host: 1 and 2 engines (tickrt run --shard i/n) behind `tickrt proxy`, fed open
# loop well above capacity, and the CPU cost of one tick in one engine (to size larger hosts).
#
#   tools/bench-scaleout.sh [--bin build/tickrt] [--model DIR] [--rate 200000] [--seconds 5] [--engines "1 2"]
#                           [--instruments 1000] [--pin]
#
# For each engine count n: a proxy, n engines (--max-batch 256; --pin pins engine i to CPU i), a subscriber on
# the proxy's backend, and `tickrt gen` at --rate for --seconds. Reports signals/s arriving through the proxy
# during the generator's run (the subscriber counts for exactly that long), and per engine the CPU time
# (utime+stime from /proc/PID/stat, clock ticks) divided by the ticks it handled (tickrt_signals_total +
# tickrt_not_owned_total from its /metrics): the cost per tick per core. Without --model the benchmark model
# of `make bench` (tools/bench_model.json: d_model 64, one layer of each kind) is made with init-model.
set -euo pipefail
bin=build/tickrt; model=""; rate=200000; seconds=5; engines="1 2"; instruments=1000; pin=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --instruments) instruments=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-scaleout.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d /tmp/tickrt-bench-scaleout.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [[ -z "$model" ]]; then
  model=$work/model
  "$bin" init-model --config "$(dirname "$0")/bench_model.json" --out "$model" >/dev/null
fi
hz=$(getconf CLK_TCK)
base=$((20000 + RANDOM % 20000))
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "commit: $(git -C "$(dirname "$0")/.." rev-parse HEAD 2>/dev/null || echo unknown)"
echo "model: $model; generator: $instruments instruments, open loop $rate ticks/s for $seconds s; --max-batch 256"
for n in $engines; do
  ticks=tcp://127.0.0.1:$base; front=tcp://127.0.0.1:$((base + 1)); back=tcp://127.0.0.1:$((base + 2))
  base=$((base + 10))
  pids=()
  "$bin" proxy --frontend "@$front" --backend "@$back" 2>"$work/proxy-$n.log" &
  pids+=($!)
  epids=()
  for ((i = 0; i < n; i++)); do
    args=(run --model "$model" --sub ">$ticks" --pub ">$front" --shard "$i/$n" --max-batch 256
          --max-instruments $((instruments + 16)) --metrics "127.0.0.1:$((base + i))" --log-every 0)
    [[ $pin == 1 ]] && args+=(--cpu "$i")
    "$bin" "${args[@]}" 2>"$work/engine-$n-$i.log" &
    epids+=($!); pids+=($!)
  done
  sleep 1  # engines connect to the (not yet bound) tick endpoint and the proxy; gen waits for their subscriptions
  "$bin" subscribe --sub ">$back" --quiet --timeout "$seconds" >"$work/sub-$n.log" 2>&1 &
  sub=$!
  "$bin" gen --pub "@$ticks" --instruments "$instruments" --rate "$rate" --duration "$seconds" \
      --wait-subscribers "$n" --hwm 0 --linger 0 >"$work/gen-$n.log" 2>&1 || true
  wait "$sub" || true
  got=$(grep -o 'total [0-9]* messages' "$work/sub-$n.log" | grep -o '[0-9]*' || echo 0)
  echo "engines $n: $(cat "$work/gen-$n.log" | tail -1)"
  echo "engines $n: $got signals through the proxy in $seconds s = $(( got / seconds )) signals/s"
  for ((i = 0; i < n; i++)); do
    p=${epids[$i]}
    cpu=$(awk '{print $14 + $15}' "/proc/$p/stat")
    m=$(curl -s "http://127.0.0.1:$((base + i))/metrics")
    sig=$(awk '/^tickrt_signals_total /{print $2}' <<<"$m")
    no=$(awk '/^tickrt_not_owned_total /{print $2}' <<<"$m")
    awk -v c="$cpu" -v hz="$hz" -v s="$sig" -v o="$no" -v i="$i" -v n="$n" 'BEGIN {
      t = s + o; printf "engines %d: engine %d: %.0f signals, %.0f not owned, %.2f CPU s, %.2f us CPU per tick handled, %.2f us per signal\n",
        n, i, s, o, c / hz, (t > 0 ? c / hz / t * 1e6 : 0), (s > 0 ? c / hz / s * 1e6 : 0) }'
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
done
