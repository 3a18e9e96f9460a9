"""Capture thread: reads a Source in the background and keeps only the latest frame.

When the consumer (detection + inference) is slower than the source, older frames are
overwritten and counted as dropped: latency never grows (MediaPipe's live-stream behaviour).
With drop=False (offline processing of a file) the thread waits for the consumer instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.engine.notices import Notice, error, info
from app.engine.sources import Source, SourceFrame


@dataclass
class Grabbed:
    """A frame with its capture index. frame_id counts every frame read from the source, so
    gaps between consecutive frame_ids are frames that were dropped."""

    frame_id: int
    frame: SourceFrame


class FrameGrabber:
    """Runs `source.read()` in a daemon thread.

    drop: keep only the latest frame (live behaviour); file sources are paced at source.fps.
    drop=False: every frame is delivered, the reader waits for the consumer.
    reconnect_s: pause between attempts to reopen a live source that stopped delivering.
    on_message: receives the Notices of a live source: lost (error), back (info); topic
    "source".
    """

    def __init__(self, source: Source, drop: bool = True, reconnect_s: float = 1.0,
                 on_message: Callable[[Notice], None] | None = None):
        self.source = source
        self.drop = drop
        self.reconnect_s = reconnect_s
        self.on_message = on_message or (lambda msg: None)
        self._cond = threading.Condition()
        self._slot: Grabbed | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.captured = 0
        self.dropped = 0
        self.reconnects = 0

    def start(self) -> FrameGrabber:
        self._thread = threading.Thread(target=self._run, name="handtrack-capture", daemon=True)
        self._thread.start()
        return self

    def _put(self, frame: SourceFrame) -> None:
        with self._cond:
            if not self.drop:
                while self._slot is not None and not self._stop.is_set():
                    self._cond.wait(0.05)
                if self._stop.is_set():
                    return
            if self._slot is not None:
                self.dropped += 1
            self._slot = Grabbed(self.captured, frame)
            self.captured += 1
            self._cond.notify_all()

    def _run(self) -> None:
        period = 1.0 / self.source.fps if (self.drop and not self.source.live and
                                            self.source.fps > 0) else 0.0
        next_t = time.perf_counter()
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    if self.source.live and self._reconnect():
                        continue
                    break
                self._put(frame)
                if period:
                    next_t += period
                    delay = next_t - time.perf_counter()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        next_t = time.perf_counter()
        except BaseException as e:  # handed to the consumer, raised there
            self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _reconnect(self) -> bool:
        """A live source stopped delivering: retry until it is back or stop() is called."""
        self.on_message(error(f"{self.source.description} lost; retrying every "
                              f"{self.reconnect_s:g} s (reconnect it, or stop with Ctrl+C)",
                              topic="source"))
        while not self._stop.is_set():
            if self.source.reopen():
                self.reconnects += 1
                self.on_message(info(f"{self.source.description} is back", topic="source"))
                return True
            self._stop.wait(self.reconnect_s)
        return False

    def get(self, timeout: float | None = None) -> Grabbed | None:
        """The newest frame not yet taken; blocks until one arrives. Returns None at the end of
        the stream, after stop(), or when timeout seconds pass without a frame."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._cond:
            while self._slot is None:
                if self._error is not None:
                    raise self._error
                if self._ended or self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.perf_counter()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
            item, self._slot = self._slot, None
            self._cond.notify_all()
            return item

    @property
    def finished(self) -> bool:
        """True once no frame will come any more: the stream ended (or stop() was called) and
        the last frame was taken."""
        with self._cond:
            return self._slot is None and (self._ended or self._stop.is_set())

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def __enter__(self) -> FrameGrabber:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
