"""How real the renders look to a real hand detector: MediaPipe Hands on fresh renders.

    python -m train.synth.realism --frames 1000 --size 256 --seed 2

renders the evaluation split `handtrack-synth --eval N --size S --seed K` would write (same
seeds, in memory), runs MediaPipe Hands on every full image (static-image mode, the engine's
settings) and reports:

- the detection rate: a frame counts as detected when one of MediaPipe's hands lies, on average
  over the 21 keypoints, within half the hand's 2D extent of the ground truth (the rule of
  train/mediapipe2d.py);
- MediaPipe's 2D landmark error on the detected frames against our ground truth, in pixels and
  as a percentage of the hand's 2D extent (its longer side), over the visible joints;
- the detection rate per bin of what a render varies (hand size in the image, palm facing the
  camera or not, visible joints, occluder, side), so that the cause of a miss can be read off.

`--save DIR` writes a contact sheet of missed frames to look at. Numbers only: nothing is
asserted here; the tests check the measurement on small sets.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.hand import Joint
from train.synth.render import LEGACY_STYLE, SynthConfig, SynthFrame, render_sample
from train.synth.writer import sample_seed

EXTENT_BINS_PX = (0.0, 40.0, 60.0, 90.0, 130.0, 1e9)
VISIBLE_BINS = (0, 11, 16, 19, 22)


@dataclass
class FrameResult:
    """One render: detected (bool), error_px / error_pct (mean over visible joints; nan when
    missed), extent_px (longer side of the 2D keypoint box), facing (cosine between the palm
    normal and the direction towards the camera: 1 palm towards it, -1 back of the hand),
    visible (joints visible), side (0/1), scene: what the render drew (SynthFrame.scene)."""

    index: int
    detected: bool
    error_px: float
    error_pct: float
    extent_px: float
    facing: float
    visible: int
    side: int
    scene: dict = field(default_factory=dict)


def palm_facing(frame: SynthFrame) -> float:
    """Cosine between the palm's normal (pointing out of the palm) and the direction from the
    palm towards the camera; +1 palm seen, -1 back of the hand seen, 0 edge-on."""
    j = frame.joints_m
    w, i, p = j[Joint.WRIST], j[Joint.INDEX_MCP], j[Joint.LITTLE_MCP]
    n = np.cross(i - w, p - w)
    if frame.side == 0:  # left hands are mirrored: the same cross product points the other way
        n = -n
    n /= max(np.linalg.norm(n), 1e-12)
    centre = (w + i + p) / 3
    to_cam = -centre / max(np.linalg.norm(centre), 1e-12)
    return float(n @ to_cam)


def _render(args) -> tuple[int, SynthFrame]:
    config, seed, index = args
    return index, render_sample(config, sample_seed(seed, "evaluation", index))


def _frames(config: SynthConfig, n: int, seed: int, workers: int):
    jobs = [(config, seed, i) for i in range(n)]
    if workers <= 1:
        yield from map(_render, jobs)
        return
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_render, jobs, chunksize=8)


def measure(config: SynthConfig, n: int, seed: int = 2, workers: int = 1,
            progress: bool = True, model_complexity: int = 1,
            keep_missed: int = 0) -> tuple[list[FrameResult], list[np.ndarray]]:
    """MediaPipe on `n` fresh renders. Returns the per-frame results and up to `keep_missed`
    missed images (H, W, 3) uint8 with the ground truth drawn."""
    from model.mediapipe_hands import MediaPipeHands

    results: list[FrameResult] = []
    missed: list[np.ndarray] = []
    with MediaPipeHands(max_hands=2, model_complexity=model_complexity) as hands:
        for i, f in tqdm(_frames(config, n, seed, workers), total=n, desc="mediapipe",
                         disable=not progress, unit="frame"):
            gt = np.asarray(f.uv_px, np.float64)
            extent = float(np.ptp(gt, axis=0).max())
            found = [d.uv_px for d in hands.process(f.rgb, mirrored=False)]
            err_px = err_pct = float("nan")
            detected = False
            if found:
                dist = [float(np.linalg.norm(d - gt, axis=1).mean()) for d in found]
                k = int(np.argmin(dist))
                if dist[k] <= 0.5 * extent:
                    detected = True
                    vis = f.vis if f.vis.any() else np.ones(21, bool)
                    err_px = float(np.linalg.norm(found[k] - gt, axis=1)[vis].mean())
                    err_pct = 100.0 * err_px / max(extent, 1e-6)
            results.append(FrameResult(i, detected, err_px, err_pct, extent, palm_facing(f),
                                       int(f.vis.sum()), int(f.side), f.scene))
            if not detected and len(missed) < keep_missed:
                missed.append(_draw(f))
    return results, missed


def _draw(f: SynthFrame) -> np.ndarray:
    import cv2

    img = np.ascontiguousarray(f.rgb.copy())
    for (u, v), ok in zip(f.uv_px, f.vis):
        cv2.circle(img, (int(round(u)), int(round(v))), 2, (0, 255, 0) if ok else (255, 0, 0),
                   -1)
    return img


def summary(results: list[FrameResult]) -> dict:
    """Detection rate, landmark errors and the per-bin rates (a JSON-able dict)."""
    det = np.array([r.detected for r in results])
    err_px = np.array([r.error_px for r in results if r.detected])
    err_pct = np.array([r.error_pct for r in results if r.detected])
    ext = np.array([r.extent_px for r in results])
    face = np.array([r.facing for r in results])
    vis = np.array([r.visible for r in results])
    side = np.array([r.side for r in results])
    luma = np.array([r.scene.get("skin_luma", np.nan) for r in results], float)
    arm = np.array([r.scene.get("forearm", "") for r in results])
    bgk = np.array([r.scene.get("background", "") for r in results])
    clut = np.array([r.scene.get("clutter", False) for r in results], bool)
    occ = np.array([r.scene.get("occluder", False) for r in results], bool)

    def rate(sel) -> dict:
        return {"frames": int(sel.sum()),
                "detected_pct": float(100 * det[sel].mean()) if sel.any() else float("nan")}

    bins = {
        "hand extent (px)": {f"{lo:g}-{hi:g}" if hi < 1e8 else f">={lo:g}":
                             rate((ext >= lo) & (ext < hi))
                             for lo, hi in zip(EXTENT_BINS_PX[:-1], EXTENT_BINS_PX[1:])},
        "palm facing": {"palm (cos > 0.5)": rate(face > 0.5),
                        "edge-on (|cos| <= 0.5)": rate(np.abs(face) <= 0.5),
                        "back (cos < -0.5)": rate(face < -0.5)},
        "visible joints": {f"{lo}-{hi - 1}": rate((vis >= lo) & (vis < hi))
                           for lo, hi in zip(VISIBLE_BINS[:-1], VISIBLE_BINS[1:])},
        "side": {"left": rate(side == 0), "right": rate(side == 1)},
        "skin (mean albedo)": {"light (> 0.5)": rate(luma > 0.5),
                               "medium (0.3-0.5)": rate((luma > 0.3) & (luma <= 0.5)),
                               "dark (<= 0.3)": rate(luma <= 0.3)},
        "forearm": {k: rate(arm == k) for k in ("bare", "sleeve", "none")},
        "background": {k: rate(bgk == k) for k in ("room", "pattern", "photo")},
        "clutter behind": {"yes": rate(clut), "no": rate(~clut)},
        "occluder in front": {"yes": rate(occ), "no": rate(~occ)},
    }
    return {"frames": len(results), "detected": int(det.sum()),
            "detected_pct": float(100 * det.mean()) if len(det) else float("nan"),
            "error_px_median": float(np.median(err_px)) if len(err_px) else float("nan"),
            "error_px_mean": float(err_px.mean()) if len(err_px) else float("nan"),
            "error_pct_median": float(np.median(err_pct)) if len(err_pct) else float("nan"),
            "bins": bins}


def format_summary(s: dict) -> str:
    lines = [f"MediaPipe found the hand in {s['detected']} of {s['frames']} renders "
             f"({s['detected_pct']:.1f} %)",
             f"2D landmark error on those (visible joints): median {s['error_px_median']:.2f} px, "
             f"mean {s['error_px_mean']:.2f} px, median {s['error_pct_median']:.1f} % of the "
             f"hand's extent", "", "| factor | bin | frames | detected |", "|---|---|---|---|"]
    for factor, bins in s["bins"].items():
        for name, r in bins.items():
            pct = "-" if r["frames"] == 0 else f"{r['detected_pct']:.1f} %"
            lines.append(f"| {factor} | {name} | {r['frames']} | {pct} |")
    return "\n".join(lines)


def _sheet(images: list[np.ndarray], path: Path, cols: int = 8) -> None:
    import cv2

    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}; check that the folder is writable")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.synth.realism",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--frames", type=int, default=1000, help="renders to check")
    p.add_argument("--size", type=int, default=256, help="image side (px)")
    p.add_argument("--seed", type=int, default=2, help="the evaluation split's seed")
    p.add_argument("--backgrounds", type=Path, default=None, metavar="DIR",
                   help="photo backgrounds, as handtrack-synth --backgrounds")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="render processes")
    p.add_argument("--save", type=Path, default=None, metavar="DIR",
                   help="write missed.png (a sheet of missed renders) and summary.json here")
    p.add_argument("--lite", action="store_true", help="MediaPipe's lite landmark model")
    p.add_argument("--legacy", action="store_true",
                   help="the scene statistics of earlier versions (LEGACY_STYLE: uniform "
                        "orientations, pattern backgrounds, flat skin), to compare against")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if a.frames < 1 or a.size < 32 or a.workers < 1:
            raise ValueError("--frames and --workers must be >= 1 and --size >= 32")
        from train.synth.scene import list_images

        bgs = tuple(list_images(a.backgrounds)) if a.backgrounds else ()
        config = SynthConfig(size=a.size, backgrounds=bgs, **(LEGACY_STYLE if a.legacy else {}))
        results, missed = measure(config, a.frames, a.seed, a.workers,
                                  model_complexity=0 if a.lite else 1,
                                  keep_missed=32 if a.save else 0)
    except ImportError as e:
        print(f"error: MediaPipe is needed ({e}); run `pip install mediapipe==0.10.21`",
              file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = summary(results)
    print(format_summary(s))
    if a.save:
        a.save.mkdir(parents=True, exist_ok=True)
        if missed:
            _sheet(missed, a.save / "missed.png")
        tmp = a.save / "summary.json.tmp"
        tmp.write_text(json.dumps({"summary": s, "frames": [asdict(r) for r in results]},
                                  indent=1))
        os.replace(tmp, a.save / "summary.json")
        print(f"wrote {a.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
