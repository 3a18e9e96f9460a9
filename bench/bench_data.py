"""Data benchmark (not a test): synthetic generator frames/s and loader samples/s.

    .venv/bin/python -m bench.bench_data                 # defaults: 200 frames, all cores
    .venv/bin/python -m bench.bench_data --frames 400 --workers 2

Prints, with the CPU time per item (robust on a shared machine): generator throughput at
320x320 written to disk in the RHD layout (all workers), the
in-memory render rate of one process, the sequence renderer at 640x480 (the demo stream), and
the loader rate (one process) for 128 and 256 crops, with and without augmentation.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from bench.machine import describe_machine


def _rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def _cpu_s() -> float:
    """CPU seconds used by this process and its finished children (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=200, help="frames to generate (200)")
    p.add_argument("--size", type=int, default=320, help="generated image side (320)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="generator processes (default: all cores)")
    p.add_argument("--samples", type=int, default=100, help="loader samples per setting (100)")
    args = p.parse_args(argv)
    print(describe_machine())
    if args.frames < 1 or args.samples < 1 or args.workers < 1:
        print("error: --frames, --samples and --workers must be >= 1", file=sys.stderr)
        return 2

    from train.data import SampleConfig, open_dataset
    from train.synth.render import SynthConfig, render_sample
    from train.synth.sequence import SequenceConfig, SequenceRenderer
    from train.synth.writer import write_dataset

    cfg = SynthConfig(size=args.size)
    render_sample(cfg, 0)  # compile the numba kernels before forking workers
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synth"
        t, c = time.perf_counter(), _cpu_s()
        write_dataset(root, args.frames, 0, cfg, seed=0, workers=args.workers)
        rows.append((f"generator -> disk, {args.size}x{args.size}, {args.workers} workers",
                     _rate(args.frames, time.perf_counter() - t), "frames/s",
                     (_cpu_s() - c) / args.frames))

        n = min(args.frames, 100)
        t, c = time.perf_counter(), _cpu_s()
        for i in tqdm(range(n), desc="render in memory", unit="frame"):
            render_sample(cfg, (0, 0, i))
        rows.append((f"generator in memory, {args.size}x{args.size}, 1 process",
                     _rate(n, time.perf_counter() - t), "frames/s", (_cpu_s() - c) / n))

        seq = SequenceRenderer(SequenceConfig(width=640, height=480))
        seq.render(0)
        t, c = time.perf_counter(), _cpu_s()
        for i in tqdm(range(n), desc="sequence 640x480", unit="frame"):
            seq.render(i)
        rows.append(("sequence renderer (demo), 640x480, 1 process",
                     _rate(n, time.perf_counter() - t), "frames/s", (_cpu_s() - c) / n))

        for crop in (128, 256):
            for aug in (False, True):
                ds = open_dataset(f"synth:{root}", "training",
                                  SampleConfig(crop_size=crop, augment=aug))
                ds[0]
                m = min(args.samples, len(ds))
                t, c = time.perf_counter(), _cpu_s()
                for i in tqdm(range(m), desc=f"loader crop {crop} aug {aug}", unit="sample"):
                    ds[i]
                rows.append((f"loader synth:, crop {crop}, augment {aug}, 1 process",
                             _rate(m, time.perf_counter() - t), "samples/s",
                             (_cpu_s() - c) / m))
    print("\nwall-clock rate (depends on machine load) and CPU time per item (all processes)")
    for name, value, unit, cpu in rows:
        print(f"{name:58s} {value:7.1f} {unit:9s} {cpu * 1000:6.1f} ms CPU/item")
    return 0


if __name__ == "__main__":
    sys.exit(main())
