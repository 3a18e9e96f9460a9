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
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

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
from app.engine.engine import anatomy_config
from app.engine.landmarks3d import LandmarkFusionConfig
from model.config_flags import add_flags, from_args, nonempty, number
from model.inference import FUSE_MODES

if TYPE_CHECKING:
    from app.sinks import SinkFanout

DEFAULT_HFOV_DEG = 60.0


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `error: <problem>; <fix>` line and exit
    status 2 (argparse prints its usage and `handtrack: error: ...`)."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        if ";" not in message:  # argparse's own messages ("unrecognized arguments: ...")
            message += f"; see {self.prog} --help"
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The options. Those that set one config field are generated from it (model/config_flags.py:
    SourceConfig, BackendConfig, TrackerConfig, DetectorConfig, MetricConfig, FilterConfig);
    the others are written here and mapped by config_from_args."""
    p = Parser(
        prog="handtrack", description="Real-time 3D hand tracking from a webcam, a video or the "
        "synthetic demo; in a window, or headless with a summary and JSON lines.")
    _add_source_options(p)
    add_flags(p.add_argument_group("capture"), SourceConfig)
    m = p.add_argument_group("model")
    add_flags(m, BackendConfig)
    m.add_argument("--fuse", choices=FUSE_MODES, default=None,
                   help="experts of a fused model (--strategy s4-2d): RGB crop, MediaPipe's 2D "
                        "landmarks or both; 2D joins on every frame with MediaPipe's landmarks "
                        "(default: rgb+2d if the model has the 2D expert, else rgb)")
    t = p.add_argument_group("tracking and 3D")
    add_flags(t, TrackerConfig, DetectorConfig)
    t.add_argument("--calibration", type=nonempty("a camera intrinsics file",
                                                  "--calibration camera.yaml"),
                   metavar="PATH", help="camera intrinsics file (calibration/)")
    t.add_argument("--hfov", type=number(float, "a field of view in degrees (between 0 and 180)",
                                         lambda v: 0 < v < 180, "--hfov 60"),
                   default=None, help="horizontal field of view in degrees when there is no "
                                      f"calibration (default {DEFAULT_HFOV_DEG:g})")
    add_flags(t, MetricConfig, LandmarkFusionConfig)
    t.add_argument("--no-anatomy", action="store_true",
                   help="show the network's 3D pose as decoded, without the kinematic fit that "
                        "keeps joint limits and bone proportions of a real hand")
    t.add_argument("--no-overlap", action="store_true",
                   help="run MediaPipe in this process, one stage after the other (default: in "
                        "a process of its own, a frame ahead of the network, so both cores "
                        "work at once: higher fps, about the same latency)")
    add_flags(t, FilterConfig)
    _add_output_options(p.add_argument_group("output"))
    return p


def _add_source_options(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source (one of; default --camera 0)").add_mutually_exclusive_group()
    src.add_argument("--camera", type=number(int, "a camera index (0, 1, ...)",
                                             lambda v: v >= 0, "--camera 0"),
                     metavar="N", help="camera index (default 0)")
    src.add_argument("--video", type=nonempty("a video file", "--video clip.mp4"), metavar="PATH",
                     help="a video file")
    src.add_argument("--images", type=nonempty("a folder of images", "--images photos/"),
                     metavar="DIR", help="a folder of images (each detected alone)")
    src.add_argument("--demo", action="store_true",
                     help="the synthetic hand stream, with ground truth (3D error reported)")
    src.add_argument("--replay", type=nonempty("a folder written by --record", "--replay session/"),
                     metavar="DIR", help="a session recorded with --record")


def _add_output_options(o) -> None:
    o.add_argument("--headless", action="store_true", help="no window: print a summary")
    o.add_argument("--frames", type=number(int, "a frame count (1 or more)", lambda v: v > 0,
                                           "--frames 300"),
                   default=None, metavar="N",
                   help="stop after N frames (the demo then runs N frames; default 600)")
    o.add_argument("--json", type=nonempty("a file path or - for stdout", "--json out.jsonl"),
                   metavar="PATH", help="write one JSON line per frame (- = stdout)")
    o.add_argument("--record", type=nonempty("a folder", "--record session/"), metavar="DIR",
                   help="record the session (CSV + video) to DIR")
    o.add_argument("--record-bvh", action="store_true",
                   help="with --record (headless): also write DIR/anim/hand{id}.bvh at the end "
                        "(handtrack-export-anim)")
    o.add_argument("--osc", type=nonempty("HOST:PORT", "--osc 127.0.0.1:9000"),
                   metavar="HOST:PORT", help="send OSC to HOST:PORT")
    o.add_argument("--osc-flat", action="store_true", help="OSC: one message per hand")
    o.add_argument("--udp", type=nonempty("HOST:PORT", "--udp 127.0.0.1:9001"),
                   metavar="HOST:PORT", help="send one JSON datagram per frame")
    o.add_argument("--reprocess", action="store_true",
                   help="with --replay: recompute the results instead of replaying them")


def source_of(args: argparse.Namespace) -> tuple[str, str | None]:
    """(kind, path) of the source the command line names; ("camera", None) by default."""
    for kind in ("demo", "video", "images", "replay"):
        value = getattr(args, kind)
        if value:
            return kind, None if kind == "demo" else value
    return "camera", None


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig that the command line describes."""
    kind, path = source_of(args)
    realtime = args.realtime if args.realtime is not None else not args.headless
    if args.reprocess and kind != "replay":
        raise EngineError("--reprocess only applies to --replay DIR")
    if args.frames is not None and args.frames <= 0:
        raise EngineError(f"--frames must be positive, got {args.frames}")
    if args.calibration is not None:
        calib = Path(args.calibration)
        if not calib.exists():
            raise EngineError(f"calibration {calib} does not exist; check the path given to "
                              "--calibration, or calibrate the camera with handtrack-calibrate")
        if not calib.is_file():
            raise EngineError(f"calibration {calib} is not a file; pass the intrinsics file that "
                              "handtrack-calibrate wrote")
    demo_frames = SourceConfig.demo_frames
    if kind == "demo" and args.frames is not None:
        demo_frames = args.frames  # the demo is procedural: it runs as long as asked
    source = from_args(args, SourceConfig, kind=kind, path=path, camera=args.camera or 0,
                       realtime=realtime, demo_frames=demo_frames)
    try:
        metric = from_args(args, MetricConfig)
    except ValueError as e:
        raise EngineError(f"--hand-size-m: {e}") from None
    return EngineConfig(
        source=source, detector=from_args(args, DetectorConfig),
        tracker=from_args(args, TrackerConfig),
        backend=from_args(args, BackendConfig, max_batch=args.hands),
        metric=metric, filter=from_args(args, FilterConfig), calibration=args.calibration,
        hfov_deg=DEFAULT_HFOV_DEG if args.hfov is None else args.hfov,
        reprocess=args.reprocess, fuse=args.fuse,
        landmarks=from_args(args, LandmarkFusionConfig),
        anatomy=anatomy_config(not args.no_anatomy), overlap=not args.no_overlap)


