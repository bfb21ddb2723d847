#!/usr/bin/env bash
# Runs n tickrt engines and one proxy on this host as background processes (scale-out, README "Scale-out").
#
#   tools/scaleout.sh start -n 3 --model models/default --sub tcp://127.0.0.1:5555 [options]
#   tools/scaleout.sh status
#   tools/scaleout.sh stop
#
# Engine i runs `tickrt run --shard i/n` with its own snapshot dir ($DIR/snap/i), metrics port
# (METRICS_BASE + i), log ($DIR/log/engine-i.log) and pid file ($DIR/run/engine-i.pid); every engine
# publishes into the proxy's frontend, subscribers connect to the proxy's backend.
# stop sends SIGTERM (engines write their snapshots) and waits up to 30 s for each process.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'USAGE'
Options (start):
  -n N                 number of engines (default 2)
  --model DIR          model directory (required)
  --sub EP             tick feed the engines subscribe to (default connect; required)
  --frontend EP        proxy XSUB endpoint engines publish into (default tcp://127.0.0.1:5560)
  --backend EP         proxy XPUB endpoint subscribers connect to (default tcp://127.0.0.1:5561)
  --metrics-base PORT  engine i serves /metrics on 127.0.0.1:PORT+i (default 9100)
  --dir DIR            state, logs and pid files (default ./scaleout; also for status/stop)
  --bin PATH           tickrt binary (default build/tickrt)
  --pin                pin engine i to CPU i mod nproc
  -- ARGS              further arguments for every `tickrt run`
USAGE
}

cmd=${1:-}
[[ -n "$cmd" ]] || { usage; exit 2; }
shift
n=2; model=""; sub=""; frontend="tcp://127.0.0.1:5560"; backend="tcp://127.0.0.1:5561"
metrics_base=9100; dir=./scaleout; bin=build/tickrt; pin=0; extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) n=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --sub) sub=$2; shift 2 ;;
    --frontend) frontend=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --metrics-base) metrics_base=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "scaleout.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The address a connecting peer uses for an endpoint the proxy binds: strip any '@' and add '>'.
connect_to() { local ep=${1#@}; ep=${ep#>}; echo ">$ep"; }

start() {
  [[ -n "$model" && -n "$sub" ]] || { echo "scaleout.sh start: --model and --sub are required" >&2; exit 2; }
  mkdir -p "$dir/log" "$dir/run" "$dir/snap"
  if alive "$dir/run/proxy.pid"; then echo "scaleout.sh: already running (stop first)" >&2; exit 1; fi
  "$bin" proxy --frontend "$frontend" --backend "$backend" >"$dir/log/proxy.log" 2>&1 &
  echo $! >"$dir/run/proxy.pid"
  local cpus; cpus=$(nproc)
  for ((i = 0; i < n; i++)); do
    local args=(run --model "$model" --sub "$sub" --pub "$(connect_to "$frontend")" --shard "$i/$n"
                --snapshot "$dir/snap/$i" --metrics "127.0.0.1:$((metrics_base + i))")
    [[ $pin == 1 ]] && args+=(--cpu $((i % cpus)))
    "$bin" "${args[@]}" "${extra[@]}" >"$dir/log/engine-$i.log" 2>&1 &
    echo $! >"$dir/run/engine-$i.pid"
  done
  echo "$n" >"$dir/run/count"
  sleep 0.5
  status
  echo "subscribers: tickrt subscribe --sub '$(connect_to "$backend")'"
}

status() {
  for f in "$dir"/run/*.pid; do
    [[ -e "$f" ]] || { echo "nothing running under $dir"; return 0; }
    local name; name=$(basename "$f" .pid)
    if alive "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: not running (see $dir/log/$name.log)"; fi
  done
}

stop_one() {
  local f=$1
  alive "$f" || { rm -f "$f"; return 0; }
  local pid; pid=$(cat "$f")
  kill -TERM "$pid"
  for ((t = 0; t < 300; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "$(basename "$f" .pid): still running after 30 s, SIGKILL" >&2; kill -KILL "$pid"; fi
  rm -f "$f"
}

stop() {
  for f in "$dir"/run/engine-*.pid; do [[ -e "$f" ]] && stop_one "$f"; done  # engines first: snapshots
  [[ -e "$dir/run/proxy.pid" ]] && stop_one "$dir/run/proxy.pid"
  echo "stopped; snapshots in $dir/snap"
}

case "$cmd" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  -h|--help|help) usage ;;
  *) echo "scaleout.sh: unknown command $cmd" >&2; usage >&2; exit 2 ;;
esac
