#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one call on a lent machine (its image has PyTorch, NumPy,
# OpenCV, numba and SciPy, not the GUI or MediaPipe packages, so only training and the torch
# backend are exercised):
#   scripts/gpu-check.sh checks    the CUDA tests, training throughput on the GPU, and a short
#                                  trial of Table 1 with several runs side by side (its rate
#                                  sizes the real run)
#   scripts/gpu-check.sh table1 N  Table 1 at N steps per run, batch 32, 128 px crops, six runs
#                                  side by side; records, report and figures in $OUT/table1-gpu.tgz
# Everything it prints is also written under $OUT (default /tmp/gpu-check).
# Seen on a lent H200 (16 cores, PyTorch 2.11 + CUDA 13, NumPy 2.5), 2026-12-04: the tests pass
# (torch-tensorrt is not on that image, so the TensorRT tests skip); the trial ran six runs at a
# time at 2.1-2.9 steps/s each, too slow for a budget beyond docs/results-long.md in one lease.
# Read the single-process rate of bench_train first: if one run alone is much faster, the
# processes share the GPU badly (no MPS) and JOBS=2 or 3 pays; if not, the loader is the limit.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
PY=${PY:-python3}
JOBS=${JOBS:-6}
TABLE=(--synth-train 16000 --synth-eval 1000 --crop-size 128 --lr 3e-4 --fractions 100
       --precision fp32 --jobs "$JOBS" --workers 2)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -3
$PY -c "import torch, numpy, cv2, numba, scipy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__, 'opencv', cv2.__version__, 'numba', numba.__version__)"
$PY -c "import torch_tensorrt" 2>/dev/null || echo "torch-tensorrt: not installed here, TensorRT not checked"
nproc

case "${1:-checks}" in
checks)
    timeout 200 $PY -m pytest -q -p no:cacheprovider -p no:pytest-qt -rs tests/train/test_train_cuda.py \
        tests/app/test_backends.py 2>&1 | tee "$OUT/tests.log" | tail -25
    timeout 150 $PY -m bench.bench_train --modes fast --frames 1024 --steps 20 --warmup 5 2>&1 \
        | tee "$OUT/bench_train.log" | tail -14
    # the trial: every Table 1 run side by side for a few steps, then its rate per run
    timeout 200 $PY -m train.experiments.table1 --out /tmp/t1-trial --docs /tmp/t1-trial.md \
        --record /tmp/t1-trial-rec "${TABLE[@]}" --steps 80 2>&1 | tail -12
    for f in /tmp/t1-trial/*/train.log; do echo "$f: $(tail -c 300 "$f" | tr '\r' '\n' | tail -2)"; done
    cp /tmp/t1-trial.md "$OUT/" 2>/dev/null
    ;;
table1)
    steps=${2:?give the steps per run}
    # the trial's frames and crop cache, when this machine still has them (same seed and sizes)
    if [ -d /tmp/t1-trial/data/evaluation ] && [ ! -e runs/table1-gpu/data ]; then
        mkdir -p runs/table1-gpu && ln -s /tmp/t1-trial/data runs/table1-gpu/data
    fi
    timeout "${LIMIT:-470}" $PY -m train.experiments.table1 --out runs/table1-gpu \
        --docs docs/results-gpu.md "${TABLE[@]}" --steps "$steps" 2>&1 | tee "$OUT/table1.log" | tail -30
    for f in runs/table1-gpu/*/train.log; do echo "$f: $(tail -c 300 "$f" | tr '\r' '\n' | tail -2)"; done
    tar czf "$OUT/table1-gpu.tgz" docs/results-gpu.md docs/results-gpu runs/table1-gpu/*/log.csv 2>/dev/null
    ls -la "$OUT"
    ;;
esac
