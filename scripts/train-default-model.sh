#!/usr/bin/env bash
# Rebuild the bundled model app/assets/default.pt (+ default.onnx) from nothing, as it was made
# (README, "The bundled model"; docs/results.md records the run). On 2 CPU cores: about 12 min
# of data, then about 4 s per training step; STEPS=1300 took 1.6 h. Ctrl-C during training
# saves runs/default-s4-2d/last.pt; run the script again to resume (RESUME=1).
#
#   STEPS=1300 bash scripts/train-default-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=${DATA:-data/synth20k}
RUN=${RUN:-runs/default-s4-2d}
STEPS=${STEPS:-1300}

if [ ! -f "$DATA/training/anno_training.pickle" ]; then
  "$BIN/handtrack-synth" --out "$DATA" --train 20000 --eval 1000 --size 256 --seed 1
fi
resume=()
if [ -f "$RUN/last.pt" ]; then resume=(--resume); fi
"$BIN/handtrack-train" --strategy s4-2d --data "synth:$DATA" --out "$RUN" --crop-size 128 \
  --cloud-points 256 --steps "$STEPS" --lr 3e-4 --beta-anneal-steps 600 --workers 1 \
  --eval-every 250 --eval-samples 300 --ckpt-every 50 --log-every 10 --seed 0 "${resume[@]}"
"$BIN/python" -m train.ship --checkpoint "$RUN/last.pt" --out app/assets/default.pt
"$BIN/handtrack-export" --checkpoint app/assets/default.pt
"$BIN/handtrack-eval" --checkpoint app/assets/default.pt --data "synth:$DATA" \
  --fuse rgb 2d rgb+2d --baseline --out eval/default --labels default
