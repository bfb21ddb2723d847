#!/usr/bin/env bash
# `make bench`: the CPU step benchmark of the model in tools/bench_model.json, next to the weight-streaming floor
# and the PyTorch step form (tools/train/tickmodel.py bench-step). Usage: tools/bench.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/tickrt" init-model --config "$here/tools/bench_model.json" --seed 1 --out "$tmp/model" >/dev/null
torch_json=$(/usr/bin/python3 "$here/tools/train/tickmodel.py" bench-step --model "$tmp/model" --ticks 500)
torch_us=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["us_per_tick"])' "$torch_json")
"$build/tickrt" bench-step --model "$tmp/model" --batch 1,64 --torch-us "$torch_us"
