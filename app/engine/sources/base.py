"""The interface of every frame source: Source, its SourceConfig, the SourceFrame it delivers
(with demo ground truth, TruthHand), the notice hook for warnings about the input, and the
BGR -> RGB conversion the OpenCV sources share."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.results import FrameOrigin, FrameResult
from model.config_flags import option

MIN_FRAME_PX, MAX_FRAME_PX = 32, 8192  # the demo renders nothing smaller than 32 px
FRAME_PX = f"a size in pixels ({MIN_FRAME_PX} to {MAX_FRAME_PX})"


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
    replayed session, else None. origin: where the frame is in its source (image file name,
    video frame index and timestamp, recorded frame id), carried into FrameResult.origin.
    """

    rgb: np.ndarray
    capture_time: float
    truth: list[TruthHand] | None = None
    recorded: FrameResult | None = None
    origin: FrameOrigin | None = None


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
    scene seed (None = app.engine.sources.demo.DEMO_SEED).
    The fields made with option() are also handtrack options (model/config_flags.py).
    """

    kind: str = "camera"
    camera: int = 0
    width: int = option(640, "camera / demo width px (default {default})", what=FRAME_PX,
                        ge=MIN_FRAME_PX, le=MAX_FRAME_PX)
    height: int = option(480, "camera / demo height px (default {default})", what=FRAME_PX,
                         ge=MIN_FRAME_PX, le=MAX_FRAME_PX)
    fps: float = option(30.0, "camera / demo frame rate (default {default:g})",
                        what="a frame rate (frames per second, above 0)", gt=0.0)
    path: str | None = None
    mirror: bool | None = option(
        None, "mirror the frames (selfie view; default: on for a camera only)")
    realtime: bool = option(  # the command line's default depends on --headless
        True, "play files at their frame rate, dropping frames when processing is slower "
        "(default: on in the window, off headless)", unset=None)
    loop: bool = option(False, "restart a video / image folder / demo")
    demo_frames: int = 600
    demo_hands: int = option(1, "hands in the demo stream", choices=(1, 2))
    seed: int | None = option(None, "demo scene seed (background, lights; default 6)",
                              what="a seed (an integer, 0 or more)", ge=0, example=6)
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


def bgr_to_rgb(bgr: np.ndarray, mirror: bool) -> np.ndarray:
    """An OpenCV image (H, W), (H, W, 3) BGR or (H, W, 4) BGRA -> (H, W, 3) uint8 RGB, flipped
    horizontally when mirror."""
    if bgr.ndim == 2:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    elif bgr.shape[2] == 4:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.flip(rgb, 1) if mirror else rgb
