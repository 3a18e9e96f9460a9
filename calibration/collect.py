"""Live view collection: keep a detection when the board has been steady for a moment and
differs enough from every view kept so far; track which parts of the image are covered.
No camera or window here, so it is testable with synthetic detections."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.board import Detection


@dataclass
class CollectorConfig:
    steady_px: float = 2.0  # max corner motion between frames that still counts as steady
    steady_s: float = 0.4  # the board must be steady this long before a view is taken
    min_change: float = 0.06  # mean corner shift vs every kept view, fraction of the diagonal
    target_views: int = 15
    grid: tuple[int, int] = (4, 3)  # coverage cells (cols, rows)


def _mean_shift_px(a: Detection, b: Detection) -> float:
    """Mean distance between corners with the same id; a chessboard seen rotated by 180 deg
    reports its corners reversed, so the reversed order is tried too. inf if < 4 shared."""
    common, ia, ib = np.intersect1d(a.ids, b.ids, return_indices=True)
    if len(common) < 4:
        return float("inf")
    pa, pb = a.corners_px[ia], b.corners_px[ib]
    d = np.linalg.norm(pa - pb, axis=1).mean()
    if len(pa) == len(a.corners_px) == len(b.corners_px):
        d = min(d, np.linalg.norm(pa - pb[::-1], axis=1).mean())
    return float(d)


class ViewCollector:
    """offer(detection or None, t seconds) -> status: 'no board', 'hold still', 'move to a new
    pose' (too close to a kept view), 'added'. views: the kept detections."""

    def __init__(self, image_size: tuple[int, int], config: CollectorConfig | None = None):
        self.image_size = image_size
        self.config = config or CollectorConfig()
        self.views: list[Detection] = []
        self._prev: Detection | None = None
        self._steady_since: float | None = None
        self._covered = np.zeros(self.config.grid[::-1], bool)  # (rows, cols)

    @property
    def done(self) -> bool:
        return len(self.views) >= self.config.target_views

    def coverage(self) -> np.ndarray:
        """(rows, cols) bool: cells of the image that a kept view's corners reached."""
        return self._covered.copy()

    def add(self, det: Detection) -> None:
        self.views.append(det)
        cols, rows = self.config.grid
        w, h = self.image_size
        cx = np.clip((det.corners_px[:, 0] / w * cols).astype(int), 0, cols - 1)
        cy = np.clip((det.corners_px[:, 1] / h * rows).astype(int), 0, rows - 1)
        self._covered[cy, cx] = True

    def offer(self, det: Detection | None, t: float) -> str:
        prev, self._prev = self._prev, det
        if det is None:
            self._steady_since = None
            return "no board"
        if prev is None or _mean_shift_px(det, prev) > self.config.steady_px:
            self._steady_since = t
        if t - self._steady_since < self.config.steady_s:
            return "hold still"
        diag = float(np.hypot(*self.image_size))
        if any(_mean_shift_px(det, v) < self.config.min_change * diag for v in self.views):
            return "move to a new pose"
        self.add(det)
        self._steady_since = None  # the next view needs a new steady period
        self._prev = None
        return "added"


def draw_overlay(image_bgr: np.ndarray, det: Detection | None, collector: ViewCollector,
                 status: str, chessboard_size: tuple[int, int] | None) -> np.ndarray:
    """Corners, covered cells (green tint) and a status line drawn on a copy of the frame."""
    out = image_bgr.copy()
    cols, rows = collector.config.grid
    h, w = out.shape[:2]
    tint = out.copy()
    for r, c in zip(*np.nonzero(collector.coverage())):
        cv2.rectangle(tint, (c * w // cols, r * h // rows), ((c + 1) * w // cols,
                      (r + 1) * h // rows), (0, 200, 0), -1)
    out = cv2.addWeighted(tint, 0.25, out, 0.75, 0)
    if det is not None:
        if chessboard_size is not None and len(det.corners_px) == chessboard_size[0] * \
                chessboard_size[1]:
            cv2.drawChessboardCorners(out, chessboard_size, det.corners_px.reshape(-1, 1, 2), True)
        else:
            for u, v in det.corners_px:
                cv2.circle(out, (int(u), int(v)), 3, (0, 0, 255), -1)
    cover = 100.0 * collector.coverage().mean()
    text = (f"views {len(collector.views)}/{collector.config.target_views}  coverage "
            f"{cover:.0f}%  {status}  [space: take, c: calibrate, q: quit]")
    cv2.putText(out, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out
