"""Per-frame time of the handtrack engine vs MediaPipe Hands on the same 640x480 frames.

    .venv/bin/python -m bench.bench_engine [--frames 150] [--checkpoint PATH]

Frames: the synthetic demo stream (train.synth), one hand and two hands, rendered before timing.
Compared on the same machine in one run, interleaved (each frame goes through every pipeline in
turn, so load changes on a shared machine hit all alike):
- MediaPipe Hands (mp.solutions, video mode, model_complexity 1 "full" and 0 "lite"),
  max_num_hands = number of hands in the stream;
- the engine (MediaPipe's landmarks on every frame + crops + backend + metric fit + filter: the
  default pipeline) with onnxruntime at 128 px and 96 px crops, and with eager torch at 128 px
  (all with the kinematic fit, the default; both experts on every frame, blended with
  MediaPipe's world landmarks at the default weight 0.9); onnxruntime at 128 px with
  --no-anatomy, with --world-weight 1 (MediaPipe's world landmarks alone: the network does not
  run, as its pose would not be used), with --fuse 2d and with --tracking flow (the detector
  every few frames, optical flow in between);
- the backend alone (ResNet-18 encoder + pose decoder) on a batch of 1 and 2 crops.
Reported per pipeline: median and p95 wall ms per frame, the ratio to MediaPipe full, and the
mean CPU ms per frame of the whole process (all threads; less sensitive to other programs on a
shared machine than wall time).
The network has random weights and the bundled model's layout (RGB and 2D experts; same cost
as a trained one); so that the tracking behaves as with a trained network, the pose fed to the
tracker is the demo's ground truth (the backend still runs on every crop and is timed). Prints
a markdown table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from app.engine import BackendConfig, Engine, EngineConfig, SourceConfig, TrackerConfig  # noqa: E402
from app.engine.backends import open_backend  # noqa: E402
from app.engine.landmarks3d import LandmarkFusionConfig  # noqa: E402
from app.engine.sources.demo import DemoSource  # noqa: E402
from app.engine.truth import OracleEstimator  # noqa: E402
from bench.machine import describe_machine  # noqa: E402


class GroundTruthPoseEstimator(OracleEstimator):
    """Runs the real backend (timed as 'infer') but tracks with the ground-truth pose."""

    run_backend = True


def render_frames(hands: int, n: int):
    src = DemoSource(SourceConfig(kind="demo", demo_hands=hands, demo_frames=n))
    return src, [src.render(i) for i in range(n)]


class MediaPipePipeline:
    def __init__(self, hands: int, complexity: int):
        import mediapipe as mp

        self.hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=hands,
                                              model_complexity=complexity)
        self.stats = None

    def __call__(self, i, f) -> None:
        self.hands.process(f.rgb)

    def close(self) -> None:
        self.hands.close()


class EnginePipeline:
    def __init__(self, src, hands: int, checkpoint: Path, kind: str, anatomy: bool = True,
                 tracking: str = "landmarks", fuse: str | None = None,
                 world_weight: float | None = None):
        cfg = EngineConfig(source=SourceConfig(kind="demo", demo_hands=hands),
                           backend=BackendConfig(kind=kind, checkpoint=str(checkpoint),
                                                 device="cpu", max_batch=hands),
                           tracker=TrackerConfig(mode=tracking, max_hands=hands), fuse=fuse)
        if world_weight is not None:
            cfg.landmarks = LandmarkFusionConfig(world_weight=world_weight)
        if not anatomy:
            cfg.anatomy = None
        self.engine = Engine(cfg, source=src, estimator=GroundTruthPoseEstimator)

    @property
    def stats(self):
        return self.engine.stats

    def __call__(self, i, f) -> None:
        self.engine.process(f.rgb, i / 30.0, i, f.truth)

    def close(self) -> None:
        self.engine.close()


def run_interleaved(frames, pipelines: dict) -> dict:
    """Each frame goes through every pipeline in turn, so that a change of machine load hits
    all of them alike. Returns name -> (wall ms (N,), CPU ms (N,))."""
    out = {name: ([], []) for name in pipelines}
    for i, f in enumerate(frames):
        for name, pipe in pipelines.items():
            t0, c0 = time.perf_counter(), time.process_time()
            pipe(i, f)
            out[name][0].append((time.perf_counter() - t0) * 1e3)
            out[name][1].append((time.process_time() - c0) * 1e3)
    return {k: (np.array(a), np.array(b)) for k, (a, b) in out.items()}


def time_backend(checkpoint: Path, kind: str, batch: int, n: int) -> float:
    with open_backend(BackendConfig(kind=kind, device="cpu"), checkpoint) as b:
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
    from app.export import export_onnx
    from model.checkpoint import net_config_of, read_checkpoint, save_inference_checkpoint
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
        export_onnx(ckpt)
        out[crop] = ckpt
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--warmup", type=int, default=10, help="frames left out of the statistics")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    models = make_models(tmp)
    w = args.warmup
    print(describe_machine())
    print(f"frames {args.frames} (first {w} not counted)")
    print("\nbackend alone, median ms: ", end="")
    enc = {}
    for crop, kind in ((128, "onnxruntime"), (96, "onnxruntime"), (128, "torch")):
        for b in (1, 2):
            enc[(crop, kind, b)] = time_backend(models[crop], kind, b, 50)
    print(", ".join(f"{k} {c}px B={b}: {v:.2f}" for (c, k, b), v in enc.items()))
    rows = []
    for hands in (1, 2):
        src, frames = render_frames(hands, args.frames)
        pipes = {f"MediaPipe {'full' if c else 'lite'}": MediaPipePipeline(hands, c)
                 for c in (1, 0)}
        for crop, kind in ((128, "onnxruntime"), (96, "onnxruntime"), (128, "torch")):
            pipes[f"engine {kind} {crop}px"] = EnginePipeline(src, hands, models[crop], kind)
        pipes["engine onnxruntime 128px --no-anatomy"] = EnginePipeline(
            src, hands, models[128], "onnxruntime", anatomy=False)
        pipes["engine onnxruntime 128px --world-weight 1"] = EnginePipeline(
            src, hands, models[128], "onnxruntime", world_weight=1.0)
        pipes["engine onnxruntime 128px --fuse 2d"] = EnginePipeline(
            src, hands, models[128], "onnxruntime", fuse="2d")
        pipes["engine onnxruntime 128px --tracking flow"] = EnginePipeline(
            src, hands, models[128], "onnxruntime", tracking="flow")
        try:
            res = run_interleaved(frames, pipes)
        finally:
            for pipe in pipes.values():
                pipe.close()
        full = np.median(res["MediaPipe full"][0][w:])
        for name, (ms, cpu) in res.items():
            med = float(np.median(ms[w:]))
            stats, extra = pipes[name].stats, ""
            if stats is not None:
                pct = stats.percentiles()
                stages = ", ".join(f"{k} {pct[k][0]:.2f}" for k in
                                   ("track", "detect", "crop", "infer", "anatomy", "metric",
                                    "filter")
                                   if k in pct)
                extra = (f"detector on {stats.detections}/{stats.frames} frames; stage p50 ms: "
                         f"{stages}")
            rows.append((hands, name, med, float(np.percentile(ms[w:], 95)), med / full,
                         float(np.mean(cpu[w:])), extra))
    print("\n| hands | pipeline | median ms/frame | p95 | / MediaPipe full | CPU ms/frame "
          "| notes |")
    print("|---|---|---|---|---|---|---|")
    for hands, name, med, p95, ratio, cpu_ms, extra in rows:
        print(f"| {hands} | {name} | {med:.2f} | {p95:.2f} | {ratio:.2f} | {cpu_ms:.1f} "
              f"| {extra} |")


if __name__ == "__main__":
    main()
