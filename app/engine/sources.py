"""Frame sources behind one interface: camera, video file, image folder, recorded session.

A source is opened, read frame by frame (`read() -> SourceFrame | None`, None at the end of a
file) and closed. Sources do no threading; `app.engine.capture.FrameGrabber` runs one in its own
thread and keeps only the latest frame. The synthetic demo stream lives in `app.engine.demo`.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
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
    calibration file or a field-of-view model). on_message: receives one-line warnings about
    the input (a truncated file); None = printed to stderr.
    """

    live: bool = False
    independent_frames: bool = False
    fps: float = 0.0
    mirrored: bool = False
    intrinsics: np.ndarray | None = None
    description: str = "source"
    on_message: Callable[[str], None] | None = None

    def notice(self, msg: str) -> None:
        if self.on_message is not None:
            self.on_message(msg)
        else:
            print(msg, file=sys.stderr, flush=True)

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


# a JPEG marker: 0xFF, then a code that is not a stuffed zero, a restart marker (both occur
# inside entropy-coded data) or another 0xFF (fill bytes)
_JPEG_MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7\xff])")


def jpeg_is_complete(path: str | Path) -> bool:
    """False when the file is a JPEG whose data stops before the end-of-image marker (a file
    cut short by an interrupted copy or download); True otherwise, also for other formats.
    Walks the marker segments from SOI to the first EOI, so bytes after EOI (a phone's appended
    motion clip) and thumbnails inside EXIF do not count."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\xff\xd8"):
        return True
    pos = 2
    while (m := _JPEG_MARKER.search(data, pos)) is not None:
        code = m.group(1)[0]
        if code == 0xD9:  # EOI
            return True
        pos = m.end()
        if code == 0x01:  # TEM: no length
            continue
        if pos + 2 > len(data):
            return False
        pos += int.from_bytes(data[pos:pos + 2], "big")  # the segment (entropy data follows SOS)
    return False


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
        # what the container says; 0 or negative = unknown (a stream without an index)
        self.frames_promised = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self._read_in_pass = 1  # the first frame, read above
        self._warned_short = False

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok:
            self._check_length()
            if self.config.loop:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                self._read_in_pass = 0
                ok, bgr = self._cap.read()
        if ok:
            self._read_in_pass += 1
        return bgr if ok else None

    def _check_length(self) -> None:
        """At the end of the file: warn once when fewer frames came than the container
        promises (a file cut short by a crash or an interrupted copy, or a damaged stream)."""
        n, promised = self._read_in_pass, self.frames_promised
        if self._warned_short or not promised or n >= promised - 1:  # counts may be off by one
            return
        self._warned_short = True
        self.notice(f"warning: video {self.path} ended after {n} of the {promised} frames its "
                    "header promises (truncated or damaged file); the rest is missing: copy or "
                    "export the video again")


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
        self.truncated: set[Path] = set()  # JPEGs cut short (warned once each)
        first = self._load(self.files[0])
        self._size = (first.shape[1], first.shape[0])
        self._next = 0
        self.fps = config.fps or 30.0

    def _load(self, path: Path) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise EngineError(f"image {path} cannot be read (corrupt or not an image); remove it "
                              "from the folder")
        if path not in self.truncated and not jpeg_is_complete(path):
            self.truncated.add(path)  # libjpeg decodes what is there and greys out the rest
            self.notice(f"warning: image {path} is truncated (the JPEG data ends early), so part "
                        "of the picture is missing; copy or export it again")
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
    """A session written by the recorder (app.sinks): every recorded frame in order, with its
    recorded FrameResult attached (SourceFrame.recorded), so the engine can pass the results
    through or recompute them (--reprocess). A frame whose video is missing (cut by a crash,
    dropped by the encoder, or recorded without video) comes with rgb None and replays without
    a picture (frames_without_video counts them); a video frame whose result did not reach the
    disk comes with recorded None. Frames keep their recorded capture times; pictures are
    stored as delivered (already mirrored when mirroring was on)."""

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
        self._error_type = SessionError
        self.description = f"replay {self.path}"
        meta = self.session.meta
        self.fps = float((meta.get("video") or {}).get("fps") or 30.0)
        self.mirrored = bool((meta.get("camera") or {}).get("mirror", False))
        K = (meta.get("intrinsics") or {}).get("K")
        self.intrinsics = np.asarray(K, dtype=np.float64) if K is not None else None
        self._recorded = self.session.frames  # in frame id order
        self._next = 0
        video_ids = {f for f, _, _, _ in self.session.video_index}
        recorded_ids = {f.frame_id for f in self._recorded}
        self.video_frames = len(video_ids)
        self.frames_without_video = len(recorded_ids - video_ids)
        self.frames_total = len(recorded_ids | video_ids)
        self._video = self.session.iter_video() if video_ids else iter(())
        self._pending = self._next_video()  # the first picture now: a bad segment fails early
        if self._pending is not None:
            self._size = (self._pending.rgb.shape[1], self._pending.rgb.shape[0])
        elif self._recorded:
            self._size = (self._recorded[0].width, self._recorded[0].height)
        else:
            raise EngineError(f"session {self.path} holds no frames to replay")

    def _next_video(self):
        try:
            return next(self._video, None)
        except self._error_type as e:
            raise EngineError(f"replay stopped: {e}") from None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self) -> SourceFrame | None:
        rec = self._recorded[self._next] if self._next < len(self._recorded) else None
        vf = self._pending
        if vf is not None and (rec is None or vf.frame_id < rec.frame_id):
            self._pending = self._next_video()  # a picture whose result was not recorded
            return SourceFrame(vf.rgb, float(vf.capture_time))
        if rec is None:
            return None
        self._next += 1
        if vf is None or vf.frame_id != rec.frame_id:
            return SourceFrame(None, float(rec.capture_time), recorded=rec)  # no picture
        self._pending = self._next_video()
        return SourceFrame(vf.rgb, float(vf.capture_time), recorded=rec)


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
