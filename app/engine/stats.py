"""Running statistics of an engine session: frames, fps, per-stage latency, 3D error."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.engine.truth import TruthMatch


@dataclass
class EngineStats:
    """frames: processed frames; dropped: frames the capture thread overwrote; video_dropped:
    frames a sink (the recorder's video encoder) could not keep; no_picture: replayed frames
    without their video (the result only); skipped: replayed frames that could not be
    reprocessed (no video); detections: frames on which the detector ran; timings_ms: stage ->
    recent per-frame milliseconds (the last `window` frames); errors_mm: per-hand 3D errors
    (mm) against the demo's ground truth, "camera" (camera frame) and "root_aligned";
    missed_truth: ground-truth hands (summed over frames) that no track matched."""

    window: int = 10000
    frames: int = 0
    dropped: int = 0
    video_dropped: int = 0
    no_picture: int = 0
    skipped: int = 0
    detections: int = 0
    hands: int = 0
    started: float = field(default_factory=time.perf_counter)
    timings_ms: dict[str, deque] = field(default_factory=dict)
    errors_mm: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    missed_truth: int = 0

    def add_timings(self, timings: dict[str, float]) -> None:
        for k, v in timings.items():
            if k not in self.timings_ms:
                self.timings_ms[k] = deque(maxlen=self.window)
            self.timings_ms[k].append(v)

    def add_truth(self, match: TruthMatch) -> None:
        """Count one frame's comparison with the ground truth (app.engine.truth.match_truth)."""
        self.errors_mm["camera"].extend(match.camera_mm)
        self.errors_mm["root_aligned"].extend(match.root_aligned_mm)
        self.missed_truth += match.missed

    @property
    def fps(self) -> float:
        dt = time.perf_counter() - self.started
        return self.frames / dt if dt > 0 else 0.0

    def percentiles(self) -> dict[str, tuple[float, float]]:
        """stage -> (p50, p95) milliseconds."""
        return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 95)))
                for k, v in self.timings_ms.items() if len(v)}

    def summary(self) -> str:
        """A few lines for the terminal."""
        det = 100.0 * self.detections / max(self.frames, 1)
        video = f", recorder dropped {self.video_dropped} video frames" \
            if self.video_dropped else ""
        lines = [f"frames {self.frames}, dropped {self.dropped}{video}, {self.fps:.1f} fps, "
                 f"detector on {self.detections} frames ({det:.0f}%), "
                 f"{self.hands / max(self.frames, 1):.2f} hands/frame"]
        if self.no_picture:
            lines.append(f"replayed {self.no_picture} of {self.frames} frames without a picture "
                         "(their video was not recorded)")
        if self.skipped:
            lines.append(f"skipped {self.skipped} recorded frames without video (nothing to "
                         "reprocess them from)")
        pct = self.percentiles()
        if pct:
            lines.append("latency ms (p50 / p95): " + ", ".join(
                f"{k} {a:.2f} / {b:.2f}" for k, (a, b) in pct.items()))
        if self.errors_mm.get("camera"):
            cam, rel = np.array(self.errors_mm["camera"]), np.array(self.errors_mm["root_aligned"])
            lines.append(f"3D error vs ground truth over {len(cam)} hand-frames: camera frame "
                         f"mean {cam.mean():.1f} mm (median {np.median(cam):.1f}), root-aligned "
                         f"mean {rel.mean():.1f} mm (median {np.median(rel):.1f})")
            miss = self.missed_truth
            lines.append(f"ground-truth hands not tracked: {miss} of {len(cam) + miss} "
                         "hand-frames")
        return "\n".join(lines)
