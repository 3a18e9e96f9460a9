"""The root fit: from the network's normalised, root-relative pose to metric 3D in the camera
frame.

The network predicts pose_n (21, 3) in the crop (virtual) camera, root-relative and divided by the
middle MCP->PIP bone length. With a known bone length s (the hand size) the joints are
rel = s * pose_n (metres, still relative to an unknown root t). The root t = (tx, ty, tz) is
solved so that the projections of rel + t through the crop camera K_v fit the 2D keypoints:

    u_i = fx (x_i + tx) / (z_i + tz) + cx   <=>   fx tx - (u_i - cx) tz = (u_i - cx) z_i - fx x_i

(likewise for v), which is linear in t: two equations per joint, three unknowns, a weighted
least squares in closed form (a 3x3 system, solved by `solve3` without LAPACK: on the hot path
each LAPACK call may wake OpenBLAS's thread pool, see app/engine/crops.py). A second pass divides
every equation by the depth (z_i + tz) of the first solution, which turns the algebraic error
into the reprojection error in pixels. Finally the rotation of the viewpoint correction is
undone: p_camera = R (rel + t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.config_flags import option

# Middle finger MCP->PIP bone (joint centre to joint centre) of an average adult, metres. Proximal
# phalanx length reported for adults is about 4.0-4.6 cm (women to men); 4.3 cm is used.
DEFAULT_HAND_SIZE_M = 0.043
# Wrist to middle fingertip of an open hand, in middle MCP->PIP bone lengths (about 18-19 cm).
HAND_SPAN_BONES = 4.3


@dataclass
class MetricConfig:
    """hand_size_m: length of the middle MCP->PIP bone in metres (the scale the network's output
    is multiplied by). min_depth_m / max_depth_m: root depths outside this range are rejected."""

    hand_size_m: float = option(  # the bounds of __post_init__
        DEFAULT_HAND_SIZE_M, "middle MCP->PIP bone length in metres (default {default})",
        what="a bone length in metres (0.005 to 0.2)", gt=0.005, lt=0.2)
    min_depth_m: float = 0.05
    max_depth_m: float = 10.0

    def __post_init__(self) -> None:
        if not 0.005 < self.hand_size_m < 0.2:
            raise ValueError(f"hand_size_m must be a bone length in metres in (0.005, 0.2), got "
                             f"{self.hand_size_m}")


@dataclass
class RootFit:
    """t_m: (3,) root translation in the crop camera, metres. residual_px: RMS reprojection
    error of the weighted keypoints in crop pixels. ok: False when the fit is degenerate
    (joints collapsed, depth out of range)."""

    t_m: np.ndarray
    residual_px: float
    ok: bool


def fit_root(rel_m: np.ndarray, uv_px: np.ndarray, K: np.ndarray, weights: np.ndarray | None = None,
             config: MetricConfig | None = None) -> RootFit:
    """Solve the root translation t so that project(rel_m + t, K) fits uv_px.

    rel_m: (21, 3) root-relative joints in metres; uv_px: (21, 2) pixels of the same camera K
    (3, 3); weights: (21,) >= 0 (default all 1). Returns RootFit.
    """
    config = config or MetricConfig()
    rel = np.asarray(rel_m, dtype=np.float64)
    uv = np.asarray(uv_px, dtype=np.float64)
    w = np.ones(len(rel)) if weights is None else np.asarray(weights, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    du, dv = uv[:, 0] - cx, uv[:, 1] - cy
    n = len(rel)
    A = np.zeros((2 * n, 3))
    b = np.empty(2 * n)
    A[:n, 0] = fx
    A[:n, 2] = -du
    b[:n] = du * rel[:, 2] - fx * rel[:, 0]
    A[n:, 1] = fy
    A[n:, 2] = -dv
    b[n:] = dv * rel[:, 2] - fy * rel[:, 1]
    row_w = np.concatenate([w, w])
    t = None
    for _ in range(2):
        if t is not None:
            depth = rel[:, 2] + t[2]
            if np.any(depth[w > 0] <= 1e-6):
                break
            row_w = np.concatenate([w / depth, w / depth])
        Aw = A * (row_w * row_w)[:, None]  # normal equations (A^T W^2 A) t = A^T W^2 b
        sol = solve3(A.T @ Aw, Aw.T @ b)
        if sol is None or not np.all(np.isfinite(sol)):
            break
        t = sol
    depth = rel[:, 2] + t[2] if t is not None else None
    if t is None or not (config.min_depth_m <= t[2] <= config.max_depth_m
                         and np.all(depth > 1e-3)):
        return RootFit(_fallback_root(uv, K, w, config), float("inf"), False)
    p = rel + t
    proj = np.stack([fx * p[:, 0] / p[:, 2] + cx, fy * p[:, 1] / p[:, 2] + cy], axis=1)
    err2 = ((proj - uv) ** 2).sum(axis=1)
    residual = float(np.sqrt((err2 * w).sum() / max(w.sum(), 1e-9)))
    return RootFit(t, residual, True)


def _fallback_root(uv: np.ndarray, K: np.ndarray, w: np.ndarray,
                   config: MetricConfig) -> np.ndarray:
    """Root when the fit is degenerate (a network output collapsed to a point): the keypoints'
    centre, at the depth where a hand of the configured size (wrist to middle tip about
    HAND_SPAN_BONES bone lengths) spans the keypoints' 2D extent. (3,) metres."""
    pts = uv[w > 0] if np.any(w > 0) else uv
    centre = (pts.min(axis=0) + pts.max(axis=0)) / 2.0
    extent_px = max(float((pts.max(axis=0) - pts.min(axis=0)).max()), 1.0)
    z = float(np.clip(K[0, 0] * HAND_SPAN_BONES * config.hand_size_m / extent_px,
                      config.min_depth_m, config.max_depth_m))
    return np.array([(centre[0] - K[0, 2]) / K[0, 0] * z, (centre[1] - K[1, 2]) / K[1, 1] * z, z])


def project_px(points_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection without validation (hot path). (N, 3) metres, z > 0 -> (N, 2) px."""
    z = points_m[:, 2]
    return np.stack([K[0, 0] * points_m[:, 0] / z + K[0, 2],
                     K[1, 1] * points_m[:, 1] / z + K[1, 2]], axis=1)


def solve3(M: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Solve the 3x3 system M t = b by the adjugate (no LAPACK). M (3, 3), b (3,) -> t (3,);
    None when M is singular."""
    r0, r1, r2 = M
    c0 = np.array([r1[1] * r2[2] - r1[2] * r2[1], r1[2] * r2[0] - r1[0] * r2[2],
                   r1[0] * r2[1] - r1[1] * r2[0]])
    det = float(r0 @ c0)
    scale = float(np.abs(M).max())
    if not math.isfinite(det) or abs(det) <= 1e-12 * scale ** 3:
        return None
    c1 = np.array([r2[1] * r0[2] - r2[2] * r0[1], r2[2] * r0[0] - r2[0] * r0[2],
                   r2[0] * r0[1] - r2[1] * r0[0]])
    c2 = np.array([r0[1] * r1[2] - r0[2] * r1[1], r0[2] * r1[0] - r0[0] * r1[2],
                   r0[0] * r1[1] - r0[1] * r1[0]])
    inv = np.stack([c0, c1, c2], axis=1) / det  # columns are the cofactor rows
    return inv @ b
