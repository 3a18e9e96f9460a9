"""handtrack-eval-real: the engine on real hands, with MediaPipe's own 3D as the baseline.

Each PATH is either a folder in the realhands layout (annotations.json: images with 3D ground
truth) or a video clip. Folders print EPE (root-aligned at the middle MCP, scaled to the true
bone), PA-MPJPE, AUC 20-50 mm and the detection rate for the engine, MediaPipe's world
landmarks and the kinematic fit to them, measured in the same run on the same detections.
Clips print how often the engine reports the hand MediaPipe's video mode finds, its 2D distance
to MediaPipe's landmarks per frame, and the jitter of both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.cli import Parser
from app.engine import Engine, EngineConfig
from app.engine.backends import BackendConfig
from app.engine.detect import DetectorConfig
from app.engine.engine import anatomy_config
from app.engine.errors import EngineError
from app.engine.filters import FilterConfig
from app.engine.landmarks3d import LandmarkFusionConfig
from app.engine.rootfit import MetricConfig
from app.engine.sources import SourceConfig
from app.engine.tracking import TrackerConfig
from app.realeval.annotations import ANNOTATIONS, AnnotationError
from app.realeval.images import MP_FIT, MP_WORLD, OURS, AnnotatedImages, evaluate_images
from app.realeval.video import evaluate_video
from model.config_flags import OptionError, add_flags, from_args, number
from model.inference import FUSE_MODES
from model.machine import describe_machine

EPILOG = """examples:
  handtrack-eval-real ../shared/realhands/hgc_val ../shared/realhands/interhand \\
      ../shared/realhands/stb
  handtrack-eval-real ../shared/realhands/video/thumbs_640x360.mp4 --hands 1
  handtrack-eval-real ../shared/realhands/hgc_val --fuse rgb --world-weight 0
writes --out DIR/results.md and DIR/metrics.json when --out is given."""

IMAGE_HEADER = ("| set | method | EPE (mm) | PA-MPJPE (mm) | AUC 20-50 | camera frame (mm) | "
                "hands found |\n|---|---|---|---|---|---|---|")
VIDEO_HEADER = ("| clip | frames | MediaPipe hand-frames | engine has the hand | engine only | "
                "2D px mean | "
                "median | p95 | max | jitter camera (mm) | jitter rel. (mm) | jitter MediaPipe "
                "world (mm) | ids |\n" + "|---" * 13 + "|")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="handtrack-eval-real", description=__doc__.split("\n\n")[0],
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=f"a folder with {ANNOTATIONS} (realhands layout) or a video file")
    m = p.add_argument_group("model")
    add_flags(m, BackendConfig)
    m.add_argument("--fuse", choices=FUSE_MODES, default=None,
                   help="experts (default: rgb+2d if the model has the 2D expert, else rgb)")
    t = p.add_argument_group("tracking and 3D (as handtrack's)")
    add_flags(t, TrackerConfig, DetectorConfig, MetricConfig, LandmarkFusionConfig)
    t.add_argument("--no-anatomy", action="store_true", help="no kinematic fit")
    add_flags(t, FilterConfig)
    o = p.add_argument_group("output")
    o.add_argument("--max-samples", type=number(int, "a count (0 = all)", lambda v: v >= 0,
                                                "--max-samples 50"), default=0,
                   help="score only the first N images / frames of each PATH (0 = all)")
    o.add_argument("--out", metavar="DIR", help="also write DIR/results.md and metrics.json")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def engine_config(args: argparse.Namespace, source: SourceConfig) -> EngineConfig:
    filt = from_args(args, FilterConfig)
    return EngineConfig(source=source, detector=from_args(args, DetectorConfig),
                        tracker=from_args(args, TrackerConfig),
                        backend=from_args(args, BackendConfig, max_batch=args.hands),
                        metric=from_args(args, MetricConfig), filter=filt, fuse=args.fuse,
                        landmarks=from_args(args, LandmarkFusionConfig),
                        anatomy=anatomy_config(not args.no_anatomy))


def image_rows(name: str, rows: dict, detail: dict) -> list[str]:
    out = []
    for method in (OURS, MP_WORLD, MP_FIT):
        r = rows.get(method)
        if not r or not r.get("hands"):
            continue
        cam = f"{r['camera_mm']:.1f}" if "camera_mm" in r else "-"
        out.append(f"| {name} | {method} | {r['epe_mm']:.1f} | {r['pa_mm']:.1f} | "
                   f"{r['auc_20_50']:.3f} | {cam} | {r['hands']}/{detail['hands']} |")
    return out


def video_row(name: str, r: dict) -> str:
    return (f"| {name} | {r['frames']} | {r['reference_hand_frames']} | {r['covered']} | "
            f"{r['unmatched_engine_hands']} | "
            f"{r['err_px_mean']:.1f} | {r['err_px_median']:.1f} | {r['err_px_p95']:.1f} | "
            f"{r['err_px_max']:.1f} | {r['jitter_camera_mm']:.2f} | "
            f"{r['jitter_relative_mm']:.2f} | {r['jitter_mediapipe_world_mm']:.2f} | "
            f"{r['tracks']} |")


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    for p in paths:
        if not p.exists():
            raise EngineError(f"{p} does not exist; pass a realhands folder or a video file")
        if p.is_dir() and not (p / ANNOTATIONS).is_file():
            raise EngineError(f"{p} has no {ANNOTATIONS}; pass a folder in the realhands layout "
                              "(../shared/realhands/README.md) or a video file")
    print(describe_machine(), flush=True)
    progress = not args.no_progress and sys.stderr.isatty()
    image_lines, video_lines, metrics = [], [], {}
    described = ""
    for p in paths:
        t0 = time.perf_counter()
        if p.is_dir():
            cfg = engine_config(args, SourceConfig(kind="images"))
            with Engine(cfg, source=AnnotatedImages(), on_message=lambda n: None) as engine:
                described = f"{engine.backend_name}, experts {engine.fuse}"
                rows, detail = evaluate_images(engine, p, args.max_samples, progress)
            metrics[str(p)] = {"rows": rows, **detail}
            image_lines += image_rows(p.name, rows, detail)
        else:
            cfg = engine_config(args, SourceConfig(kind="video", path=str(p), realtime=False))
            with Engine(cfg, on_message=lambda n: None) as engine:
                described = f"{engine.backend_name}, experts {engine.fuse}"
                r = evaluate_video(engine, p, args.max_samples, progress=progress)
            metrics[str(p)] = r
            video_lines.append(video_row(p.name, r))
        print(f"{p}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    text = [f"engine: {described}; tracking {args.tracking}, world weight "
            f"{args.world_weight:g}, rgb weight {args.rgb_weight:g}, kinematic fit "
            f"{'off' if args.no_anatomy else 'on'}"]
    if image_lines:
        text += ["", IMAGE_HEADER, *image_lines]
    if video_lines:
        text += ["", VIDEO_HEADER, *video_lines]
    print("\n".join(text))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text("\n".join(text) + "\n")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        return run(args)
    except (EngineError, AnnotationError, OptionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
