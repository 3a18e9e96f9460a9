"""MediaPipe's world landmarks as a second 3D measurement of each hand, beside the network's.

MediaPipe's landmark model gives, with its 2D landmarks, 21 metric 3D points centred on the
hand (its "world landmarks"). They are a 3D estimate made from the same crop the landmark model
saw, which looks at the hand the way our viewpoint-corrected crop does, so they are read in the
crop camera's frame (frame="crop"; "camera" reads them in the camera's frame instead). Brought to
the network's normalisation (root at the middle MCP, divided by the middle MCP->PIP bone), they
join the decoded pose in the target of the kinematic fit as a weighted mean per joint: the
least-squares fit to that mean is the fit to both sets with those weights (the sum of the
weighted squared distances differs from the distance to the mean only by a constant).

    cfg = LandmarkFusionConfig()
    target = blend_target(pose_unit, world_unit(track.world_m, cam.R, cfg.world_frame),
                          cfg.world_weight * track.inside)       # (21, 3) normalised

Then (snap_2d) the placed 3D hand is refined with the 2D landmarks, which are more precise than
any of the 3D estimates: each joint moves onto the camera ray through its landmark, keeping its
depth, and the kinematic hand is fitted again to the moved joints (snap_to_rays).

The weights were chosen by measurement on real hands (docs/results.md, handtrack-eval-real).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.config_flags import option
from model.hand import ROOT, SCALE_BONE

WORLD_FRAMES = ("crop", "camera")


@dataclass
class LandmarkFusionConfig:
    """world_weight: the share of MediaPipe's world landmarks in each joint of the kinematic
    fit's target (0 = the network's pose alone, 1 = MediaPipe's alone); scaled per hand by the
    fraction of its landmarks inside the image. rgb_weight: the RGB expert's precision scale in
    the product of experts when the 2D expert runs (1 = as trained; lower trusts the 2D
    landmarks more). world_frame: the frame MediaPipe's world landmarks are read in ("crop": the
    viewpoint-corrected crop camera, "camera": the camera's). snap_2d: refine the placed hand
    with this frame's 2D landmarks (each joint onto its landmark's ray at its depth, then the
    kinematic fit again); needs the kinematic fit and landmarks of this frame."""

    world_weight: float = option(0.9, "share of MediaPipe's world landmarks in the 3D hand "
                                 "(0 = the network alone, 1 = MediaPipe's alone; default "
                                 "{default:g})", ge=0.0, le=1.0,
                                 what="a weight between 0 and 1")
    rgb_weight: float = option(1.0, "weight of the RGB expert beside the 2D expert in "
                               "rgb+2d (default {default:g})", ge=0.0, le=1.0,
                               what="a weight between 0 and 1")
    world_frame: str = option("crop", "the frame MediaPipe's world landmarks are read in: the "
                              "viewpoint-corrected crop's camera, or the camera's (default "
                              "{default})", choices=WORLD_FRAMES)

    snap_2d: bool = option(True, "do not refine the 3D hand with the 2D landmarks (each joint "
                           "onto its landmark's camera ray, then the kinematic fit again)",
                           flag="snap-2d")

    def __post_init__(self) -> None:
        if not 0.0 <= self.world_weight <= 1.0:
            raise ValueError(f"world_weight must be in [0, 1], got {self.world_weight}")
        if not 0.0 <= self.rgb_weight <= 1.0:
            raise ValueError(f"rgb_weight must be in [0, 1], got {self.rgb_weight}")
        if self.world_frame not in WORLD_FRAMES:
            raise ValueError(f"world_frame must be one of {', '.join(WORLD_FRAMES)}, got "
                             f"{self.world_frame!r}")


def world_unit(world_m: np.ndarray | None, R: np.ndarray, frame: str = "crop") -> np.ndarray | None:
    """MediaPipe's world landmarks (21, 3) metres -> (21, 3) in the network's normalisation in
    the crop camera (R (3, 3): crop camera -> camera, as CropCamera.R), or None when there are
    none or they are unusable (not finite, a degenerate scale bone)."""
    if world_m is None:
        return None
    w = np.asarray(world_m, np.float64)
    if w.shape != (21, 3) or not np.all(np.isfinite(w)):
        return None
    if frame == "camera":
        w = w @ R  # camera frame -> crop camera
    scale = float(np.linalg.norm(w[SCALE_BONE[1]] - w[SCALE_BONE[0]]))
    if not scale > 1e-6:
        return None
    return (w - w[ROOT]) / scale


def snap_to_rays(joints_m: np.ndarray, uv_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(21, 3) camera-frame joints (metres) moved onto the rays of their (21, 2) pixel landmarks
    through K (3, 3), each at its own depth: x, y from the landmark, z kept."""
    z = np.asarray(joints_m, np.float64)[:, 2]
    uv = np.asarray(uv_px, np.float64)
    x = (uv[:, 0] - K[0, 2]) * z / K[0, 0]
    y = (uv[:, 1] - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], axis=1)


def blend_target(pose_unit: np.ndarray, world: np.ndarray | None, weight: float) -> np.ndarray:
    """The per-joint weighted mean (21, 3) of the decoded pose and MediaPipe's world landmarks
    (both normalised, crop camera); the pose alone when world is None or weight is 0."""
    if world is None or weight <= 0.0:
        return pose_unit
    w = float(min(weight, 1.0))
    return (1.0 - w) * np.asarray(pose_unit, np.float64) + w * world
