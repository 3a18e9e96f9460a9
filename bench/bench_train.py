"""Training throughput benchmark (not a test): samples per second of handtrack-train's own step
(train.loop.train_step fed by its DataLoader, data loading included) per strategy and crop size.

    .venv/bin/python -m bench.bench_train                      # s1, s4, s4-2d at 64 and 128 px
    .venv/bin/python -m bench.bench_train --strategies s4-2d --crops 128 --steps 6
    .venv/bin/python -m bench.bench_train --data synth:data/synth --modes fast reference

Modes (each row is one strategy x crop x mode, timed in this one run):
  fast       what handtrack-train does by default: the cached crops (train/data/cache.py),
             --precision auto (bf16 autocast where the CPU has AVX512-BF16 / AMX), one loader
             worker;
  reference  the path of earlier versions: every sample decoded from the PNGs, float32,
             every latent decoded for every sample (--decode all), two loader workers (the
             old default), and the earlier forms of the Chamfer distance (gradient through the
             full distance matrix), the FoldingNet folds (the concatenation [z, point] per
             point) and Adam (foreach, not fused): bench/legacy_train.py. Its rate is that of
             the code before the training speed-ups, measured in the same run.
The first `--warmup` steps of a row are not timed (allocator, oneDNN kernels, worker start).
Without --data a small synthetic set (handtrack-synth, 256 px) is rendered into a temporary
folder first; its cache build time is printed once per crop size (a one-off cost per data set,
not part of the rate). Prints the CPU model and flags; timings on a shared VM drift 10-20 %.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.legacy_train import earlier_forms
from bench.machine import describe_machine

MODES = ("fast", "reference")


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _configs(strategy: str, crop: int, mode: str, data: str, out: str, steps: int):
    """The TrainConfig / NetConfig handtrack-train builds for this row (the shipped model's
    network sizes: 256 cloud points, 64 px heat maps, the keypoint 2D expert)."""
    from model.net_config import NetConfig
    from train.config import TrainConfig

    net = NetConfig(crop_size=crop, cloud_points=256, heatmap_size=64, heat_expert="coords")
    extra = {}
    fields = TrainConfig.__dataclass_fields__
    if mode == "reference":
        extra["workers"] = 2
        if "precision" in fields:
            extra["precision"] = "fp32"
        if "cache" in fields:
            extra["cache"] = False
        if "decode" in fields:
            extra["decode"] = "all"
    else:
        extra["workers"] = 1
    cfg = TrainConfig(strategy=strategy, data=data, eval_data="none", out=out, steps=10**6,
                      progress=False, ckpt_every=10**6, log_every=10**6, **extra)
    return cfg, net


def time_row(strategy: str, crop: int, mode: str, data: str, warmup: int, steps: int,
             batch: int) -> dict:
    """Samples/s (wall and CPU) of `steps` training steps after `warmup` untimed ones."""
    with tempfile.TemporaryDirectory() as out:
        cfg, net = _configs(strategy, crop, mode, data, out, warmup + steps)
        cfg.batch_size = batch
        forms = earlier_forms() if mode == "reference" else contextlib.nullcontext()
        with forms:
            return _time(cfg, net, strategy, crop, mode, warmup, steps, batch, out)


def _time(cfg, net, strategy: str, crop: int, mode: str, warmup: int, steps: int, batch: int,
          out: str) -> dict:
    import torch

    from train import ddp
    from train.loop import StopRequest, epoch_loader, open_sets, start_run
    from train.loop import train_step as step_fn
    from train.runlog import RunLog
    from train.strategies import get_strategy

    train_set, _ = open_sets(cfg, net)
    info = ddp.setup("cpu")
    run = start_run(cfg, net, get_strategy(strategy), info, len(train_set))
    run.wrapped = run.model
    log = RunLog(Path(out), steps=10**6, log_every=10**6, step=0, progress=False)
    stop = StopRequest()
    loader = iter(epoch_loader(run, train_set))
    for _ in range(warmup):
        step_fn(run, next(loader), log, stop)
    t0, c0 = time.perf_counter(), _cpu_s()
    for _ in range(steps):
        step_fn(run, next(loader), log, stop)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    del loader
    precision = getattr(run, "precision", "fp32")
    return {"strategy": strategy, "crop": crop, "mode": mode, "precision": precision,
            "rate": steps * batch / wall, "cpu_ms": 1000 * cpu / (steps * batch),
            "threads": torch.get_num_threads()}


def _render_set(root: Path, n: int) -> str:
    from train.synth.render import SynthConfig
    from train.synth.writer import write_dataset

    print(f"rendering {n} synthetic training frames (256 px) into {root} ...", flush=True)
    write_dataset(root, n, 0, SynthConfig(size=256), seed=5, workers=os.cpu_count() or 1)
    return f"synth:{root}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", nargs="+", default=["s1", "s4", "s4-2d"],
                   help="strategies to time (s1 s4 s4-2d)")
    p.add_argument("--crops", nargs="+", type=int, default=[64, 128],
                   help="crop sides in px (64 128)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                   help="fast (the default path) and/or reference (the earlier path)")
    p.add_argument("--data", default="", help="synth:PATH / rhd:PATH to read (default: render "
                                             "a small synthetic set into a temporary folder)")
    p.add_argument("--frames", type=int, default=256, help="frames to render without --data")
    p.add_argument("--steps", type=int, default=5, help="timed steps per row (5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (2)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (32)")
    args = p.parse_args(argv)
    print(describe_machine())
    if min(args.steps, args.frames, args.batch_size) < 1 or args.warmup < 0:
        print("error: --steps, --frames and --batch-size must be >= 1, --warmup >= 0",
              file=sys.stderr)
        return 2
    if args.frames < (args.steps + args.warmup) * args.batch_size and not args.data:
        print("error: --frames is smaller than (--warmup + --steps) x --batch-size; one epoch "
              "must hold every timed step", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        data = args.data
        if not data:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            data = _render_set(tmp / "synth", args.frames)
        if "fast" in args.modes:
            _build_caches(data, args.crops)
        rows = []
        for crop in args.crops:
            for strategy in args.strategies:
                for mode in args.modes:
                    print(f"timing {strategy} {crop} px {mode} ...", flush=True)
                    try:
                        rows.append(time_row(strategy, crop, mode, data, args.warmup,
                                             args.steps, args.batch_size))
                    except ValueError as e:
                        print(f"error: {e}", file=sys.stderr)
                        return 2
    print()
    print("| strategy | crop | mode | precision | samples/s | CPU ms/sample | vs reference |")
    print("|---|---|---|---|---|---|---|")
    ref = {(r["strategy"], r["crop"]): r["rate"] for r in rows if r["mode"] == "reference"}
    for r in rows:
        k = (r["strategy"], r["crop"])
        ratio = f"{r['rate'] / ref[k]:.2f}x" if k in ref else "-"
        print(f"| {r['strategy']} | {r['crop']} | {r['mode']} | {r['precision']} | "
              f"{r['rate']:.1f} | {r['cpu_ms']:.0f} | {ratio} |")
    return 0


def _build_caches(data: str, crops: list[int]) -> None:
    """Build the crop caches the fast rows read (timed, once per crop size)."""
    try:
        from train.data.cache import ensure_cache
    except ImportError:
        return
    from train.data import SampleConfig

    for crop in crops:
        t = time.perf_counter()
        ensure_cache(data, "training", SampleConfig(crop_size=crop, cloud_points=256,
                                                    heatmap_size=64))
        print(f"crop cache for {crop} px: {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
