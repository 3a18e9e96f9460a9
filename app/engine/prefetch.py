"""The detector one frame ahead: MediaPipe runs on frame t+1 while the engine estimates frame t.

With "landmarks" tracking the detector runs on every frame and nothing it does depends on the
engine's state (MediaPipe keeps its own tracking state), so it can work ahead. MediaPipe's graph,
onnxruntime and the compiled kinematic fit all release the GIL, so on two cores the detector and
the network run side by side: frames per second become those of the slower stage instead of the
sum of both; the latency from capture to result stays about the sum.

    ahead = DetectAhead(grabber, submit, stop_event, depth=2).start()
    while (got := ahead.get()) is not None:
        item, detections, detect_ms = got      # Grabbed, list[Detection] or None, float

At most one detected frame waits for the engine (a queue of one) and at most `depth` frames are
with the detector, the second only when the grabber already holds it, so a live camera's frames
are still dropped at the grabber, as without the overlap. Errors of the detector or the source are
raised by get() in the engine's thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from app.engine.capture import FrameGrabber, Grabbed
from model.mediapipe_hands import Detection

_END = object()
# submit(rgb (H, W, 3) uint8) -> collect(): hands a frame to the detector and returns the call
# that waits for its detections
Submit = Callable[[np.ndarray], Callable[[], list[Detection]]]


class DetectAhead:
    """grabber: the frames; submit(rgb) -> collect (see Submit), called in this object's thread;
    depth: frames handed to the detector before the first result is taken (2: the detector
    starts the next frame the moment it finishes one; the second frame is taken only when the
    grabber already has it, so a live camera's newest frame is never waited for); stop: the
    engine's stop event. wants(item) -> bool: whether a frame is detected at all (a replayed
    frame passed through or one without a picture is handed on with detections None)."""

    def __init__(self, grabber: FrameGrabber, submit: Submit, stop: threading.Event,
                 wants: Callable[[Grabbed], bool] = lambda item: item.frame.rgb is not None,
                 depth: int = 1):
        self.grabber = grabber
        self.submit = submit
        self.wants = wants
        self.depth = max(1, int(depth))
        self._engine_stop = stop
        self._closing = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None

    def _halted(self) -> bool:
        return self._engine_stop.is_set() or self._closing.is_set()

    def start(self) -> DetectAhead:
        self._thread = threading.Thread(target=self._run, name="handtrack-detect", daemon=True)
        self._thread.start()
        return self

    def _put(self, value) -> bool:
        while not self._halted():
            try:
                self._queue.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _top_up(self, pending: deque) -> None:
        """Submit frames until depth are pending: wait for the first, not for the others."""
        while len(pending) < self.depth and not self._halted():
            item = self.grabber.get(timeout=None if not pending else 0.0)
            if item is None:
                return
            if self.wants(item):
                pending.append((item, self.submit(item.frame.rgb), time.perf_counter()))
            else:
                pending.append((item, None, 0.0))

    def _run(self) -> None:
        pending: deque = deque()
        done_at = time.perf_counter()  # when the previous frame's detections were there
        try:
            while not self._halted():
                self._top_up(pending)
                if not pending:
                    if self.grabber.finished or self._halted():
                        break
                    continue
                item, collect, t_submit = pending.popleft()
                dets, ms = None, 0.0
                if collect is not None:
                    dets = collect()
                    now = time.perf_counter()  # the detector's time on this frame alone
                    ms, done_at = (now - max(t_submit, done_at)) * 1e3, now
                if not self._put((item, dets, ms)):
                    break  # closed while the engine was not taking results: drain below
        except BaseException as e:  # handed to the engine's thread, raised there
            self._drain(pending)
            self._put(e)
            return
        self._drain(pending)
        self._put(_END)

    @staticmethod
    def _drain(pending: deque) -> None:
        """Collect what is still with the detector (a stopped run leaves it with nothing in
        flight, so the next run's first result is its own)."""
        for _, collect, _ in pending:
            if collect is not None:
                try:
                    collect()
                except Exception:  # the detector's failure was or will be reported
                    pass

    def get(self) -> tuple[Grabbed, list[Detection] | None, float] | None:
        """The next frame with its detections and the detector's ms; None at the end of the
        stream or after stop. Raises what the detector or the source raised."""
        while True:
            try:
                value = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._halted() or (self._thread is not None and
                                           not self._thread.is_alive() and self._queue.empty()):
                    return None
                continue
            if value is _END:
                return None
            if isinstance(value, BaseException):
                raise value
            return value

    def close(self) -> None:
        """End the thread: what is with the detector is collected and dropped; waits for it."""
        self._closing.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
