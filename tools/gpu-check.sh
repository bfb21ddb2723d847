#!/usr/bin/env bash
# One-shot GPU check of the CUDA backend, for a machine with an NVIDIA GPU (H200: sm_90), in under 8 minutes:
#   1. configure and build with CUDA into build-cuda (cmake -DTICKRT_CUDA=ON),
#   2. run the CUDA tests (ctest -R cuda: host-emulator parity, then device parity / snapshots),
#   3. run `tickrt bench-gpu` (step latency p50 over 10,000 steps, 10,000 instruments per step, refresh cost
#      against windows 256..65536) and print its table last.
# Usage: tools/gpu-check.sh [BUILD_DIR]   (from anywhere; BUILD_DIR defaults to <repo>/build-cuda)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-cuda}
jobs=$(nproc)

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
cmake -S "$here" -B "$build" -DTICKRT_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
timeout 300 cmake --build "$build" -j"$jobs" --target tickrt tickrt_tests

# The device tests print "SKIPPED: ..." (Catch WARN) when no device is visible: -V keeps that visible.
log="$build/gpu-check-ctest.log"
rc=0
(cd "$build" && timeout 240 ctest -R 'cuda' -j4 -V >"$log" 2>&1) || rc=$?
grep -E "SKIPPED|cuda (host|device) parity \[mixed|tests passed|tests failed|\*\*\*Failed" "$log" || true
if grep -q "SKIPPED" "$log"; then echo "gpu-check: device tests were SKIPPED (see $log)" >&2; fi
if [ "$rc" -ne 0 ]; then echo "gpu-check: CUDA tests failed (rc $rc, see $log)" >&2; fi

timeout 180 "$build/tickrt" bench-gpu --steps 10000 --instruments 10000 --windows 256,1024,4096,16384,65536
exit "$rc"
