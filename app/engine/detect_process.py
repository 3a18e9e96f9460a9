"""MediaPipe in a process of its own: the detector beside the network without sharing the GIL.

    detector = DetectorProcess(DetectorConfig(), max_hands=2, video=True)   # starts the process
    dets = detector.detect(rgb, mirrored)       # blocks this thread only; list[Detection]
    detector.close()

The same interface as app.engine.detect.MediaPipeDetector; MediaPipe runs in a child Python
(`python -m model.mediapipe_server`, model/mediapipe_server.py: it imports MediaPipe and model/
only, nothing of the parent's threads or main script). Why: MediaPipe's
Python wrapper takes the GIL several times per frame (packets in, landmark protobufs out), and
while the engine's thread runs Python (crops, fits, filters) each of those waits up to the
interpreter's switch interval; measured on 2 cores, MediaPipe beside the engine in one process
took 20-35 ms per frame instead of its 16 alone. In its own process it keeps its own speed.

Frames are shared through a file in /dev/shm mapped by both processes (one copy per frame, no
transfer; where there is no /dev/shm they go through the socket pair as raw bytes); requests
and the detections (small numpy arrays, pickled) go through a socket pair. The child runs in a
session of its own and ignores SIGINT (the parent decides when to stop), ends when the socket
closes (the parent exited or called close()), and reports its errors (mediapipe missing, a bad
setting) as one line that detect() raises as an EngineError.
Opening is asynchronous: the child imports MediaPipe (about 0.4 s) while the parent opens the
source and the network; the first detect() waits for it. `handtrack` starts the child before it
imports the engine (app/detector_prestart.py) and the first DetectorProcess adopts it; every
child gets its options as its first message.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import subprocess
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from app import detector_prestart
from app.engine.detect import DetectorConfig
from app.engine.errors import EngineError
from app.engine.threads import pin_to_last_core
from model.mediapipe_hands import Detection

_START_TIMEOUT_S = 60.0
_SHM = Path("/dev/shm")
SLOTS = 2  # frames that may be in flight (shared-memory buffers)


class DetectorProcess:
    """MediaPipeDetector(config, max_hands, video) in a child process (module doc). detect()
    may be called from any one thread at a time; close() ends the child."""

    def __init__(self, config: DetectorConfig | None = None, max_hands: int = 2,
                 video: bool = False):
        self.config = config or DetectorConfig()
        c = self.config
        if c.model_complexity not in (0, 1):
            raise EngineError(f"detector model_complexity must be 0 or 1, got "
                              f"{c.model_complexity}")
        self.max_hands, self.video = max_hands, video
        options = {"max_hands": max_hands, "model_complexity": c.model_complexity,
                   "min_detection_confidence": c.min_detection_confidence,
                   "min_tracking_confidence": c.min_tracking_confidence, "video": video}
        started = detector_prestart.take()  # started ahead by `handtrack`, or None
        if started is None:
            try:
                started = detector_prestart.spawn()
            except OSError as e:
                raise EngineError(f"cannot start the MediaPipe detector process ({e}); use "
                                  "--no-overlap to detect in-process") from None
        self._proc, ours = started
        # before the options: MediaPipe's threads start once it has them and inherit the core
        self.core = pin_to_last_core(self._proc.pid) if c.own_core else None
        self._conn = Connection(ours.detach())
        with contextlib.suppress(OSError):  # a child gone already is reported by _receive
            self._conn.send(("options", options))
        self._ready = False
        self._lock = threading.Lock()
        self._slots: list[np.ndarray | None] = [None] * SLOTS  # frames shared with the child
        self._next = 0  # the slot of the next frame
        self._inflight = 0  # frames submitted whose detections are not collected yet
        self._retire = False  # close once the last submitted frame is collected

    def _share(self, slot: int, shape: tuple[int, int]) -> np.ndarray | None:
        """A file in /dev/shm of the frame's size, mapped here and (as `slot`) in the child and
        unlinked at once (the mappings keep it; nothing is left behind, even after a crash);
        None where there is no /dev/shm (the frames then go through the socket). Only with
        nothing in flight (the child's reply must be the next one)."""
        if not _SHM.is_dir():
            return None
        n = shape[0] * shape[1] * 3
        try:
            fd, path = tempfile.mkstemp(prefix="handtrack-frame-", dir=_SHM)
        except OSError:
            return None
        try:
            os.ftruncate(fd, n)
            mm = mmap.mmap(fd, n)
            self._conn.send(("map", path, tuple(shape), slot))
            self._receive()
        except OSError:
            return None
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
        return np.frombuffer(mm, np.uint8).reshape(shape[0], shape[1], 3)

    def _receive(self):
        try:
            if not self._conn.poll(None if self._ready else _START_TIMEOUT_S):
                raise EngineError("the MediaPipe detector process did not start within "
                                  f"{_START_TIMEOUT_S:g} s; is the machine overloaded?")
            reply = self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.poll()
            raise EngineError(f"the MediaPipe detector process ended unexpectedly (exit code "
                              f"{code}); run again, or use --no-overlap to detect in-process") \
                from None
        if reply[0] == "error":
            raise EngineError(reply[1])
        return reply[1]

    @property
    def inflight(self) -> int:
        """Frames submitted and not collected yet (at most SLOTS)."""
        return self._inflight

    def submit(self, rgb: np.ndarray, mirrored: bool) -> None:
        """Hand a frame (H, W, 3) uint8 to the child and return at once; collect() returns its
        detections, in the order of submission. At most SLOTS frames in flight: the child
        starts the next one as soon as it finishes one (no round trip in between)."""
        rgb = np.ascontiguousarray(rgb, np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise EngineError(f"the detector needs (H, W, 3) RGB frames, got {rgb.shape}")
        with self._lock:
            if self._proc is None:
                raise EngineError("the MediaPipe detector process was closed")
            if self._inflight >= SLOTS:
                raise EngineError(f"at most {SLOTS} frames may wait for the detector")
            if not self._ready:
                self.max_hands, self.video = self._receive()
                self._ready = True
            k = self._next
            frame = self._slots[k]
            if (frame is None or frame.shape != rgb.shape) and self._inflight == 0:
                frame = self._slots[k] = self._share(k, rgb.shape[:2])
            try:
                if frame is not None and frame.shape == rgb.shape:
                    np.copyto(frame, rgb)
                    self._conn.send(("detect_shared", bool(mirrored), k))
                else:  # no shared memory, or a new frame size while frames are in flight
                    self._conn.send(("detect", rgb.shape[:2], bool(mirrored)))
                    self._conn.send_bytes(rgb.reshape(-1).data)  # 1-D: send_bytes counts len()
            except OSError:
                pass  # the child is gone: collect() says so
            self._next = (k + 1) % SLOTS
            self._inflight += 1

    def collect(self) -> list[Detection]:
        """The detections of the oldest submitted frame (blocks until they are there)."""
        with self._lock:
            if self._proc is None:
                raise EngineError("the MediaPipe detector process was closed")
            if self._inflight == 0:
                raise EngineError("collect() without a submitted frame")
            try:
                return self._receive()
            finally:
                self._inflight -= 1
                if self._retire and self._inflight == 0:
                    self._close_locked()

    def detect(self, rgb: np.ndarray, mirrored: bool) -> list[Detection]:
        """rgb: (H, W, 3) uint8. Returns up to max_hands detections (MediaPipeDetector.detect);
        nothing may be in flight."""
        self.submit(rgb, mirrored)
        return self.collect()

    def close_when_idle(self) -> None:
        """close() now, or after the frames in flight are collected."""
        with self._lock:
            if self._inflight:
                self._retire = True
                return
            self._close_locked()

    def close(self) -> None:
        """End the child (idempotent): the socket closes, the child returns; killed after 2 s,
        or at once while it is still starting (nothing of it to keep)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(("close",))
        except OSError:
            pass
        self._conn.close()
        try:
            self._proc.wait(timeout=2.0 if self._ready else 0.05)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=1.0)
        self._proc = None

    def __enter__(self) -> DetectorProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
