#!/usr/bin/env bash
# Rebuild the bundled model app/assets/default.pt (+ default.onnx) from nothing, as it was made
# (README, "The bundled model"; docs/results.md records the run). On 2 CPU cores: about 12 min
# of data, then about 4.4 s per training step (the first trunk; the fine-tuning stage at the end
# runs at about 2 steps/s with the faster step). The schedule, in phases (step reached, lr):
# 1250 at 3e-4, 1400 at 3e-5 (session 2, 1 h 45 min), then a warm restart: 1850 at 3e-4 and 1950
# at 3e-5 (session 3, 40 min). Ctrl-C (or kill) during training saves runs/default-s4-2d/last.pt;
# run the script again to resume. More steps help: PHASES="1250:3e-4 1400:3e-5 4000:3e-4 4500:3e-5".
#
#   bash scripts/train-default-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=${DATA:-data/synth20k}
RUN=${RUN:-runs/default-s4-2d}
PHASES=${PHASES:-"1250:3e-4 1400:3e-5 1850:3e-4 1950:3e-5"}  # step reached : learning rate

if [ ! -f "$DATA/training/anno_training.pickle" ]; then
  "$BIN/handtrack-synth" --out "$DATA" --train 20000 --eval 1000 --size 256 --seed 1
fi
OPTS=(--strategy s4-2d --data "synth:$DATA" --out "$RUN" --crop-size 128 --cloud-points 256
      --beta-anneal-steps 600 --workers 1 --eval-every 250 --eval-samples 300
      --ckpt-every 50 --log-every 10 --seed 0)
step() {  # the step of the run's last.pt, 0 without one
  [ -f "$RUN/last.pt" ] || { echo 0; return; }
  "$BIN/python" -c "from model.checkpoint import read_checkpoint as r; print(r('$RUN/last.pt')['step'])"
}
for phase in $PHASES; do
  target=${phase%%:*} lr=${phase##*:}
  if [ "$(step)" -lt "$target" ]; then
    resume=()
    if [ -f "$RUN/last.pt" ]; then resume=(--resume --set-lr "$lr"); fi
    "$BIN/handtrack-train" "${OPTS[@]}" --lr "$lr" --steps "$target" "${resume[@]}"
  fi
done
# The RGB trunk above, then the shipped 2D expert and pose decoder: a coordinate expert trained
# with a new decoder on procedural right hands (no rendering, about 40 min), and the RGB head and
# cloud decoder aligned to it on 8000 fresh renders (about 25 min). docs/results.md, "The 2D
# expert on procedural poses".
"$BIN/python" -m train.shrink_fp16 --checkpoint "$RUN/last.pt" --out "$RUN/trunk.pt"
KP=${KP:-runs/kp2d}
if [ ! -f "$KP/joint.pt" ]; then
  "$BIN/python" -m train.procedural joint --out "$KP" --samples 12000000 --minutes 60
fi
ALIGN=${ALIGN:-data/synth-align}
if [ ! -f "$ALIGN/training/anno_training.pickle" ]; then
  "$BIN/handtrack-synth" --out "$ALIGN" --train 8000 --size 256 --seed 11
fi
"$BIN/python" -m train.procedural align --joint "$KP/joint.pt" --source "$RUN/trunk.pt" \
  --data "synth:$ALIGN" --cache "$KP/features.pt" --out "$KP/aligned.pt"
# The trunk fine-tuned on the current renders (3000 steps at 3e-4, 500 at 3e-5: 30 min with the
# faster training step), then realigned to the same 2D expert and pose decoder (the aligned
# checkpoint above holds them). docs/results.md, "The RGB trunk fine-tuned on the current renders".
DATA2=${DATA2:-data/synth20k-v2}
RUN2=${RUN2:-runs/trunk-v2}
if [ ! -f "$DATA2/training/anno_training.pickle" ]; then
  "$BIN/handtrack-synth" --out "$DATA2" --train 20000 --eval 1000 --size 256 --seed 21
fi
OPTS2=(--strategy s4-2d --data "synth:$DATA2" --out "$RUN2" --crop-size 128 --cloud-points 256
       --beta-anneal-steps 300 --workers 1 --eval-every 500 --eval-samples 300
       --ckpt-every 50 --log-every 10 --seed 0)
RUN="$RUN2"  # step() reads $RUN
if [ "$(step)" -lt 3000 ]; then
  if [ -f "$RUN2/last.pt" ]; then
    "$BIN/handtrack-train" "${OPTS2[@]}" --lr 3e-4 --steps 3000 --resume
  else
    "$BIN/handtrack-train" "${OPTS2[@]}" --lr 3e-4 --steps 3000 --init "$KP/aligned.pt"
  fi
fi
if [ "$(step)" -lt 3500 ]; then
  "$BIN/handtrack-train" "${OPTS2[@]}" --lr 3e-5 --steps 3500 --resume --set-lr 3e-5
fi
"$BIN/python" -m train.shrink_fp16 --checkpoint "$RUN2/last.pt" --out "$RUN2/trunk.pt"
ALIGN2=${ALIGN2:-data/synth-align-v2}
if [ ! -f "$ALIGN2/training/anno_training.pickle" ]; then
  "$BIN/handtrack-synth" --out "$ALIGN2" --train 8000 --size 256 --seed 31
fi
"$BIN/python" -m train.procedural align --joint "$KP/aligned.pt" --source "$RUN2/trunk.pt" \
  --data "synth:$ALIGN2" --cache "$RUN2/features.pt" --out "$RUN2/aligned.pt"
"$BIN/python" -m train.shrink_fp16 --checkpoint "$RUN2/aligned.pt" --out app/assets/default.pt
"$BIN/handtrack-export" --checkpoint app/assets/default.pt
"$BIN/handtrack-eval" --checkpoint app/assets/default.pt --data "synth:$DATA" \
  --fuse rgb 2d rgb+2d --baseline --anatomy --out eval/default --labels default
