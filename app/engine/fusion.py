"""The 2D-keypoint expert's input at run time: MediaPipe's landmarks -> heat maps in the crop.

The fused model (strategy s4-2d) was trained on heat maps of the 21 keypoints (canonical order =
MediaPipe's) in the viewpoint-corrected crop, drawn by train.data.heatmaps.encode. Here the
detector's landmarks in frame pixels are carried into that crop by its homography
(CropCamera.H: frame px -> crop px) and drawn the same way.

FUSE_MODES: "rgb" (the RGB expert only), "2d" (the 2D expert alone on frames where the detector
ran, RGB on the others), "rgb+2d" (both experts on frames where the detector ran, RGB on the
others).
"""

from __future__ import annotations

import numpy as np

from model.geometry import transform_points
from train.data import heatmaps

FUSE_MODES = ("rgb", "2d", "rgb+2d")


def landmarks_to_heatmaps(uv_px: np.ndarray, H: np.ndarray, crop_size: int, heatmap_size: int,
                          sigma: float = 2.0) -> np.ndarray:
    """uv_px (21, 2) landmarks in frame pixels, H (3, 3) the crop homography (frame px -> crop
    px) -> heat maps (21, M, M) float32 in [0, 1]; sigma in heat-map pixels (the training
    sigma, checkpoint data["heatmap_sigma_px"])."""
    uv_crop = transform_points(H, np.asarray(uv_px, np.float64))  # (21, 2) crop px
    return heatmaps.encode(uv_crop, crop_size, heatmap_size, sigma)


def expert_weights(mode: str, has_landmarks: bool) -> tuple[float, float]:
    """(rgb_weight, heat_weight) for one hand under a --fuse mode: the 2D expert joins only
    when this frame's detector landmarks exist."""
    if mode not in FUSE_MODES:
        raise ValueError(f"unknown fuse mode {mode!r}; use one of {', '.join(FUSE_MODES)}")
    if mode == "rgb" or not has_landmarks:
        return 1.0, 0.0
    return (0.0, 1.0) if mode == "2d" else (1.0, 1.0)
