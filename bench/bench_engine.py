"""Per-frame time of the handtrack engine vs MediaPipe Hands on the same 640x480 frames.

    .venv/bin/python -m bench.bench_engine [--frames 150] [--block 50] [--hands 1,2] [--paced 30]

Frames: the synthetic demo stream (train.synth), one hand and two hands, rendered before timing.
Compared on the same machine in one run, in blocks (each pipeline streams `--block` frames in
turn, so load changes on a shared machine hit all alike):
- MediaPipe Hands (mp.solutions, video mode, model_complexity 1 "full" and 0 "lite"),
  max_num_hands = number of hands in the stream, one frame after the other;
- the engine as `handtrack` runs it (Engine.run on a stream: the capture thread, MediaPipe's
  landmarks on every frame in its own process one frame ahead of the network, crops, backend,
  root and kinematic fit, filter): the default (onnxruntime at 128 px, int8 where the CPU has
  VNNI / AMX, both experts blended with MediaPipe's world landmarks at weight 0.9), float32,
  the stages in sequence (--no-overlap: MediaPipe in-process), onnxruntime on all cores, 96 px
  crops, eager torch, --no-anatomy, --world-weight 1 (the network does not run), --fuse 2d (the
  2D expert's graph, no RGB encoder), the default and --fuse 2d with MediaPipe's process free
  to move between the cores (--no-detector-core; by default it is fixed to one) and --tracking
  flow (the detector every few frames);
- with --paced: the default and --no-overlap fed at a camera's rate (frames dropped when not
  taken): their latency from capture to result is what a user sees (their ms/frame is the
  camera's period, not a speed);
- the backend alone (encoder + decoder) on a batch of 1 and 2 crops, 1 thread and all cores.
Reported per pipeline: median and p95 wall ms per frame (the engine: the interval between
consecutive results, the first of a block from its start), both as ratios to MediaPipe full,
the p95 ratio also without the first frame of each block (every block restarts the engine's
stream, whose first frame runs detector and network in sequence before the overlap begins: a
camera stream does that once, the bench every `--block` frames),
the CPU ms per frame of this process (all its threads; MediaPipe's own process is not in it),
and the median latency from capture to result (streamed as fast as taken, so frames queue: up to
two with the detector and one before the network; see --paced for a camera's).
The network has random weights and the bundled model's layout (RGB and 2D experts; same cost
as a trained one; the int8 graph is calibrated as handtrack-export does it); so that the tracking
behaves as with a trained network, the pose fed to the tracker is the demo's ground truth (the
backend still runs on every crop and is timed). Before the timed blocks every pipeline streams
the first `--warmup` frames once, untimed: each engine has a MediaPipe process of its own, and
they all start (and import MediaPipe on one core) when the pipelines are made. Prints a markdown
table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from app.engine import (  # noqa: E402
    BackendConfig,
    DetectorConfig,
    Engine,
    EngineConfig,
    SourceConfig,
    TrackerConfig,
)
from app.engine.backends import open_backend  # noqa: E402
from app.engine.landmarks3d import LandmarkFusionConfig  # noqa: E402
from app.engine.sources import Source, SourceFrame  # noqa: E402
from app.engine.sources.demo import DemoSource  # noqa: E402
from app.engine.stats import EngineStats  # noqa: E402
from app.engine.truth import OracleEstimator  # noqa: E402
from bench.machine import describe_machine  # noqa: E402
from model.machine import has_int8_dot  # noqa: E402


class GroundTruthPoseEstimator(OracleEstimator):
    """Runs the real backend (timed as 'infer') but tracks with the ground-truth pose."""

    run_backend = True


def render_frames(hands: int, n: int):
    src = DemoSource(SourceConfig(kind="demo", demo_hands=hands, demo_frames=n))
    return src, [src.render(i) for i in range(n)]


class BlockSource(Source):
    """Pre-rendered demo frames, one block at a time (load()); read() delivers them as fast as
    the engine takes them and then ends the stream."""

    def __init__(self, demo: DemoSource, paced_fps: float = 0.0):
        self.intrinsics = demo.intrinsics
        self.fps = demo.fps
        self._size = demo.size
        self.description = "pre-rendered demo frames"
        self._frames: list = []
        if paced_fps > 0:  # the engine's grabber plays it at this rate, dropping what is not taken
            self.fps = paced_fps

    def load(self, frames: list) -> None:
        self._frames = list(frames)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self) -> SourceFrame | None:
        if not self._frames:
            return None
        f = self._frames.pop(0)
        return SourceFrame(f.rgb, time.time(), f.truth)


@dataclass
class Timed:
    """Per frame of a block: ms (wall time per frame: the interval between consecutive
    results, the first from the block's start), latency_ms (capture to result); cpu_ms: the
    process's CPU time of the block (all threads)."""

    ms: list[float]
    latency_ms: list[float]
    cpu_ms: float


class MediaPipePipeline:
    def __init__(self, hands: int, complexity: int):
        import mediapipe as mp

        self.hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=hands,
                                              model_complexity=complexity)
        self.stats = None

    def run_block(self, frames: list) -> Timed:
        c0, ms = time.process_time(), []
        for f in frames:
            t0 = time.perf_counter()
            self.hands.process(f.rgb)
            ms.append((time.perf_counter() - t0) * 1e3)
        return Timed(ms, ms, (time.process_time() - c0) * 1e3)

    def close(self) -> None:
        self.hands.close()


