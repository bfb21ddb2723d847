#!/usr/bin/env bash
# fuzz/run.sh BUILD SECONDS: runs every libFuzzer target built in BUILD (fuzz_<name>, one per fuzz/fuzz_<name>.cpp)
# for SECONDS each, one after the other. Corpus: BUILD/corpus/<name> (grows between runs), seeded from
# fuzz/seeds/<name> and fuzz/regressions/<name>. Crashing inputs land in BUILD/crashes/<name>-crash-<sha1>, logs in
# BUILD/logs/<name>.log. Prints one table; exits 1 when any target crashed (or failed to run).
set -u
build=${1:-build-fuzz}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/crashes" "$build/logs"

count_artifacts() { find "$build/crashes" -maxdepth 1 -type f -name "$1-*" | wc -l; }

table=()
failed=0
for src in "$root"/fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  name=${name#fuzz_}
  [ "$name" = targets ] && continue
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  inputs=("$corpus" "$root/fuzz/seeds/$name")
  [ -d "$root/fuzz/regressions/$name" ] && inputs+=("$root/fuzz/regressions/$name")
  before=$(count_artifacts "$name")
  log="$build/logs/$name.log"
  start=$(date +%s)
  echo "fuzz: $name for ${seconds}s ..."
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$build/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$name-" "${inputs[@]}" >"$log" 2>&1
  rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  [ -z "$execs" ] && execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  crashes=$(($(count_artifacts "$name") - before))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi  # died without an artifact: still a failure
  if [ "$crashes" -gt 0 ]; then
    failed=1
    echo "fuzz: $name CRASHED (exit $rc), log $log:"
    grep -m1 -A12 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|fuzz invariant violated|deadly signal' "$log" | head -20
  fi
  table+=("$(printf '%-22s %14s %8s %8s' "$name" "${execs:-?}" "$elapsed" "$crashes")")
done

echo
printf '%-22s %14s %8s %8s\n' target executions seconds crashes
for row in "${table[@]}"; do echo "$row"; done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: crashes found; inputs in $build/crashes (fix, then commit each as fuzz/regressions/<target>/)"
  exit 1
fi
