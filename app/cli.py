"""`handtrack`: the real-time hand tracker, in a window (app.gui) or headless.

    handtrack                                  # camera 0 in the window
    handtrack --demo --headless --frames 600 --json out.jsonl
    handtrack --video clip.mp4 --headless --record session/ --osc 127.0.0.1:9000
    handtrack --replay session/ --reprocess --headless

User errors print `error: <what went wrong and the fix>` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from app.engine import (
    BackendConfig,
    DetectorConfig,
    EngineConfig,
    EngineError,
    FilterConfig,
    MetricConfig,
    SourceConfig,
    TrackerConfig,
)
from app.engine.backends import BACKENDS
from app.engine.engine import anatomy_config
from app.engine.metric import DEFAULT_HAND_SIZE_M


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handtrack", description="Real-time 3D hand tracking from a webcam, a video or the "
        "synthetic demo; in a window, or headless with a summary and JSON lines.")
    src = p.add_argument_group("source (one of; default --camera 0)").add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="camera index (default 0)")
    src.add_argument("--video", metavar="PATH", help="a video file")
    src.add_argument("--images", metavar="DIR", help="a folder of images (each detected alone)")
    src.add_argument("--demo", action="store_true",
                     help="the synthetic hand stream, with ground truth (3D error reported)")
    src.add_argument("--replay", metavar="DIR", help="a session recorded with --record")
    s = p.add_argument_group("capture")
    s.add_argument("--width", type=int, default=640, help="camera width px (default 640)")
    s.add_argument("--height", type=int, default=480, help="camera height px (default 480)")
    s.add_argument("--fps", type=float, default=30.0, help="camera / demo frame rate")
    s.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                   help="mirror the frames (selfie view; default: on for a camera only)")
    s.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=None,
                   help="play files at their frame rate, dropping frames when processing is "
                        "slower (default: on in the window, off headless)")
    s.add_argument("--loop", action="store_true", help="restart a video / image folder / demo")
    s.add_argument("--demo-hands", type=int, choices=(1, 2), default=1,
                   help="hands in the demo stream")
    s.add_argument("--seed", type=int, default=None,
                   help="demo scene seed (background, lights; default 6)")
    m = p.add_argument_group("model")
    m.add_argument("--checkpoint", metavar="PATH",
                   help="model .pt (default: $HANDTRACK_CHECKPOINT or app/assets/default.pt)")
    m.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference backend (auto: tensorrt > onnxruntime > torch, by what "
                        "handtrack-export wrote next to the checkpoint)")
    m.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    m.add_argument("--threads", type=int, default=0,
                   help="CPU threads (0 = automatic: onnxruntime all cores, torch half)")
    m.add_argument("--cloud", action="store_true", help="also output the hand point cloud")
    m.add_argument("--fuse", choices=("rgb", "2d", "rgb+2d"), default=None,
                   help="experts of a fused model (--strategy s4-2d): RGB crop, MediaPipe's 2D "
                        "landmarks or both; 2D joins on frames where the detector ran "
                        "(default: rgb+2d if the model has the 2D expert, else rgb)")
    t = p.add_argument_group("tracking and 3D")
    t.add_argument("--hands", type=int, choices=(1, 2), default=2, help="hands to track")
    t.add_argument("--detector", type=int, choices=(0, 1), default=1,
                   help="MediaPipe model complexity (0 lite, 1 full)")
    t.add_argument("--calibration", metavar="PATH", help="camera intrinsics file (calibration/)")
    t.add_argument("--hfov", type=float, default=60.0,
                   help="horizontal field of view in degrees when there is no calibration")
    t.add_argument("--hand-size-m", type=float, default=DEFAULT_HAND_SIZE_M,
                   help=f"middle MCP->PIP bone length in metres (default {DEFAULT_HAND_SIZE_M})")
    t.add_argument("--no-anatomy", action="store_true",
                   help="show the network's 3D pose as decoded, without the kinematic fit that "
                        "keeps joint limits and bone proportions of a real hand")
    t.add_argument("--no-smoothing", action="store_true", help="turn the One Euro filter off")
    t.add_argument("--min-cutoff", type=float, default=None, help="One Euro min cutoff (Hz)")
    t.add_argument("--beta", type=float, default=None, help="One Euro beta (1/m)")
    o = p.add_argument_group("output")
    o.add_argument("--headless", action="store_true", help="no window: print a summary")
    o.add_argument("--frames", type=int, default=None, metavar="N", help="stop after N frames")
    o.add_argument("--json", metavar="PATH", help="write one JSON line per frame (- = stdout)")
    o.add_argument("--record", metavar="DIR", help="record the session (CSV + video) to DIR")
    o.add_argument("--osc", metavar="HOST:PORT", help="send OSC to HOST:PORT")
    o.add_argument("--osc-flat", action="store_true", help="OSC: one message per hand")
    o.add_argument("--udp", metavar="HOST:PORT", help="send one JSON datagram per frame")
    o.add_argument("--reprocess", action="store_true",
                   help="with --replay: recompute the results instead of replaying them")
    return p


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig that the command line describes."""
    if args.demo:
        kind, path = "demo", None
    elif args.video:
        kind, path = "video", args.video
    elif args.images:
        kind, path = "images", args.images
    elif args.replay:
        kind, path = "replay", args.replay
    else:
        kind, path = "camera", None
    realtime = args.realtime if args.realtime is not None else not args.headless
    if args.reprocess and kind != "replay":
        raise EngineError("--reprocess only applies to --replay DIR")
    if args.frames is not None and args.frames <= 0:
        raise EngineError(f"--frames must be positive, got {args.frames}")
    source = SourceConfig(kind=kind, camera=args.camera or 0, width=args.width,
                          height=args.height, fps=args.fps, path=path, mirror=args.mirror,
                          realtime=realtime, loop=args.loop, demo_hands=args.demo_hands,
                          seed=args.seed)
    filt = FilterConfig(enabled=not args.no_smoothing)
    if args.min_cutoff is not None:
        filt.min_cutoff_hz = args.min_cutoff
    if args.beta is not None:
        filt.beta = args.beta
    try:
        metric = MetricConfig(hand_size_m=args.hand_size_m)
    except ValueError as e:
        raise EngineError(f"--hand-size-m: {e}") from None
    return EngineConfig(
        source=source, detector=DetectorConfig(model_complexity=args.detector),
        tracker=TrackerConfig(max_hands=args.hands),
        backend=BackendConfig(kind=args.backend, checkpoint=args.checkpoint, device=args.device,
                              threads=args.threads, max_batch=args.hands, with_cloud=args.cloud),
        metric=metric, filter=filt, calibration=args.calibration, hfov_deg=args.hfov,
        reprocess=args.reprocess, fuse=args.fuse,
        anatomy=anatomy_config(not args.no_anatomy))


