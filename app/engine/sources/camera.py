"""A webcam through cv2.VideoCapture."""

from __future__ import annotations

import cv2

from app.engine.errors import EngineError
from app.engine.sources.base import SourceConfig
from app.engine.sources.opencv import CaptureSource


class CameraSource(CaptureSource):
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