class EnginePipeline:
    """The engine on a stream of pre-rendered frames (Engine.run: the capture thread, the
    detector one frame ahead unless overlap is off)."""

    def __init__(self, demo: DemoSource, hands: int, checkpoint: Path, kind: str,
                 anatomy: bool = True, tracking: str = "landmarks", fuse: str | None = None,
                 world_weight: float | None = None, overlap: bool = True, threads: int = 0,
                 precision: str = "auto", paced_fps: float = 0.0, own_core: bool = True):
        cfg = EngineConfig(source=SourceConfig(kind="demo", demo_hands=hands,
                                               realtime=paced_fps > 0),
                           backend=BackendConfig(kind=kind, checkpoint=str(checkpoint),
                                                 device="cpu", max_batch=hands,
                                                 threads=threads, precision=precision),
                           tracker=TrackerConfig(mode=tracking, max_hands=hands), fuse=fuse,
                           overlap=overlap, detector=DetectorConfig(own_core=own_core))
        if world_weight is not None:
            cfg.landmarks = LandmarkFusionConfig(world_weight=world_weight)
        if not anatomy:
            cfg.anatomy = None
        self.source = BlockSource(demo, paced_fps)
        self.engine = Engine(cfg, source=self.source, estimator=GroundTruthPoseEstimator,
                             on_message=lambda notice: None)
        self.stats = EngineStats()  # over all blocks (each run() starts its own)

    def run_block(self, frames: list) -> Timed:
        self.source.load(frames)
        c0, t_prev, ms, lat = time.process_time(), time.perf_counter(), [], []
        for result, _ in self.engine.run():
            now = time.perf_counter()
            ms.append((now - t_prev) * 1e3)
            lat.append(result.timings_ms.get("latency", float("nan")))
            t_prev = now
        cpu = (time.process_time() - c0) * 1e3
        block = self.engine.stats
        self.stats.frames += block.frames
        self.stats.detections += block.detections
        for k, v in block.timings_ms.items():
            for x in v:
                self.stats.add_timings({k: x})
        return Timed(ms, lat, cpu)

    def close(self) -> None:
        self.engine.close()


def run_blocks(frames, pipelines: dict, block: int) -> dict:
    """Blocks of `block` frames go through every pipeline in turn, so that a change of machine
    load hits all of them alike. Returns name -> (wall ms (N,), latency ms (N,), CPU ms per
    frame, block starts (N,) bool: the first result of each block). N is the frames the
    pipeline returned (a paced pipeline drops the frames it cannot take)."""
    out = {name: ([], [], 0.0, []) for name in pipelines}
    for start in range(0, len(frames), block):
        chunk = frames[start:start + block]
        for name, pipe in pipelines.items():
            t = pipe.run_block(chunk)
            ms, lat, cpu, first = out[name]
            out[name] = (ms + t.ms, lat + t.latency_ms, cpu + t.cpu_ms,
                         first + [k == 0 for k in range(len(t.ms))])
    return {k: (np.array(a), np.array(b), c / len(frames), np.array(f, bool))
            for k, (a, b, c, f) in out.items()}


def time_backend(checkpoint: Path, kind: str, batch: int, n: int, precision: str = "auto",
                 threads: int = 0) -> float:
    with open_backend(BackendConfig(kind=kind, device="cpu", precision=precision,
                                    threads=threads), checkpoint) as b:
        x = np.random.default_rng(0).random((batch, 3, b.crop_size, b.crop_size),
                                            dtype=np.float32)
        for _ in range(5):
            b.infer(x)
        ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            b.infer(x)
            ms.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ms))


