"""From a data-set frame to the training sample of docs/contracts.md section 1: a
viewpoint-corrected crop, its 3D pose and point cloud in the crop camera (root-relative and
normalised), heat maps, 2D keypoints, and the paper's augmentation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from model import heatmaps
from model.geometry import (
    Box,
    box_from_keypoints,
    crop_camera,
    normalise_points,
    normalise_pose,
    project,
    warp_crop,
)
from train.data.config import SampleConfig

PAPER_CROP_PX = 256  # the paper's translation augmentation (+-20 px) is given for this size


@dataclass
class RawSample:
    """One hand of one data-set frame, before cropping.

    rgb: (H, W, 3) uint8 RGB; joints_m: (21, 3) metres in the colour camera, canonical order;
    uv_px: (21, 2) pixels; vis: (21,) bool; K: (3, 3) colour intrinsics; side: 0 left / 1 right;
    cloud_m: (M, 3) float32 hand points in the colour camera (metres), None if the set has no
    depth.
    """

    rgb: np.ndarray
    joints_m: np.ndarray
    uv_px: np.ndarray
    vis: np.ndarray
    K: np.ndarray
    side: int
    cloud_m: np.ndarray | None


@dataclass(frozen=True)
class Augmentation:
    """scale: box side factor; shift_px: (2,) box-centre shift in crop pixels of a 256 crop;
    roll_rad: rotation about the virtual optical axis; hue: shift as a fraction of the circle."""

    scale: float = 1.0
    shift_px: tuple[float, float] = (0.0, 0.0)
    roll_rad: float = 0.0
    hue: float = 0.0

    @staticmethod
    def sample(rng: np.random.Generator) -> Augmentation:
        """The paper's ranges: scale U[1, 1.2], translation +-20 px, roll U[-pi, pi], hue +-0.1."""
        return Augmentation(float(rng.uniform(1.0, 1.2)), tuple(rng.uniform(-20, 20, 2)),
                            float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(-0.1, 0.1)))


def shift_hue(rgb: np.ndarray, hue: float) -> np.ndarray:
    """Rotate the hue of an (H, W, 3) uint8 RGB image by `hue` of a full turn."""
    if hue == 0.0:
        return rgb
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h = hsv[..., 0].astype(np.int16) + int(round(hue * 180.0))
    hsv[..., 0] = np.mod(h, 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def sample_cloud(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points (n, 3) drawn from (M, 3), without replacement if M >= n, else with."""
    idx = rng.choice(len(points), size=n, replace=len(points) < n)
    return points[idx]


def make_sample(raw: RawSample, config: SampleConfig, index: int, aug: Augmentation | None,
                rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Crop, correct the viewpoint, augment and normalise one hand (contracts.md section 1).

    aug: None for no augmentation; rng draws the cloud points. Returns the sample dict."""
    S = config.crop_size
    box = box_from_keypoints(raw.uv_px, margin=config.crop_margin)
    roll = 0.0
    if aug is not None:
        size = box.size * aug.scale
        k = size / PAPER_CROP_PX
        box = Box(box.cx + aug.shift_px[0] * k, box.cy + aug.shift_px[1] * k, size)
        roll = aug.roll_rad
    cam = crop_camera(raw.K, box, S, roll_rad=roll)
    rgb = warp_crop(raw.rgb, cam)
    if aug is not None:
        rgb = shift_hue(rgb, aug.hue)

    joints_v = cam.to_virtual(raw.joints_m)  # (21, 3) metres, crop camera
    uv_crop = project(joints_v, cam.K_virtual)  # (21, 2)
    pose, root, scale = normalise_pose(joints_v)
    inside = np.all((uv_crop >= -0.5) & (uv_crop <= S - 0.5), axis=1)
    vis = np.asarray(raw.vis, bool) & inside

    cloud = np.zeros((config.cloud_points, 3), np.float32)
    has_cloud = False
    if raw.cloud_m is not None and len(raw.cloud_m) > 0:
        pv = cam.to_virtual(raw.cloud_m)
        pv = pv[pv[:, 2] > 1e-3]
        if len(pv):
            uvp = project(pv, cam.K_virtual)
            keep = np.all((uvp >= -0.5) & (uvp <= S - 0.5), axis=1)
            pv = pv[keep]
        if len(pv):
            cloud = normalise_points(sample_cloud(pv, config.cloud_points, rng), root, scale)
            has_cloud = True

    heat = heatmaps.encode(uv_crop, S, config.heatmap_size, config.heatmap_sigma_px)
    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return {
        "rgb": f32(rgb.transpose(2, 0, 1) / 255.0),  # (3, S, S)
        "pose": f32(pose),  # (21, 3)
        "cloud": f32(cloud),  # (N, 3)
        "has_cloud": torch.tensor(has_cloud),
        "heat": torch.from_numpy(heat),  # (21, M, M)
        "uv_crop": f32(uv_crop),  # (21, 2)
        "vis": f32(vis),  # (21,)
        "K": f32(raw.K),
        "K_virtual": f32(cam.K_virtual),
        "R": f32(cam.R),
        "root_m": f32(root),  # (3,)
        "scale_m": torch.tensor(float(scale), dtype=torch.float32),
        "side": torch.tensor(int(raw.side), dtype=torch.int64),
        "index": torch.tensor(int(index), dtype=torch.int64),
    }
