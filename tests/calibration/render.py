"""Synthetic board photos from a known camera: each board square is projected with
cv2.projectPoints (with lens distortion, edges sampled so they bend) and filled anti-aliased
(4x supersampled, area-averaged), plus Gaussian noise."""

from __future__ import annotations

import cv2
import numpy as np

from calibration.board import BoardConfig, Detection

W, H = 640, 480
K_TRUE = np.array([[600.0, 0.0, 322.5], [0.0, 598.0, 236.0], [0.0, 0.0, 1.0]])
DIST_TRUE = np.array([-0.12, 0.05, 0.0008, -0.0005, 0.0])  # k1 k2 p1 p2 k3
_SHIFT = 4  # fillPoly fixed-point bits: 1/16 px
_SS = 4  # supersampling factor


def _edge_samples(x0, y0, x1, y1, n) -> np.ndarray:
    """Closed outline of an axis-aligned rectangle on the board, n points per side. (4n, 3)."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    sides = [np.stack([x0 + (x1 - x0) * t, np.full_like(t, y0)], 1),
             np.stack([np.full_like(t, x1), y0 + (y1 - y0) * t], 1),
             np.stack([x1 - (x1 - x0) * t, np.full_like(t, y1)], 1),
             np.stack([np.full_like(t, x0), y1 - (y1 - y0) * t], 1)]
    xy = np.concatenate(sides)
    return np.concatenate([xy, np.zeros((len(xy), 1))], 1)


def pose(rx_deg: float, ry_deg: float, rz_deg: float, t_m, board: BoardConfig):
    """rvec, tvec of a board whose centre is at t_m (camera frame), rotated by rx, ry, rz."""
    R = cv2.Rodrigues(np.radians([rx_deg, 0, 0]))[0] @ cv2.Rodrigues(
        np.radians([0, ry_deg, 0]))[0] @ cv2.Rodrigues(np.radians([0, 0, rz_deg]))[0]
    centre = np.array([(board.cols - 1) / 2, (board.rows - 1) / 2, 0.0]) * board.square_m
    tvec = np.asarray(t_m, float) - R @ centre
    return cv2.Rodrigues(R)[0], tvec


def _project(pts, rvec, tvec, K, dist) -> np.ndarray:
    return cv2.projectPoints(pts, rvec, tvec, K, dist)[0].reshape(-1, 2)


def render(board: BoardConfig, rvec, tvec, K=K_TRUE, dist=DIST_TRUE, noise=2.0, seed=0,
           size=(W, H)) -> np.ndarray | None:
    """(H, W) uint8 photo of a chessboard (with a one-square white margin) on grey, or None
    when the board is not fully inside the image."""
    s = board.square_m
    margin = _edge_samples(-2 * s, -2 * s, board.cols * s + s, board.rows * s + s, 24)
    outline = _project(margin, rvec, tvec, K, dist)
    if (outline.min() < 4 or outline[:, 0].max() > size[0] - 5 or outline[:, 1].max() > size[1] - 5
            or (cv2.Rodrigues(rvec)[0] @ margin.T + tvec.reshape(3, 1))[2].min() <= 0.05):
        return None
    # Drawn _SS times larger, then area-averaged: anti-aliasing by supersampling. A pixel
    # centre x of the photo is at (x + 0.5) * _SS - 0.5 in the large image.
    big = np.full((size[1] * _SS, size[0] * _SS), 90, np.uint8)

    def fixed(uv):
        return np.round(((uv + 0.5) * _SS - 0.5) * (1 << _SHIFT)).astype(np.int32)

    cv2.fillPoly(big, [fixed(outline)], 235, cv2.LINE_AA, _SHIFT)
    for i in range(board.cols + 1):
        for j in range(board.rows + 1):
            if (i + j) % 2:
                continue
            sq = _edge_samples((i - 1) * s, (j - 1) * s, i * s, j * s, 4)
            cv2.fillPoly(big, [fixed(_project(sq, rvec, tvec, K, dist))], 25, cv2.LINE_AA, _SHIFT)
    img = cv2.resize(big, size, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    noisy = img.astype(np.float32) + rng.normal(0.0, noise, img.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def random_views(board: BoardConfig, n: int, seed: int = 1):
    """n (rvec, tvec, image) with varied tilts (+-35 deg), rolls and distances, all in view."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        rv, tv = pose(rng.uniform(-35, 35), rng.uniform(-35, 35), rng.uniform(-20, 20),
                      [rng.uniform(-0.08, 0.08), rng.uniform(-0.06, 0.06), rng.uniform(0.42, 0.7)],
                      board)
        img = render(board, rv, tv, seed=len(out))
        if img is not None:
            out.append((rv, tv, img))
    return out


def exact_detection(board: BoardConfig, rvec, tvec, K=K_TRUE, dist=DIST_TRUE) -> Detection:
    """The true corner positions of a view (no image), for tests of the solver's logic."""
    obj = board.object_points()
    return Detection(_project(obj.astype(np.float64), rvec, tvec, K, dist).astype(np.float32),
                     obj, np.arange(len(obj)))
