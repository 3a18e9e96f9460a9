"""The int8 network against float32 on the synthetic evaluation split (not a test): accuracy and
speed of the onnxruntime graphs handtrack-export writes.

    .venv/bin/python -m bench.bench_quantize [--data synth:data/synth-fresh] [--max-samples 1000]

For the checkpoint (default: the bundled model) the float32 graph (NAME.onnx) and the int8 one
(NAME.int8.onnx, `handtrack-export --quantize int8`) go through handtrack-eval's own
evaluation (train.evaluate: the same crops, the same 2D-expert inputs with the same noise seed)
with --fuse rgb, 2d and rgb+2d: mean EPE (mm, root-aligned, scaled to the true bone) for each
and the difference. Then the median ms of one crop through each graph, with one thread and with
all cores. The 2d rows do not use the RGB encoder, so int8 and float32 agree there by design.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bench.machine import describe_machine


def _onnx_net(backend, config):
    """A torch module with HandPoseNet's call signature that runs an onnxruntime backend (so
    that train.evaluate.predict evaluates it as it evaluates checkpoints)."""
    import torch

    class OnnxNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = config
            self.heat_encoder = object() if backend.has_heat else None

        def forward(self, rgb, heat=None, heat_weight=None, rgb_weight=None):
            arrays = [None if t is None else t.numpy().astype(np.float32)
                      for t in (heat, heat_weight, rgb_weight)]
            pose = backend.infer(rgb.numpy().astype(np.float32), *arrays).pose
            return torch.zeros(len(pose), 1), torch.from_numpy(pose)

    return OnnxNet()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_quantize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="model .pt (default: the bundled one)")
    p.add_argument("--data", default="synth:data/synth-fresh", help="evaluation data set")
    p.add_argument("--split", default="evaluation")
    p.add_argument("--max-samples", type=int, default=1000)
    args = p.parse_args(argv)
    print(describe_machine())

    from app.engine import DEFAULT_CHECKPOINT
    from app.engine.backends import OnnxBackend
    from model.checkpoint import int8_path_of, net_config_of, onnx_path_of, read_checkpoint
    from train.data import open_dataset
    from train.data.sample import SampleConfig
    from train.evaluate import evaluate

    ckpt = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
    onnx_file = onnx_path_of(ckpt)
    if not int8_path_of(onnx_file).is_file():
        print(f"error: {int8_path_of(onnx_file)} does not exist; write it with "
              f"`handtrack-export --checkpoint {ckpt} --quantize int8`", file=sys.stderr)
        return 2
    config = net_config_of(read_checkpoint(ckpt), ckpt)
    try:
        dataset = open_dataset(args.data, args.split, SampleConfig(crop_size=config.crop_size))
    except (ValueError, OSError) as e:
        print(f"error: {e}; make the split with `handtrack-synth --out data/synth-fresh "
              "--train 0 --eval 1000 --size 256 --seed 2 --legacy-style`", file=sys.stderr)
        return 2
    print(f"checkpoint {ckpt}, {args.data} {args.split}, {min(len(dataset), args.max_samples)} "
          "samples")
    print("\n| --fuse | float32 EPE mm | int8 EPE mm | int8 - float32 |")
    print("|---|---|---|---|")
    for fuse in ("rgb", "2d", "rgb+2d"):
        epe = {}
        for precision in ("fp32", "int8"):
            with OnnxBackend(onnx_file, precision=precision) as backend:
                summary, _ = evaluate(_onnx_net(backend, config), dataset, fuse=fuse,
                                      max_samples=args.max_samples, progress=False)
            epe[precision] = summary["epe_mm"]
        print(f"| {fuse} | {epe['fp32']:.2f} | {epe['int8']:.2f} | "
              f"{epe['int8'] - epe['fp32']:+.2f} |")
    print("\n| graph | 1 thread ms | all cores ms |")
    print("|---|---|---|")
    x = np.random.default_rng(0).random((1, 3, config.crop_size, config.crop_size),
                                        dtype=np.float32)
    for precision in ("fp32", "int8"):
        row = []
        for threads in (1, 0):
            with OnnxBackend(onnx_file, threads=threads, precision=precision) as b:
                for _ in range(5):
                    b.infer(x)
                ms = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    b.infer(x)
                    ms.append((time.perf_counter() - t0) * 1e3)
            row.append(float(np.median(ms)))
        print(f"| {precision} | {row[0]:.2f} | {row[1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