def open_sinks(args: argparse.Namespace, engine) -> list:
    """Recorder / OSC / UDP sinks the arguments ask for (app.sinks)."""
    if not (args.record or args.osc or args.udp):
        return []
    from app.sinks import (
        OscConfig,
        OscSink,
        Recorder,
        RecorderConfig,
        UdpConfig,
        UdpSink,
        parse_host_port,
    )
    from app.sinks.osc import DEFAULT_OSC_PORT
    from app.sinks.udp import DEFAULT_UDP_PORT

    sinks = []
    try:
        if args.osc:
            host, port = parse_host_port(args.osc, DEFAULT_OSC_PORT, "--osc")
            sinks.append(OscSink(OscConfig(host=host, port=port, flat=args.osc_flat)))
        if args.udp:
            host, port = parse_host_port(args.udp, DEFAULT_UDP_PORT, "--udp")
            sinks.append(UdpSink(UdpConfig(host=host, port=port)))
        if args.record:
            src = engine.source
            w, h = src.size
            K = engine.intrinsics((w, h))
            how = engine.intrinsics_source
            sinks.append(Recorder(RecorderConfig(
                path=args.record, fps=src.fps or args.fps, K=K, intrinsics_source=how,
                model=str(getattr(engine, "checkpoint", "")), backend=engine.backend.name,
                camera={"source": src.description, "width": w, "height": h,
                        "mirror": bool(src.mirrored)})))
    except BaseException:
        for s in sinks:
            s.close()
        raise
    return sinks


def result_json(result) -> str:
    """One JSON line: app.sinks.udp's frame schema, plus ground_truth_m for the demo."""
    from app.sinks.udp import encode_frame

    obj = json.loads(encode_frame(result))
    if result.ground_truth_m:
        obj["ground_truth_m"] = {str(k): np.round(np.asarray(v, np.float64), 6).tolist()
                                 for k, v in result.ground_truth_m.items()}
    return json.dumps(obj, separators=(",", ":"))


def run_headless(args: argparse.Namespace, config: EngineConfig) -> int:
    from app.engine import Engine

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with Engine(config, on_message=say) as engine:
        say(f"source: {engine.source.description}")
        sinks = open_sinks(args, engine)
        out = None
        if args.json:
            out = sys.stdout if args.json == "-" else open(args.json, "w")  # noqa: SIM115
        stop_once = threading.Event()

        def on_sigint(signum, frame):
            if stop_once.is_set():
                raise KeyboardInterrupt
            stop_once.set()
            engine.stop()

        old = signal.signal(signal.SIGINT, on_sigint)
        try:
            for result, rgb in engine.run(max_frames=args.frames):
                for sink in sinks:
                    sink.write(result, rgb)
                if out is not None:
                    out.write(result_json(result) + "\n")
        finally:
            signal.signal(signal.SIGINT, old)
            for sink in sinks:
                sink.close()
            if out is not None and out is not sys.stdout:
                out.close()
        summary = engine.stats.summary()
        print(summary, file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    return 0


def prepare_qt_environment() -> None:
    """Undo what the OpenCV wheel (pulled in by mediapipe) does on import: it points
    QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt 5 plugins, which PyQt6 cannot load. Refuse early,
    with a message, when there is no display (Qt would abort the process)."""
    import cv2

    cv_dir = Path(cv2.__file__).resolve().parent
    for var in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = os.environ.get(var)
        if value and Path(value).resolve().is_relative_to(cv_dir):
            del os.environ[var]
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if (sys.platform.startswith("linux") and platform in ("", "xcb", "wayland")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        raise EngineError("there is no display to open the window on (DISPLAY and "
                          "WAYLAND_DISPLAY are unset); run with --headless, or set "
                          "QT_QPA_PLATFORM=offscreen")


def run_window(args: argparse.Namespace, config: EngineConfig) -> int:
    prepare_qt_environment()
    try:
        from app.gui.main_window import run_gui
    except ImportError as e:
        raise EngineError(f"the window is not available ({e}); install PyQt6, pyqtgraph and "
                          "PyOpenGL (`pip install -e .`), or run with --headless") from None
    return int(run_gui(config, args) or 0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        if args.headless:
            return run_headless(args, config)
        return run_window(args, config)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:
        from app.sinks import SessionError, SinkConfigError

        if isinstance(e, SinkConfigError | SessionError | OSError):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
