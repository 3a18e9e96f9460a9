"""A video file through cv2.VideoCapture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.engine.errors import EngineError
from app.engine.sources.base import SourceConfig
from app.engine.sources.opencv import CaptureSource
from app.results import FrameOrigin


class VideoSource(CaptureSource):
    """A video file through cv2.VideoCapture (any format FFmpeg in OpenCV reads). Each frame's
    origin is its position in the file (0-based, restarting when looping) and its timestamp in
    seconds (CAP_PROP_POS_MSEC, else index / fps)."""

    def __init__(self, config: SourceConfig, path: str | Path | None = None):
        self.config = config
        self.path = Path(path if path is not None else config.path or "")
        self.mirrored = config.mirrored
        self.description = f"video {self.path}"
        if not self.path.is_file():
            raise EngineError(f"video {self.path} does not exist; check the path given to --video")
        self._cap = cv2.VideoCapture(str(self.path))
        self._read_in_pass = 1  # the first frame, read by _take_first
        self._take_first(f"video {self.path} cannot be read (unknown format or corrupt "
                         "file); convert it to MP4 (H.264) or AVI (MJPG)")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        # what the container says; 0 or negative = unknown (a stream without an index)
        self.frames_promised = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
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

    def _origin(self) -> FrameOrigin:
        index = self._read_in_pass - 1
        msec = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
        if msec > 0.0 or index == 0:
            time_s = msec / 1e3
        else:  # a backend without timestamps
            time_s = index / self.fps if self.fps > 0 else None
        return FrameOrigin("video", index, self.path.name, time_s)

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