def window_choices(args: argparse.Namespace) -> dict:
    """What the window takes from the command line besides the EngineConfig (keywords of
    app.gui.main_window.run_gui): whether a source was named, --osc and --record."""
    named = bool(args.demo or args.video or args.images or args.replay) or args.camera is not None
    return {"source_named": named, "osc": args.osc, "record_dir": args.record}


def unused_options(args: argparse.Namespace) -> list[str]:
    """One `warning: ...` line per option that the chosen source does not use."""
    out = []
    if args.demo:
        for flag, given in (("--calibration", args.calibration), ("--hfov", args.hfov)):
            if given is not None:
                out.append(f"warning: {flag} is not used with --demo, which renders through its "
                           f"own camera; drop {flag}")
    elif args.calibration is not None and args.hfov is not None:
        out.append("warning: --hfov is not used when --calibration gives the camera's "
                   "intrinsics; drop one of them")
    if args.record_bvh and not (args.record and args.headless):
        out.append("warning: --record-bvh needs --record DIR and --headless (in the window, run "
                   "handtrack-export-anim DIR after recording); drop --record-bvh")
    return out


def check_output_file(path: str, flag: str) -> None:
    """Fail now, with the fix, when the file `flag` names cannot be written (a folder, a
    missing folder, no permission), instead of after the engine has opened."""
    p = Path(path)
    if p.is_dir():
        raise EngineError(f"{flag} {path} is a folder; give a file path, e.g. "
                          f"{flag} {p / 'out.jsonl'}")
    parent = p.parent
    if not parent.exists():
        raise EngineError(f"{flag} {path}: folder {parent} does not exist; create it first "
                          f"(mkdir -p {parent}) or write elsewhere")
    if not parent.is_dir():
        raise EngineError(f"{flag} {path}: {parent} is a file, not a folder; write elsewhere")
    if p.exists() and not stat.S_ISREG(p.stat().st_mode):  # a pipe or device: do not open it
        if not os.access(p, os.W_OK):
            raise EngineError(f"{flag} {path} cannot be written (permission denied); write "
                              "elsewhere")
        return
    existed = p.exists()
    try:
        with open(p, "a"):
            pass
    except OSError as e:
        raise EngineError(f"{flag} {path} cannot be written ({e.strerror or e}); write to a "
                          "folder you have write access to") from None
    if not existed:
        p.unlink(missing_ok=True)


