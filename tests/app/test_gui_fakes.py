"""A small stand-in engine for the GUI tests (docs/contracts.md section 3), used where the real
engine cannot show the behaviour on demand: a source that is lost, a flood of frames. No tests
here; tests/app/test_gui.py imports it (and so does its offscreen subprocess)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.engine.notices import Notice, error, info
from app.gui.settings import PanelSettings
from app.results import FrameResult, HandResult
from model.hand import LEFT, RIGHT
from model.kinematics import Skeleton, forward_kinematics
from train.synth.kinematics import POSE_LIBRARY, interpolate_keyframes

K = np.array([[520.0, 0.0, 320.0], [0.0, 520.0, 240.0], [0.0, 0.0, 1.0]])
# Hand frame (x thumb-wards, y wrist->fingers, z out of the palm) -> camera frame (x right,
# y down, z forward) for a right hand held up with the palm towards the camera.
HAND_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]).T
KEYS = [POSE_LIBRARY[k] for k in ("open", "point", "two", "fist", "ok", "open")]


def synthetic_hand(t: float, side: int, hand_id: int, with_cloud: bool) -> HandResult:
    """An animated hand: library poses through forward kinematics, placed 0.5 m in front of the
    camera (right hand right of centre, left hand mirrored to the left)."""
    joints_h, _ = forward_kinematics(interpolate_keyframes(KEYS, t, 1.5), Skeleton.mean())
    joints = joints_h @ HAND_TO_CAMERA.T  # (21, 3) camera axes, wrist at 0
    if side == LEFT:
        joints[:, 0] = -joints[:, 0]
    sign = 1.0 if side == RIGHT else -1.0
    offset = np.array([sign * (0.09 + 0.02 * np.sin(t)), 0.07, 0.5 + 0.05 * np.sin(0.7 * t)])
    joints_m = joints + offset
    uv = joints_m[:, :2] / joints_m[:, 2:] * K[0, 0] + K[:2, 2]
    cloud = None
    if with_cloud:  # points along the bones, like a decoded surface
        rng = np.random.default_rng(hand_id)
        a, b = rng.integers(0, 21, 256), rng.integers(0, 21, 256)
        w = rng.random((256, 1))
        cloud = (w * joints_m[a] + (1 - w) * joints_m[b]).astype(np.float32)
    return HandResult(hand_id, side, joints_m, uv, 0.93, cloud)


def background(width: int = 640, height: int = 480) -> np.ndarray:
    """(H, W, 3) uint8: a soft vertical gradient."""
    ramp = np.linspace(70, 25, height, dtype=np.float32)[:, None, None]
    tint = np.array([0.9, 1.0, 1.15], np.float32)
    return np.broadcast_to(ramp * tint, (height, width, 3)).astype(np.uint8)



def _resolved(kind: str) -> str:
    """The backend "auto" picks for the fake model, which has no exported artefacts: torch."""
    return "torch" if kind == "auto" else kind

class FakeEngine:
    """Yields synthetic FrameResults at `fps` (0 = as fast as possible). lose_after: after that
    many frames the "camera" is lost: on_message says so (an error Notice) and no frames come until
    stop()."""

    def __init__(self, settings: PanelSettings, on_message: Callable[[Notice], None],
                 fps: float = 30, lose_after: int | None = None, fail: str | None = None):
        if fail:
            raise RuntimeError(fail)
        self.settings = settings
        self.on_message = on_message
        self.fps = fps
        self.lose_after = lose_after
        self.calls: list[tuple[str, object]] = []
        self.produced = 0
        self._stop = threading.Event()
        self._background = background()

    def __enter__(self) -> FakeEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()

    def describe(self) -> str:
        return f"fake {_resolved(self.settings.backend)}"

    def set_smoothing(self, enabled: bool, min_cutoff_hz: float | None = None) -> None:
        self.calls.append(("smoothing", enabled))

    def set_num_hands(self, n: int) -> None:
        self.settings.max_hands = n
        self.calls.append(("num_hands", n))

    def set_mirror(self, mirrored: bool) -> None:
        self.calls.append(("mirror", mirrored))

    def set_backend(self, kind: str) -> None:
        self.calls.append(("backend", kind))
        self.settings.backend = kind
        self.on_message(info(f"backend: fake {_resolved(kind)}", topic="backend"))  # as the engine

    def set_fuse(self, mode: str) -> None:
        self.calls.append(("fuse", mode))

    def set_anatomy(self, enabled: bool) -> None:
        self.calls.append(("anatomy", enabled))

    def set_cloud(self, enabled: bool) -> None:
        self.settings.show_cloud = enabled
        self.calls.append(("cloud", enabled))

    def run(self):
        t0 = time.time()
        frame_id = 0
        while not self._stop.is_set():
            if self.lose_after is not None and frame_id >= self.lose_after:
                self.on_message(error("camera 0 lost; retrying every 1 s (reconnect it)",
                                      topic="source"))
                self._stop.wait()
                return
            now = time.time()
            t = now - t0
            sides = (RIGHT, LEFT)[: max(1, min(2, self.settings.max_hands))]
            hands = [synthetic_hand(t, side, i, self.settings.show_cloud)
                     for i, side in enumerate(sides)]
            result = FrameResult(frame_id, now, 640, 480, hands, {"total": 1.0})
            self.produced += 1
            yield result, self._background
            frame_id += 1
            if self.fps:
                self._stop.wait(max(0.0, t0 + frame_id / self.fps - time.time()))


class FakeServices:
    """GuiServices on FakeEngine (or engine_cls). engines: every engine opened, newest last."""

    backends = ("torch", "onnxruntime")
    max_hands = 2

    def __init__(self, cameras: list[tuple[int, str]] | None = None, engine_cls=FakeEngine,
                 **engine_kwargs):
        self.cameras = cameras or []
        self.engine_cls = engine_cls
        self.engine_kwargs = engine_kwargs
        self.engines: list[FakeEngine] = []
        self.sinks: list[object] = []

    def list_cameras(self) -> list[tuple[int, str]]:
        return list(self.cameras)

    def open_engine(self, settings: PanelSettings, on_message) -> FakeEngine:
        if settings.source == "camera" and settings.camera not in dict(self.cameras):
            raise RuntimeError(f"camera {settings.camera} could not be opened")
        engine = self.engine_cls(settings, on_message, **self.engine_kwargs)
        self.engines.append(engine)
        return engine

    def live_setter(self, name: str):
        from app.gui.wiring import LIVE_SETTERS  # the real mapping, applied to the fake

        return LIVE_SETTERS.get(name)

    def describe(self, engine: FakeEngine) -> str:
        return engine.describe()

    def make_recorder(self, session_dir: Path, settings: PanelSettings, engine: FakeEngine):
        from app.sinks import Recorder, RecorderConfig

        recorder = Recorder(RecorderConfig(path=session_dir, video=False))
        self.sinks.append(recorder)
        return recorder

    def make_osc(self, host: str, port: int):
        from app.sinks import OscConfig, OscSink

        sink = OscSink(OscConfig(host=host, port=port))
        self.sinks.append(sink)
        return sink


class DemoTruthEngine(FakeEngine):
    """The real demo source (app.engine.sources.demo) with its ground truth handed out as the
    results: real frames and plausible hands for looking at the window when no trained model is
    at hand (the network's output is not involved; say so wherever its pictures are shown)."""

    def __init__(self, settings: PanelSettings, on_message: Callable[[Notice], None],
                 fps: float = 30, **kwargs):
        super().__init__(settings, on_message, fps=fps, **kwargs)
        from app.engine.sources import DemoSource, SourceConfig

        self.source = DemoSource(SourceConfig(kind="demo", width=640, height=480, demo_hands=2,
                                              loop=True, mirror=False))

    def describe(self) -> str:
        return "demo ground truth (no network)"

    def run(self):
        t0 = time.time()
        frame_id = 0
        while not self._stop.is_set():
            frame = self.source.read()
            hands = [HandResult(k, t.side, t.joints_m, t.uv_px, 1.0)
                     for k, t in enumerate(frame.truth[: self.settings.max_hands])]
            self.produced += 1
            yield FrameResult(frame_id, frame.capture_time, 640, 480, hands, {}), frame.rgb
            frame_id += 1
            self._stop.wait(max(0.0, t0 + frame_id / self.fps - time.time()))
