"""The engine's viewpoint-corrected crop and the 2D expert's heat maps, batched.

Per hand this is what app/engine/estimate.HandEstimator does with detector landmarks uv_px in a
frame seen through K: box = keypoint_box(uv_px, margin) (square, side margin x the larger
extent), cam = model.geometry.crop_camera(K, box, S) (no roll), heat maps =
model.heatmaps.landmarks_to_heatmaps(uv_px, cam.H, S, M, sigma); the pose the network answers
with is the hand in that crop camera (joints_cam = pose_crop @ cam.R.T, so pose_crop =
joints_cam @ cam.R), normalised (model.geometry.normalise_pose). Here every step takes a batch
and the Gaussians are separable (exp(-dx^2) outer exp(-dy^2)).
"""

from __future__ import annotations

import numpy as np

from model.hand import ROOT, SCALE_BONE
from model.heatmaps import crop_to_heatmap


def keypoint_boxes(uv_px: np.ndarray, margin: np.ndarray | float) -> np.ndarray:
    """Square boxes (B, 3) = (cx, cy, side) px around keypoints uv_px (B, 21, 2): the centre of
    their bounding box, side = margin (scalar or (B,)) x their larger extent."""
    lo, hi = uv_px.min(axis=1), uv_px.max(axis=1)  # (B, 2)
    c = 0.5 * (lo + hi)
    side = np.asarray(margin) * np.maximum((hi - lo).max(axis=1), 1e-6)
    return np.concatenate([c, side[:, None]], axis=1)


def crop_cameras(K: np.ndarray, boxes: np.ndarray, out_size: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """model.geometry.crop_camera for a batch: K (B, 3, 3) zero-skew intrinsics, boxes (B, 3)
    (cx, cy, side px) -> (R (B, 3, 3), K_virtual (B, 3, 3), H (B, 3, 3) frame px -> crop px)."""
    fx, fy, cx0, cy0 = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    x = (boxes[:, 0] - cx0) / fx
    y = (boxes[:, 1] - cy0) / fy
    phi = np.arctan(x)
    theta = -np.arctan(y / np.sqrt(1.0 + x * x))
    cp, sp, ct, st = np.cos(phi), np.sin(phi), np.cos(theta), np.sin(theta)
    zero = np.zeros_like(cp)
    R = np.stack([np.stack([cp, sp * st, sp * ct], -1),  # R_y(phi) @ R_x(theta)
                  np.stack([zero, ct, -st], -1),
                  np.stack([-sp, cp * st, cp * ct], -1)], axis=1)
    s = out_size / boxes[:, 2]
    c = (out_size - 1) / 2.0
    Kv = np.zeros_like(K)
    Kv[:, 0, 0], Kv[:, 1, 1] = fx * s, fy * s
    Kv[:, 0, 2] = Kv[:, 1, 2] = c
    Kv[:, 2, 2] = 1.0
    K_inv = np.zeros_like(K)
    K_inv[:, 0, 0], K_inv[:, 1, 1] = 1.0 / fx, 1.0 / fy
    K_inv[:, 0, 2], K_inv[:, 1, 2] = -cx0 / fx, -cy0 / fy
    K_inv[:, 2, 2] = 1.0
    H = Kv @ np.swapaxes(R, 1, 2) @ K_inv
    return R, Kv, H


def transform_batch(H: np.ndarray, uv_px: np.ndarray) -> np.ndarray:
    """Homographies H (B, 3, 3) applied to points uv_px (B, N, 2) -> (B, N, 2)."""
    hom = np.einsum("bij,bnj->bni", H[:, :, :2], uv_px) + H[:, None, :, 2]
    return hom[..., :2] / hom[..., 2:3]


def heatmaps_batch(uv_crop: np.ndarray, crop_size: int, heatmap_size: int, sigma: float,
                   kept: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """model.heatmaps.encode for a batch: keypoints uv_crop (B, J, 2) crop px -> heat maps
    (B, J, M, M) float32 in [0, 1] (sigma in heat-map px); joints with kept False all zero.
    out: a float32 array of that shape to write into (reused, it saves a large allocation)."""
    m = crop_to_heatmap(uv_crop, crop_size, heatmap_size).astype(np.float32)  # (B, J, 2)
    r = np.arange(heatmap_size, dtype=np.float32)
    k = np.float32(-0.5 / sigma**2)
    gx = np.exp(k * (r - m[..., :1]) ** 2)  # (B, J, M)
    gy = np.exp(k * (r - m[..., 1:]) ** 2)  # (B, J, M)
    if kept is not None:
        gx *= kept[..., None]
    if out is None:
        out = np.empty(gx.shape[:2] + (heatmap_size, heatmap_size), np.float32)
    return np.multiply(gy[..., :, None], gx[..., None, :], out=out)


def normalise_batch(joints_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """model.geometry.normalise_pose for (B, 21, 3): ((p - middle MCP) / |middle MCP -> PIP|
    (B, 21, 3), the bone length (B,))."""
    root = joints_m[:, ROOT]
    scale = np.linalg.norm(joints_m[:, SCALE_BONE[1]] - joints_m[:, SCALE_BONE[0]], axis=-1)
    return (joints_m - root[:, None]) / scale[:, None, None], scale
