"""Per-frame time of the handtrack engine vs MediaPipe Hands on the same 640x480 frames.

    .venv/bin/python -m bench.bench_engine [--frames 150] [--checkpoint PATH]

Frames: the synthetic demo stream (train.synth), one hand and two hands, rendered before timing.
Compared, frame by frame in sequence, on the same machine in one run:
- MediaPipe Hands (mp.solutions, video mode, model_complexity 1 "full" and 0 "lite"),
  max_num_hands = number of hands in the stream;
- the engine (detection + tracking + crops + backend + metric fit + filter) with onnxruntime at
  128 px and 96 px crops, and with eager torch at 128 px;
- the backend alone (ResNet-18 encoder + pose decoder) on a batch of 1 and 2 crops.
Reported per pipeline: median and p95 wall ms per frame, the ratio to MediaPipe full, and the
mean CPU ms per frame of the whole process (all threads; less sensitive to other programs on a
shared machine than wall time).
Without --checkpoint the network has random weights (same cost as a trained one); so that the
tracking behaves as with a trained network, the pose fed to the tracker is the demo's ground
truth (the backend still runs on every crop and is timed). Prints a markdown table.
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
from app.engine.backends import BackendOutput, open_backend  # noqa: E402
from app.engine.demo import DemoSource  # noqa: E402
from model.geometry import normalise_pose, transform_points  # noqa: E402


class GroundTruthPoseEngine(Engine):
    """Runs the real backend (timed as 'infer') but tracks with the ground-truth pose."""

    def _infer(self, batch, cams, truth):
        out = self.backend.infer(batch)
        poses = []
        for cam in cams:
            c = transform_points(cam.H_inv, np.full((1, 2), (cam.size - 1) / 2.0))[0]
            gt = min(truth, key=lambda g: np.linalg.norm(g.uv_px[9] - c))
            poses.append(normalise_pose(gt.joints_m @ cam.R)[0])
        return BackendOutput(np.asarray(poses, np.float32), out.cloud)


def render_frames(hands: int, n: int):
    src = DemoSource(SourceConfig(kind="demo", demo_hands=hands, demo_frames=n))
    return src, [src.render(i) for i in range(n)]


def _clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    return time.perf_counter(), time.process_time()


def time_mediapipe(frames, hands: int, complexity: int):
    import mediapipe as mp

    ms, cpu = [], []
    with mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=hands,
                                  model_complexity=complexity) as mph:
        for f in frames:
            t0, c0 = _clock()
            mph.process(f.rgb)
            t1, c1 = _clock()
            ms.append((t1 - t0) * 1e3)
            cpu.append((c1 - c0) * 1e3)
    return np.array(ms), np.array(cpu), None


def time_engine(src, frames, hands: int, checkpoint: Path, kind: str):
    cfg = EngineConfig(source=SourceConfig(kind="demo", demo_hands=hands),
                       backend=BackendConfig(kind=kind, checkpoint=str(checkpoint), device="cpu",
                                             max_batch=hands),
                       tracker=TrackerConfig(max_hands=hands))
    with GroundTruthPoseEngine(cfg, source=src) as engine:
        ms, cpu = [], []
        for i, f in enumerate(frames):
            t0, c0 = _clock()
            engine.process(f.rgb, i / 30.0, i, f.truth)
            t1, c1 = _clock()
            ms.append((t1 - t0) * 1e3)
            cpu.append((c1 - c0) * 1e3)
        stats = engine.stats
    return np.array(ms), np.array(cpu), stats


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
    from app.export import export_onnx
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    out = {}
    for crop in (128, 96):
        ckpt = save_inference_checkpoint(tmp / f"r{crop}.pt",
                                         build_hand_pose_net(NetConfig(crop_size=crop)))
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
    print(f"machine: {os.cpu_count()} CPU cores; frames {args.frames} (first {w} not counted)")
    print("\nbackend alone, median ms: ", end="")
    enc = {}
    for crop, kind in ((128, "onnxruntime"), (96, "onnxruntime"), (128, "torch")):
        for b in (1, 2):
            enc[(crop, kind, b)] = time_backend(models[crop], kind, b, 50)
    print(", ".join(f"{k} {c}px B={b}: {v:.2f}" for (c, k, b), v in enc.items()))
    rows = []
    for hands in (1, 2):
        src, frames = render_frames(hands, args.frames)
        res = {}
        for c in (1, 0):
            res[f"MediaPipe {'full' if c else 'lite'}"] = time_mediapipe(frames, hands, c)
        for crop, kind in ((128, "onnxruntime"), (96, "onnxruntime"), (128, "torch")):
            res[f"engine {kind} {crop}px"] = time_engine(src, frames, hands, models[crop], kind)
        full = np.median(res["MediaPipe full"][0][w:])
        for name, (ms, cpu, stats) in res.items():
            med = float(np.median(ms[w:]))
            extra = ""
            if stats is not None:
                pct = stats.percentiles()
                stages = ", ".join(f"{k} {pct[k][0]:.2f}" for k in
                                   ("track", "detect", "crop", "infer", "metric", "filter")
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
