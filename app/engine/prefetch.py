"""The detector one frame ahead: MediaPipe runs on frame t+1 while the engine estimates frame t.

With "landmarks" tracking the detector runs on every frame and nothing it does depends on the
engine's state (MediaPipe keeps its own tracking state), so it can work ahead. MediaPipe's graph,
onnxruntime and the compiled kinematic fit all release the GIL, so on two cores the detector and
the network run side by side: frames per second become those of the slower stage instead of the
sum of both; the latency from capture to result stays about the sum.

    ahead = DetectAhead(grabber, detect, stop_event).start()
    while (got := ahead.get()) is not None:
        item, detections, detect_ms = got      # Grabbed, list[Detection] or None, float

At most one detected frame waits for the engine (a queue of one), so a live camera's frames are
still dropped at the grabber, as without the overlap. Errors of the detector or the source are
raised by get() in the engine's thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from app.engine.capture import FrameGrabber, Grabbed
from model.mediapipe_hands import Detection

_END = object()
Detect = Callable[[np.ndarray], list[Detection]]


class DetectAhead:
    """grabber: the frames; detect(rgb (H, W, 3) uint8) -> detections, called in this object's
    thread (the engine's detector under its lock); stop: the engine's stop event. wants(item)
    -> bool: whether a frame is detected at all (a replayed frame passed through or one without
    a picture is handed on with detections None)."""

    def __init__(self, grabber: FrameGrabber, detect: Detect, stop: threading.Event,
                 wants: Callable[[Grabbed], bool] = lambda item: item.frame.rgb is not None):
        self.grabber = grabber
        self.detect = detect
        self.wants = wants
        self._stop = stop
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None

    def start(self) -> DetectAhead:
        self._thread = threading.Thread(target=self._run, name="handtrack-detect", daemon=True)
        self._thread.start()
        return self

    def _put(self, value) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self.grabber.get()
                if item is None:
                    break
                dets, ms = None, 0.0
                if self.wants(item):
                    t0 = time.perf_counter()
                    dets = self.detect(item.frame.rgb)
                    ms = (time.perf_counter() - t0) * 1e3
                if not self._put((item, dets, ms)):
                    return
        except BaseException as e:  # handed to the engine's thread, raised there
            self._put(e)
            return
        self._put(_END)

    def get(self) -> tuple[Grabbed, list[Detection] | None, float] | None:
        """The next frame with its detections and the detector's ms; None at the end of the
        stream or after stop. Raises what the detector or the source raised."""
        while True:
            try:
                value = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set() or (self._thread is not None and
                                           not self._thread.is_alive() and self._queue.empty()):
                    return None
                continue
            if value is _END:
                return None
            if isinstance(value, BaseException):
                raise value
            return value

    def close(self) -> None:
        """Wait for the thread (call after the stop event is set or the stream ended)."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
