"""Frame-rate and latency bookkeeping for the status bar (Qt-free)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from app.results import FrameResult


@dataclass
class RateConfig:
    """window_s: the rates are averaged over the results of the last window_s seconds."""

    window_s: float = 1.0


@dataclass
class Rates:
    camera_fps: float = 0.0  # frames the source captured per second (from frame_id gaps)
    processing_fps: float = 0.0  # results the engine delivered per second
    latency_ms: float = 0.0  # capture -> drawn on screen
    hands: int = 0


class RateMeter:
    """Keeps the last second of (arrival time, frame_id, capture_time) and derives the rates.

    Camera fps counts frame ids (gaps are frames the source captured but the engine dropped), so
    it is the source's rate even when processing is slower; processing fps counts results."""

    def __init__(self, config: RateConfig | None = None):
        self.config = config or RateConfig()
        self._samples: deque[tuple[float, int, float]] = deque()
        self.rates = Rates()

    def add(self, result: FrameResult, now: float | None = None) -> Rates:
        now = time.time() if now is None else now
        self._samples.append((now, result.frame_id, result.capture_time))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.config.window_s:
            self._samples.popleft()
        first, last = self._samples[0], self._samples[-1]
        r = self.rates
        if len(self._samples) >= 2:
            dt_arrival = last[0] - first[0]
            dt_capture = last[2] - first[2]
            r.processing_fps = (len(self._samples) - 1) / dt_arrival if dt_arrival > 0 else 0.0
            frames = last[1] - first[1]
            r.camera_fps = frames / dt_capture if dt_capture > 0 and frames > 0 else 0.0
        r.latency_ms = max(0.0, (now - result.capture_time) * 1000.0)
        r.hands = len(result.hands)
        return r

    def reset(self) -> None:
        self._samples.clear()
        self.rates = Rates()
