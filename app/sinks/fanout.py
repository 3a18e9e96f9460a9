"""The one interface of every sink, and the fan-out that feeds all open sinks frame by frame (used
by the headless CLI and the window's engine thread alike)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from app.results import FrameResult

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What every sink (Recorder, OscSink, UdpSink) offers.

    write: takes one processed frame (frame_rgb (H, W, 3) uint8, or None for a replayed frame
    without video); never raises into the pipeline. error: the first problem while running,
    None while all is well (kept, and logged once by the sink, instead of raised). close: ends
    the sink; calling it twice is harmless."""

    @property
    def error(self) -> str | None: ...

    def write(self, result: FrameResult, frame_rgb: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


# on_problem(name, reason): a sink was dropped, could not be closed, or reports a new error
ProblemHandler = Callable[[str, str], None]


class SinkFanout:
    """Named sinks written in the order they were added.

    A sink whose write() raises is dropped: closed, and reported with its reason; the others go
    on. A sink's new `error` is reported once per distinct text, and the sink is kept: it has
    stopped itself (a recorder, which still closes its folder at the end) or goes on as its
    error says (a UDP sender whose receiver is not listening). on_problem(name, reason) gets
    every report; None = drops and failed closes are logged (the sinks log their own errors).
    `sinks` still lists the sinks after close(), for their counters.
    """

    def __init__(self, on_problem: ProblemHandler | None = None) -> None:
        self.on_problem = on_problem
        self.sinks: dict[str, Sink] = {}
        self._reported: dict[str, str] = {}  # name -> the last error reported
        self._closed = False

    def add(self, name: str, sink: Sink) -> None:
        """Write to sink under name from the next frame on (closing the one there)."""
        self.remove(name)
        self.sinks[name] = sink

    def remove(self, name: str) -> None:
        """Close the sink under name, if any, and stop writing to it."""
        sink = self.sinks.pop(name, None)
        self._reported.pop(name, None)
        if sink is not None:
            self._close(name, sink)

    def write(self, result: FrameResult, frame_rgb: np.ndarray | None) -> None:
        if self._closed:
            return
        for name, sink in list(self.sinks.items()):
            try:
                sink.write(result, frame_rgb)
            except Exception as e:  # sinks should not raise; stop using one that does
                self.sinks.pop(name, None)
                self._reported.pop(name, None)
                reason = str(e) or type(e).__name__
                self._report(name, reason, f"{name} stopped: {reason}; the other outputs go on")
                self._close(name, sink)
                continue
            error = sink.error
            if error and self._reported.get(name) != error:
                self._reported[name] = error
                self._report(name, str(error), None)  # the sink has logged it

    def close(self) -> None:
        """Close every sink (each once, in order); later writes are ignored."""
        if self._closed:
            return
        self._closed = True
        for name, sink in self.sinks.items():
            self._close(name, sink)

    def _close(self, name: str, sink: Sink) -> None:
        try:
            sink.close()
        except Exception as e:
            self._report(name, f"closing failed: {e}", f"{name}: closing failed: {e}")

    def _report(self, name: str, reason: str, log_text: str | None) -> None:
        """Hand a problem to on_problem, or log log_text (None: nothing to log)."""
        if self.on_problem is not None:
            self.on_problem(name, reason)
        elif log_text is not None:
            log.warning(log_text)

    def __enter__(self) -> SinkFanout:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
