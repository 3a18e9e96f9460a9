"""Frame sources behind one interface: camera, video file, image folder, recorded session.

A source is opened, read frame by frame (`read() -> SourceFrame | None`, None at the end of a
file) and closed. Sources do no threading; `app.engine.capture.FrameGrabber` runs one in its own
thread and keeps only the latest frame. The synthetic demo stream lives in `app.engine.demo`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app.engine.errors import EngineError
from app.results import FrameResult

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class TruthHand:
    """Ground truth of one hand from the demo source.

    joints_m: (21, 3) metres, camera frame of the delivered (possibly mirrored) image.
    uv_px: (21, 2) pixels in the delivered image. side: 0 left, 1 right (the person's hand).
    """

    joints_m: np.ndarray
    uv_px: np.ndarray
    side: int


@dataclass
class SourceFrame:
    """One frame as it leaves a source.

    rgb: (H, W, 3) uint8 RGB, already mirrored when the source mirrors.
    capture_time: time.time() seconds when the frame was read.
    truth: demo ground truth per hand, else None. recorded: the recorded FrameResult of a
    replayed session, else None.
    """

    rgb: np.ndarray
    capture_time: float
    truth: list[TruthHand] | None = None
    recorded: FrameResult | None = None


@dataclass
class SourceConfig:
    """Which source to open and how.

    kind: "camera", "video", "images", "demo" or "replay".
    camera: camera index; width, height, fps: requested camera mode (0 = driver default).
    path: video file, image folder or session folder.
    mirror: flip frames horizontally (selfie view); None = on for a camera, off otherwise.
    realtime: deliver file/demo frames at their frame rate and drop frames when processing is
    slower (as a camera does); False = every frame is processed, as fast as possible.
    loop: restart a video / image folder / demo sequence at its end.
    demo_frames: length of one demo sequence; demo_hands: 1 or 2 synthetic hands; seed: demo
    scene seed (None = app.engine.demo.DEMO_SEED).
    """

    kind: str = "camera"
    camera: int = 0
    width: int = 640
    height: int = 480
    fps: float = 30.0
    path: str | None = None
    mirror: bool | None = None
    realtime: bool = True
    loop: bool = False
    demo_frames: int = 600
    demo_hands: int = 1
    seed: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def mirrored(self) -> bool:
        return self.kind == "camera" if self.mirror is None else bool(self.mirror)


class Source:
    """Interface of every frame source.

    live: True for a camera (frames arrive at their own pace and are dropped when not taken),
    False for files (the grabber paces or waits). independent_frames: consecutive frames are
    unrelated pictures (an image folder): every frame is a fresh detection, nothing is tracked.
    fps: nominal frame rate (0 = unknown). size: (width, height) in pixels. intrinsics: (3, 3) K
    that belongs to the source (the demo generator's camera), else None (the engine uses a
    calibration file or a field-of-view model).
    """

    live: bool = False
    independent_frames: bool = False
    fps: float = 0.0
    mirrored: bool = False
    intrinsics: np.ndarray | None = None
    description: str = "source"

    def read(self) -> SourceFrame | None:
        raise NotImplementedError

    @property
    def size(self) -> tuple[int, int]:
        raise NotImplementedError

    def reopen(self) -> bool:
        """Try to recover after a failed read (a camera that vanished). Returns True on success."""
        return False

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _bgr_to_rgb(bgr: np.ndarray, mirror: bool) -> np.ndarray:
    if bgr.ndim == 2:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    elif bgr.shape[2] == 4:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.flip(rgb, 1) if mirror else rgb


class _CaptureSource(Source):
    """Shared part of the cv2.VideoCapture sources: the first frame is read when opening (to
    fail early with a clear message), later frames by _grab()."""

    _cap: cv2.VideoCapture

    def _take_first(self, failure: str) -> None:
        ok, bgr = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or bgr is None:
            self._cap.release()
            raise EngineError(failure)
        self._first: np.ndarray | None = bgr
        self._size = (bgr.shape[1], bgr.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        return bgr if ok else None

    def read(self) -> SourceFrame | None:
        if self._first is not None:
            bgr, self._first = self._first, None
        else:
            bgr = self._grab()
            if bgr is None:
                return None
        return SourceFrame(_bgr_to_rgb(bgr, self.mirrored), time.time())

    def close(self) -> None:
        self._cap.release()


class CameraSource(_CaptureSource):
    """A webcam through cv2.VideoCapture. A read failure (camera unplugged) returns None; the
    grabber then calls reopen() until the camera is back."""

    live = True

    def __init__(self, config: SourceConfig):
        self.config = config
        self.index = config.camera
        self.mirrored = config.mirrored
        self.description = f"camera {self.index}"
        self._cap = self._open()
        self._take_first(f"camera {self.index} opened but delivers no frames; close other "
                         "programs that use it or pick another with --camera N")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or config.fps or 30.0)

    def _open(self) -> cv2.VideoCapture:
        level = cv2.getLogLevel()
        cv2.setLogLevel(0)  # silent: the message below says what to do
        try:
            cap = cv2.VideoCapture(self.index)
        finally:
            cv2.setLogLevel(level)
        if not cap.isOpened():
            cap.release()
            raise EngineError(f"camera {self.index} could not be opened (not connected, or in use "
                              "by another program); check the cable or pick another with "
                              "--camera N, or use --video PATH / --demo")
        c = self.config
        if c.width and c.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
        if c.fps:
            cap.set(cv2.CAP_PROP_FPS, c.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver from queueing stale frames
        return cap

    def reopen(self) -> bool:
        self._cap.release()
        try:
            self._cap = self._open()
        except EngineError:
            return False
        return True


class VideoSource(_CaptureSource):
    """A video file through cv2.VideoCapture (any format FFmpeg in OpenCV reads)."""

    def __init__(self, config: SourceConfig, path: str | Path | None = None):
        self.config = config
        self.path = Path(path if path is not None else config.path or "")
        self.mirrored = config.mirrored
        self.description = f"video {self.path}"
        if not self.path.is_file():
            raise EngineError(f"video {self.path} does not exist; check the path given to --video")
        self._cap = cv2.VideoCapture(str(self.path))
        self._take_first(f"video {self.path} cannot be read (unknown format or corrupt "
                         "file); convert it to MP4 (H.264) or AVI (MJPG)")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok and self.config.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        return bgr if ok else None


class ImageFolderSource(Source):
    """The images of a folder in name order (jpg, png, bmp, webp, tif), each its own frame size;
    frames are independent (no tracking from one picture to the next)."""

    independent_frames = True

    def __init__(self, config: SourceConfig, path: str | Path | None = None):
        self.config = config
        self.path = Path(path if path is not None else config.path or "")
        self.mirrored = config.mirrored
        self.description = f"images {self.path}"
        if not self.path.is_dir():
            raise EngineError(f"image folder {self.path} does not exist; check the path given "
                              "to --images")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise EngineError(f"image folder {self.path} has no images "
                              f"({', '.join(IMAGE_SUFFIXES)}); pass a folder of pictures")
        first = self._load(self.files[0])
        self._size = (first.shape[1], first.shape[0])
        self._next = 0
        self.fps = config.fps or 30.0

    def _load(self, path: Path) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise EngineError(f"image {path} cannot be read (corrupt or not an image); remove it "
                              "from the folder")
        return bgr

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self) -> SourceFrame | None:
        if self._next >= len(self.files):
            if not self.config.loop:
                return None
            self._next = 0
        bgr = self._load(self.files[self._next])
        self._next += 1
        self._size = (bgr.shape[1], bgr.shape[0])
        return SourceFrame(_bgr_to_rgb(bgr, self.mirrored), time.time())


class ReplaySource(Source):
    """A session written by the recorder (app.sinks): its video frames, each with its recorded
    FrameResult attached (SourceFrame.recorded, matched by frame id), so the engine can pass
    the results through or recompute them (--reprocess). Frames keep their recorded capture
    times; they are stored as delivered (already mirrored when mirroring was on)."""

    def __init__(self, config: SourceConfig, path: str | Path | None = None):
        try:
            from app.sinks import SessionError, read_session
        except ImportError as e:
            raise EngineError(f"--replay needs app.sinks, which cannot be imported ({e}); "
                              "reinstall handtrack with `pip install -e .`") from None
        self.path = Path(path if path is not None else config.path or "")
        if not self.path.is_dir():
            raise EngineError(f"session {self.path} does not exist; pass a folder written by "
                              "--record DIR")
        try:
            self.session = read_session(self.path)
        except (OSError, ValueError, KeyError) as e:  # SessionError is a ValueError
            raise EngineError(f"session {self.path} cannot be read ({e})") from None
        if self.session.video_path is None:
            raise EngineError(f"session {self.path} was recorded without video, so it cannot be "
                              "replayed; read its CSV with app.sinks.read_session instead")
        self._error_type = SessionError
        self.description = f"replay {self.path}"
        meta = self.session.meta
        self.fps = float((meta.get("video") or {}).get("fps") or 30.0)
        self.mirrored = bool((meta.get("camera") or {}).get("mirror", False))
        K = (meta.get("intrinsics") or {}).get("K")
        self.intrinsics = np.asarray(K, dtype=np.float64) if K is not None else None
        self._recorded = {f.frame_id: f for f in self.session.frames}
        self._frames = self.session.iter_video()
        first = next(self._frames, None)
        if first is None:
            raise EngineError(f"session {self.path} has no video frames to replay")
        self._first = first
        self._size = (first.rgb.shape[1], first.rgb.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self) -> SourceFrame | None:
        if self._first is not None:
            vf, self._first = self._first, None
        else:
            try:
                vf = next(self._frames, None)
            except self._error_type as e:
                raise EngineError(f"replay stopped: {e}") from None
            if vf is None:
                return None
        return SourceFrame(vf.rgb, float(vf.capture_time), recorded=self._recorded.get(vf.frame_id))


def open_source(config: SourceConfig) -> Source:
    """Open the source that config.kind names. Raises EngineError with the fix on failure."""
    kind = config.kind
    if kind == "camera":
        return CameraSource(config)
    if kind == "video":
        return VideoSource(config)
    if kind == "images":
        return ImageFolderSource(config)
    if kind == "replay":
        return ReplaySource(config)
    if kind == "demo":
        from app.engine.demo import DemoSource

        return DemoSource(config)
    raise EngineError(f"unknown source kind {kind!r}; use camera, video, images, demo or replay")
