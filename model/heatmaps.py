"""Keypoints <-> Gaussian heat maps, a matched encode / decode pair (the 2D-keypoint expert's
input: training samples, evaluation and the engine's detector landmarks all go through it).

Pixel convention (model.geometry): the centre of the top-left pixel is (0, 0). A crop of side S
maps to a heat map of side M by u_m = (u + 0.5) * M / S - 0.5.
"""

from __future__ import annotations

import numpy as np

from model.geometry import transform_points


def crop_to_heatmap(uv_px: np.ndarray, crop_size: int, heatmap_size: int) -> np.ndarray:
    """(..., 2) crop pixels -> (..., 2) heat-map pixels."""
    return (np.asarray(uv_px, np.float64) + 0.5) * (heatmap_size / crop_size) - 0.5


def heatmap_to_crop(uv_m: np.ndarray, crop_size: int, heatmap_size: int) -> np.ndarray:
    """(..., 2) heat-map pixels -> (..., 2) crop pixels."""
    return (np.asarray(uv_m, np.float64) + 0.5) * (crop_size / heatmap_size) - 0.5


def encode(uv_px: np.ndarray, crop_size: int, heatmap_size: int = 64,
           sigma: float = 2.0) -> np.ndarray:
    """Keypoints in crop pixels (J, 2) -> heat maps (J, M, M) float32 in [0, 1], one
    unnormalised Gaussian exp(-d^2 / (2 sigma^2)) per keypoint (peak 1 at the keypoint);
    sigma in heat-map pixels. Keypoints outside the map give the part of their Gaussian that
    falls inside (all zeros when far away)."""
    uv = np.asarray(uv_px, np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"uv_px must have shape (J, 2), got {uv.shape}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    m = crop_to_heatmap(uv, crop_size, heatmap_size)
    r = np.arange(heatmap_size, dtype=np.float64)
    gx = np.exp(-((r[None, :] - m[:, :1]) ** 2) / (2 * sigma**2))  # (J, M)
    gy = np.exp(-((r[None, :] - m[:, 1:]) ** 2) / (2 * sigma**2))  # (J, M)
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def decode(heat: np.ndarray, crop_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Heat maps (J, M, M) -> (keypoints (J, 2) crop pixels, confidence (J,) = peak value).

    The peak is refined to sub-pixel precision by fitting a parabola to the log of the map
    around the arg-max in each axis, which is exact for a Gaussian."""
    h = np.asarray(heat, np.float64)
    if h.ndim != 3 or h.shape[1] != h.shape[2]:
        raise ValueError(f"heat must have shape (J, M, M), got {h.shape}")
    J, M, _ = h.shape
    flat = h.reshape(J, -1)
    idx = flat.argmax(axis=1)
    conf = flat[np.arange(J), idx]
    y, x = np.divmod(idx, M)
    out = np.stack([x, y], axis=1).astype(np.float64)
    eps = 1e-10
    for j in range(J):
        if conf[j] <= eps:
            continue
        for axis, (cx, cy) in enumerate(((x[j], y[j]), (x[j], y[j]))):
            c = (cx, cy)[axis]
            if 0 < c < M - 1:
                if axis == 0:
                    a, b, d = h[j, cy, cx - 1], h[j, cy, cx], h[j, cy, cx + 1]
                else:
                    a, b, d = h[j, cy - 1, cx], h[j, cy, cx], h[j, cy + 1, cx]
                la, lb, ld = np.log(max(a, eps)), np.log(max(b, eps)), np.log(max(d, eps))
                den = la - 2 * lb + ld
                if den < -1e-12:
                    out[j, axis] += float(np.clip(0.5 * (la - ld) / den, -0.5, 0.5))
    return heatmap_to_crop(out, crop_size, M), conf.astype(np.float32)


def landmarks_to_heatmaps(uv_px: np.ndarray, H: np.ndarray, crop_size: int, heatmap_size: int,
                          sigma: float = 2.0) -> np.ndarray:
    """encode of keypoints given in another image, carried into the crop first: uv_px (21, 2)
    e.g. the detector's landmarks in frame pixels, H (3, 3) the crop homography (frame px ->
    crop px, CropCamera.H) -> heat maps (21, M, M) float32 in [0, 1]; sigma in heat-map pixels
    (the training sigma, checkpoint data["heatmap_sigma_px"])."""
    uv_crop = transform_points(H, np.asarray(uv_px, np.float64))  # (21, 2) crop px
    return encode(uv_crop, crop_size, heatmap_size, sigma)
