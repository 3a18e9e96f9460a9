#!/usr/bin/env bash
# Rebuild the bundled model app/assets/default.pt (+ default.onnx) from nothing, as it was made
# (README, "The bundled model"; docs/results.md records the run). On 2 CPU cores: about 12 min
# of data, then about 4.4 s per training step: 1250 steps at lr 3e-4 and 150 at 3e-5 took
# 1 h 45 min. Ctrl-C (or kill) during training saves runs/default-s4-2d/last.pt; run the script
# again to resume. More steps help: STEPS=5000 LOW_LR_STEPS=500 bash scripts/...
#
#   bash scripts/train-default-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=${DATA:-data/synth20k}
RUN=${RUN:-runs/default-s4-2d}
STEPS=${STEPS:-1250}  # at lr 3e-4
LOW_LR_STEPS=${LOW_LR_STEPS:-150}  # then at lr 3e-5

if [ ! -f "$DATA/training/anno_training.pickle" ]; then
  "$BIN/handtrack-synth" --out "$DATA" --train 20000 --eval 1000 --size 256 --seed 1
fi
OPTS=(--strategy s4-2d --data "synth:$DATA" --out "$RUN" --crop-size 128 --cloud-points 256
      --lr 3e-4 --beta-anneal-steps 600 --workers 1 --eval-every 250 --eval-samples 300
      --ckpt-every 50 --log-every 10 --seed 0)
step() {  # the step of the run's last.pt, 0 without one
  [ -f "$RUN/last.pt" ] || { echo 0; return; }
  "$BIN/python" -c "from model.checkpoint import read_checkpoint as r; print(r('$RUN/last.pt')['step'])"
}
resume=()
if [ -f "$RUN/last.pt" ]; then resume=(--resume); fi
if [ "$(step)" -lt "$STEPS" ]; then
  "$BIN/handtrack-train" "${OPTS[@]}" --steps "$STEPS" "${resume[@]}"
fi
"$BIN/handtrack-train" "${OPTS[@]}" --steps $((STEPS + LOW_LR_STEPS)) --resume --set-lr 3e-5
"$BIN/python" -m train.ship --checkpoint "$RUN/last.pt" --out app/assets/default.pt
"$BIN/handtrack-export" --checkpoint app/assets/default.pt
"$BIN/handtrack-eval" --checkpoint app/assets/default.pt --data "synth:$DATA" \
  --fuse rgb 2d rgb+2d --baseline --out eval/default --labels default
