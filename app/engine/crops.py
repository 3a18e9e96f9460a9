"""Crop cameras on the hot path: model.geometry.crop_camera without LAPACK calls.

model.geometry builds the viewpoint-corrected crop camera with np.linalg.solve / inv. On a 3x3
those take microseconds in isolation, but each LAPACK call may wake OpenBLAS's thread pool, which
cost up to ~2 ms per frame in the engine while MediaPipe / onnxruntime threads were around. K is
upper triangular, so its inverse and the rotation are written out here; the result equals
crop_camera's (tests/app/test_tracking.py checks it).
"""

from __future__ import annotations

import math

import numpy as np

from model.geometry import Box, CropCamera


def k_inverse(K: np.ndarray) -> np.ndarray:
    """Inverse of an intrinsic matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]]. (3, 3)."""
    fx, s, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    return np.array([[1.0 / fx, -s / (fx * fy), (s * cy - cx * fy) / (fx * fy)],
                     [0.0, 1.0 / fy, -cy / fy],
                     [0.0, 0.0, 1.0]])


def fast_crop_camera(K: np.ndarray, box: Box, out_size: int,
                     K_inv: np.ndarray | None = None) -> CropCamera:
    """Same as model.geometry.crop_camera(K, box, out_size) (no roll): R = R_y(phi) R_x(theta)
    turning the camera towards the box centre, K_virtual mapping the box to the crop, and
    H = K_virtual R^T K^-1. K_inv: precomputed k_inverse(K)."""
    K_inv = k_inverse(K) if K_inv is None else K_inv
    d = K_inv @ np.array([box.cx, box.cy, 1.0])
    x, y = d[0] / d[2], d[1] / d[2]
    phi = math.atan(x)
    theta = -math.atan(y / math.sqrt(1.0 + x * x))
    cp, sp, ct, st = math.cos(phi), math.sin(phi), math.cos(theta), math.sin(theta)
    # R_y(phi) @ R_x(theta)
    R = np.array([[cp, sp * st, sp * ct],
                  [0.0, ct, -st],
                  [-sp, cp * st, cp * ct]])
    s = out_size / box.size
    c = (out_size - 1) / 2.0
    Kv = np.array([[K[0, 0] * s, 0.0, c], [0.0, K[1, 1] * s, c], [0.0, 0.0, 1.0]])
    H = Kv @ R.T @ K_inv
    return CropCamera(R=R, K=K, K_virtual=Kv, H=H, size=out_size)