def open_sinks(args: argparse.Namespace, engine) -> SinkFanout:
    """The OSC / UDP / recorder sinks the arguments ask for (app.sinks), behind one fan-out."""
    from app.sinks import (
        OscConfig,
        OscSink,
        Recorder,
        SinkFanout,
        UdpConfig,
        UdpSink,
        parse_host_port,
        recorder_config,
    )
    from app.sinks.osc import DEFAULT_OSC_PORT
    from app.sinks.udp import DEFAULT_UDP_PORT

    sinks = SinkFanout()
    try:
        if args.osc:
            host, port = parse_host_port(args.osc, DEFAULT_OSC_PORT, "--osc")
            sinks.add("osc", OscSink(OscConfig(host=host, port=port, flat=args.osc_flat)))
        if args.udp:
            host, port = parse_host_port(args.udp, DEFAULT_UDP_PORT, "--udp")
            sinks.add("udp", UdpSink(UdpConfig(host=host, port=port)))
        if args.record:
            sinks.add("recorder", Recorder(recorder_config(engine, args.record)))
    except BaseException:
        sinks.close()
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


class _StopOnSignals:
    """While active, SIGINT (Ctrl+C) and SIGTERM (timeout, systemd, docker) call stop() once,
    so the run ends after the current frame and every output closes cleanly; a second Ctrl+C
    raises KeyboardInterrupt. `signum` is the first signal received (None if none)."""

    def __init__(self, stop: Callable[[], None]):
        self.stop = stop
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum
            self.stop()

    def __enter__(self) -> _StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def run_headless(args: argparse.Namespace, config: EngineConfig) -> int:
    """Run without a window until the source ends, --frames, Ctrl+C or SIGTERM; print the
    summary. Returns 0, or 128 + 15 after SIGTERM (the recording is closed and complete)."""
    from app.engine import Engine

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_open = time.perf_counter()
    with Engine(config, on_message=say) as engine, _StopOnSignals(engine.stop) as signals:
        say(f"source: {engine.source.description}")
        sinks = open_sinks(args, engine)
        out = None
        try:
            if args.json:
                out = sys.stdout if args.json == "-" else open(args.json, "w")  # noqa: SIM115
            if signals.signum is None:
                for result, rgb in engine.run(max_frames=args.frames):
                    if t_open is not None:
                        say(f"first frame processed {time.perf_counter() - t_open:.2f} s after "
                            "the engine began to open")
                        t_open = None
                    sinks.write(result, rgb)
                    if out is not None:
                        out.write(result_json(result) + "\n")
                    if signals.signum is not None:
                        break
        finally:
            sinks.close()
            if out is not None and out is not sys.stdout:
                out.close()
        if args.record and args.record_bvh:
            _record_bvh(args.record, say)
        engine.stats.video_dropped = sum(int(getattr(s, "video_dropped", 0))
                                         for s in sinks.sinks.values())
        if signals.signum is not None:
            say(f"stopped by {signal.Signals(signals.signum).name}; outputs closed")
        summary = engine.stats.summary()
        print(summary, file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    if signals.signum == getattr(signal, "SIGTERM", None):
        return 128 + signals.signum
    return 0


def _record_bvh(session: str, say: Callable[[str], None]) -> None:
    """--record-bvh: the closed recording's BVH animations; a session without hands (or any
    export problem) is a warning, the recording itself stays as it is."""
    from app.anim_export import AnimConfig, AnimExportError, export_session

    try:
        for path in export_session(AnimConfig(session, "bvh")):
            say(f"wrote {path}")
    except (AnimExportError, OSError) as e:
        say(f"warning: no BVH written: {e}")


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
    return int(run_gui(config, **window_choices(args)) or 0)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0), or a bad command line: Parser.error printed it (2)
        return e.code if isinstance(e.code, int) else 2
    try:
        config = config_from_args(args)
        for line in unused_options(args):
            print(line, file=sys.stderr)
        if args.headless and args.json is not None and args.json != "-":
            check_output_file(args.json, "--json")
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
