"""The part the cv2.VideoCapture sources (camera, video file) share."""

from __future__ import annotations

import time

import cv2
import numpy as np

from app.engine.errors import EngineError
from app.engine.sources.base import Source, SourceFrame, bgr_to_rgb
from app.results import FrameOrigin


class CaptureSource(Source):
    """Shared part of the cv2.VideoCapture sources: the first frame is read when opening (to
    fail early with a clear message), later frames by _grab(); _origin() says where the frame
    just read is (a camera counts its frames)."""

    _cap: cv2.VideoCapture
    _count = 0  # frames read so far

    def _origin(self) -> FrameOrigin:
        return FrameOrigin("camera", self._count - 1)

    def _take_first(self, failure: str) -> None:
        ok, bgr = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or bgr is None:
            self._cap.release()
            raise EngineError(failure)
        self._first: np.ndarray | None = bgr
        self._count = 1
        self._first_origin = self._origin()
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
            origin = self._first_origin
        else:
            bgr = self._grab()
            if bgr is None:
                return None
            self._count += 1
            origin = self._origin()
        return SourceFrame(bgr_to_rgb(bgr, self.mirrored), time.time(), origin=origin)

    def close(self) -> None:
        self._cap.release()
