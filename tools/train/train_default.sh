#!/usr/bin/env bash
# Trains the bundled default model (models/default) from the FXCM EUR/USD and NZD/USD days in ../shared/data,
# holding out the last day (2014-05-08, FXCM's UTC-05 calendar) as the test split, then evaluates it.
#
#   tools/train/train_default.sh            (BUILD=build by default; WORK=build/default-model for scratch)
#
# Steps: tickrt import (all eight files merged into one journal by event time) -> tickrt features with the
# identity spec of tools/train/default_features.json (all 19 raw features; the trainer fits the real
# normalisation on the training split) -> train.py (models/default.config.json, ~114K parameters: mamba+mlp,
# megalodon, attention+moe, mamba) -> evaluate.py writing models/default/report.md and its plots.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WORK=${WORK:-$BUILD/default-model}
TICKRT=$BUILD/tickrt
DATA=../shared/data
PY=/usr/bin/python3
[ -x "$TICKRT" ] || { echo "train_default.sh: $TICKRT not found; build it first (cmake --build $BUILD --target tickrt)" >&2; exit 1; }
mkdir -p "$WORK"

"$TICKRT" import --format fxcm "$DATA"/fxcm_eurusd_2014050{5,6,7,8}_quote.csv \
  "$DATA"/fxcm_nzdusd_2014050{5,6,7,8}_quote.csv --out "$WORK/fxcm.ticks"
rm -rf "$WORK/features"
"$TICKRT" features "$WORK/fxcm.ticks" --spec tools/train/default_features.json --out "$WORK/features"

"$PY" tools/train/train.py --data "$WORK/features" --config models/default.config.json --out models/default \
  --overwrite --checkpoint "$WORK/checkpoint.pt" --tickrt "$TICKRT" \
  --test-from 2014-05-08T00:00:00-05:00 --val-frac 0.15 \
  --epochs "${EPOCHS:-8}" --epoch-rows "${EPOCH_ROWS:-200000}" --patience 3 --max-minutes "${MAX_MINUTES:-20}" \
  --chunk 256 --batch 16 --lr 1e-3 --seed 0 --threads 2

"$PY" tools/train/evaluate.py --model models/default --data "$WORK/features" --out models/default --threads 2
echo "models/default written; report: models/default/report.md"