def make_models(tmp: Path) -> dict[int, Path]:
    from dataclasses import replace

    from app.engine import DEFAULT_CHECKPOINT
    from app.export import export_int8, export_onnx
    from model.checkpoint import (
        net_config_of,
        onnx_path_of,
        read_checkpoint,
        save_inference_checkpoint,
    )
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    # the bundled model's architecture (its 2D expert, decoder widths, canonical side), with
    # fresh weights at each crop size: timing does not depend on the weights
    base = net_config_of(read_checkpoint(DEFAULT_CHECKPOINT), DEFAULT_CHECKPOINT) \
        if DEFAULT_CHECKPOINT.is_file() else NetConfig()
    out = {}
    for crop in (128, 96):
        ckpt = save_inference_checkpoint(tmp / f"r{crop}.pt",
                                         build_hand_pose_net(replace(base, crop_size=crop),
                                                             with_heat=True))
        export_onnx(ckpt)  # also NAME.2d.onnx
        export_int8(ckpt, onnx_path_of(ckpt), calibration_frames=16)
        out[crop] = ckpt
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--block", type=int, default=50,
                   help="frames each pipeline streams in turn (50)")
    p.add_argument("--warmup", type=int, default=10, help="frames left out of the statistics")
    p.add_argument("--hands", default="1,2", help="hand counts to run (1,2)")
    p.add_argument("--paced", type=float, default=30.0,
                   help="also stream the frames at this rate, as a camera delivers them "
                        "(dropping the ones not taken), for the latency from capture to result "
                        "(30; 0 = not)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    models = make_models(tmp)
    w = args.warmup
    print(describe_machine())
    print(f"frames {args.frames} in blocks of {args.block} (first {w} not counted)")
    print("\nbackend alone, median ms: ", end="")
    enc = {}
    for crop, kind, prec in ((128, "onnxruntime", "int8"), (128, "onnxruntime", "fp32"),
                             (96, "onnxruntime", "int8"), (128, "torch", "fp32")):
        for b in (1, 2):
            for threads in ((1, 0) if kind == "onnxruntime" else (0,)):
                enc[(crop, kind, prec, b, threads)] = time_backend(models[crop], kind, b, 50,
                                                                   prec, threads)
    print(", ".join(f"{k} {p} {c}px B={b}{' 1 thread' if t == 1 else ''}: {v:.2f}"
                    for (c, k, p, b, t), v in enc.items()))
    rows = []
    auto = "int8" if has_int8_dot() else "float32"  # what --precision auto runs here
    for hands in (int(h) for h in args.hands.split(",")):
        src, frames = render_frames(hands, args.frames)
        pipes = {f"MediaPipe {'full' if c else 'lite'}": MediaPipePipeline(hands, c)
                 for c in (1, 0)}

        variants = [(f"engine, default (onnxruntime 128 px, {auto} here)", {}),
                    ("engine, float32 (--precision fp32)", {"precision": "fp32"}),
                    ("engine, stages in sequence (--no-overlap)", {"overlap": False}),
                    ("engine, onnxruntime on both cores (--threads 2)", {"threads": 2}),
                    ("engine, 96 px crops", {"crop": 96}),
                    ("engine, torch 128 px", {"kind": "torch"}),
                    ("engine --no-anatomy", {"anatomy": False}),
                    ("engine --world-weight 1 (the network is skipped)", {"world_weight": 1.0}),
                    ("engine --fuse 2d", {"fuse": "2d"}),
                    ("engine --no-detector-core (MediaPipe's process free to move)",
                     {"own_core": False}),
                    ("engine --fuse 2d --no-detector-core", {"fuse": "2d", "own_core": False}),
                    ("engine --tracking flow", {"tracking": "flow"})]
        if args.paced:
            variants += [(f"engine, default, frames at {args.paced:g} fps like a camera (latency)",
                          {"paced_fps": args.paced}),
                         (f"engine --no-overlap, frames at {args.paced:g} fps (latency)",
                          {"paced_fps": args.paced, "overlap": False})]
        for name, kw in variants:
            crop, kind = kw.pop("crop", 128), kw.pop("kind", "onnxruntime")
            pipes[name] = EnginePipeline(src, hands, models[crop], kind, **kw)
        try:
            # one untimed round first: every engine's MediaPipe process has started, loaded
            # its models and seen frames before any timing (they all start at once, above)
            for pipe in pipes.values():
                pipe.run_block(frames[:max(w, 2)])
            res = run_blocks(frames, pipes, args.block)
        finally:
            for pipe in pipes.values():
                pipe.close()
        def steady(first):  # without the warm-up and each block's first frame
            keep = ~first
            keep[:w] = False
            return keep

        full_ms, full_first = res["MediaPipe full"][0], res["MediaPipe full"][3]
        full, full95 = np.median(full_ms[w:]), np.percentile(full_ms[w:], 95)
        full95_steady = np.percentile(full_ms[steady(full_first)], 95)
        for name, (ms, lat, cpu, first) in res.items():
            med, p95 = float(np.median(ms[w:])), float(np.percentile(ms[w:], 95))
            p95_steady = float(np.percentile(ms[steady(first)], 95))
            stats, extra = pipes[name].stats, ""
            if stats is not None:
                pct = stats.percentiles()
                stages = ", ".join(f"{k} {pct[k][0]:.2f}" for k in
                                   ("track", "detect", "crop", "infer", "anatomy", "metric",
                                    "filter")
                                   if k in pct)
                extra = (f"detector on {stats.detections}/{stats.frames} frames; stage p50 ms: "
                         f"{stages}")
            rows.append((hands, name, med, p95, med / full, p95 / full95,
                         p95_steady / full95_steady, cpu, float(np.nanmedian(lat[w:])), extra))
    print("\n| hands | pipeline | median ms/frame | p95 | median / MediaPipe full | "
          "p95 / MediaPipe full p95 | the same without block starts | CPU ms/frame | "
          "latency p50 ms | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for hands, name, med, p95, ratio, ratio95, steady95, cpu_ms, lat, extra in rows:
        print(f"| {hands} | {name} | {med:.2f} | {p95:.2f} | {ratio:.2f} | {ratio95:.2f} "
              f"| {steady95:.2f} | {cpu_ms:.1f} | {lat:.1f} | {extra} |")


if __name__ == "__main__":
    main()
