"""The engine's thread. A worker object, moved to a QThread, iterates `engine.run()`, feeds the
sinks (recorder, OSC) through app.sinks.SinkFanout, as headless runs do, and hands every result
to the GUI by signal. The GUI never touches the engine directly: it queues commands (`call`)
that the worker runs between two frames, in its own thread. Qt is only used for the signals; the
engine and the sinks are Qt-free."""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal

from app.engine.notices import warning
from app.gui.rates import RateMeter, Rates
from app.results import FrameResult
from app.sinks.fanout import Sink, SinkFanout


class EngineLike(Protocol):
    """What the GUI needs of app.engine.Engine (docs/contracts.md section 3)."""

    def __enter__(self) -> EngineLike: ...
    def __exit__(self, *exc) -> None: ...
    def run(self): ...  # yields (FrameResult, frame_rgb or None: a replayed frame without video)
    def stop(self) -> None: ...


# open_engine(on_message) -> engine: on_message receives the notices of the engine's threads
# (camera lost / back); the worker forwards each as it comes (message signal).
EngineOpener = Callable[[Callable[[Any], None]], EngineLike]
SinkFactory = Callable[[EngineLike], Sink]


@dataclass
class FramePacket:
    result: FrameResult
    frame_rgb: np.ndarray  # (H, W, 3) uint8
    rates: Rates


class EngineWorker(QObject):
    """Signals (queued to the GUI thread):
    frame(FramePacket) per processed frame; message(notice) engine notices, forwarded as they
    come; failed(str) the engine stopped with an error; sink_started(name, description);
    sink_failed(name, reason) a sink was dropped or reports a problem (SinkFanout);
    finished(str reason) when run() has returned ("stopped", "ended" or "failed")."""

    frame = pyqtSignal(object)
    message = pyqtSignal(object)
    failed = pyqtSignal(str)
    sink_started = pyqtSignal(str, str)
    sink_failed = pyqtSignal(str, str)
    finished = pyqtSignal(str)

    def __init__(self, open_engine: EngineOpener):
        super().__init__()
        self._open_engine = open_engine
        self._engine: EngineLike | None = None
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared = paused
        self._running.set()
        self._lock = threading.Lock()
        self._commands: deque[Callable[[EngineLike], Any]] = deque()
        self._sinks = SinkFanout(on_problem=self.sink_failed.emit)
        self.meter = RateMeter()
        self._blank_rgb: np.ndarray | None = None

    # --- called from the GUI thread -------------------------------------------------------
    def call(self, command: Callable[[EngineLike], Any]) -> None:
        """Run command(engine) in the worker thread before the next frame."""
        with self._lock:
            self._commands.append(command)

    def set_sink(self, name: str, factory: SinkFactory | None) -> None:
        """Open the sink factory(engine) builds under name (closing the one there), or close
        it (factory None). Runs in the worker thread, so the factory may ask the engine."""
        self.call(lambda engine: self._replace_sink(name, factory, engine))

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._running.clear()
        else:
            self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        engine = self._engine
        if engine is not None:
            engine.stop()

    # --- the worker thread ----------------------------------------------------------------
    def run(self) -> None:
        reason = "stopped"
        try:
            with self._open_engine(self.message.emit) as engine:
                self._engine = engine
                if self._stop.is_set():
                    engine.stop()
                self._apply_commands(engine)
                for result, frame_rgb in engine.run():
                    self._apply_commands(engine)
                    self._sinks.write(result, frame_rgb)
                    rates = self.meter.add(result)
                    if frame_rgb is None:  # a replayed frame whose video was not recorded
                        frame_rgb = self._blank(result.width, result.height)
                    self.frame.emit(FramePacket(result, frame_rgb, Rates(**vars(rates))))
                    if self._stop.is_set():
                        break
                    self._running.wait()
                    if self._stop.is_set():
                        break
                else:
                    reason = "stopped" if self._stop.is_set() else "ended"
        except Exception as e:  # the GUI shows it and keeps running
            reason = "failed"
            text = str(e) or type(e).__name__
            if type(e).__name__ not in ("EngineError", "SinkConfigError"):
                text = f"{type(e).__name__}: {text}"
                traceback.print_exc()
            self.failed.emit(text)
        finally:
            self._engine = None
            with self._lock:
                self._commands.clear()
            self._sinks.close()
            self.finished.emit(reason)

    def _blank(self, width: int, height: int) -> np.ndarray:
        """A black (H, W, 3) uint8 picture, for results that come without one."""
        blank = self._blank_rgb
        if blank is None or blank.shape[:2] != (height, width):
            blank = self._blank_rgb = np.zeros((max(1, height), max(1, width), 3), np.uint8)
        return blank

    def _apply_commands(self, engine: EngineLike) -> None:
        while True:
            with self._lock:
                if not self._commands:
                    return
                command = self._commands.popleft()
            try:
                command(engine)
            except Exception as e:
                text = str(e) or type(e).__name__
                self.message.emit(warning(f"setting not applied: {text}"))

    def _replace_sink(self, name: str, factory: SinkFactory | None,
                      engine: EngineLike | None) -> None:
        self._sinks.remove(name)
        if factory is None:
            return
        try:
            sink = factory(engine)
        except Exception as e:
            self.sink_failed.emit(name, str(e) or type(e).__name__)
            return
        self._sinks.add(name, sink)
        self.sink_started.emit(name, str(getattr(sink, "description", name)))


class EngineThread(QObject):
    """Owns one EngineWorker and its QThread. start() runs the engine; stop() ends it and waits.
    A new source means a new EngineThread (engines are cheap to rebuild relative to a user's
    click; settings with an engine.set_* are applied live instead)."""

    def __init__(self, open_engine: EngineOpener, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = EngineWorker(open_engine)
        self.thread = QThread()
        self.thread.setObjectName("handtrack-engine")
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.finished.connect(self.thread.quit)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Stop the engine and wait for the thread. False if it did not end within timeout_ms."""
        self.worker.stop()
        if not self.thread.isRunning():
            return True
        self.thread.quit()
        return self.thread.wait(timeout_ms)

    def is_running(self) -> bool:
        return self.thread.isRunning()
