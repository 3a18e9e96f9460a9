"""A detector's 2D errors on whole frames, batched: what the engine's 2D expert sees.

At run time the 2D expert's heat maps come from MediaPipe's landmarks in the frame, and the crop
box itself is made from those landmarks. This model perturbs ground-truth frame keypoints the
same way, with amounts that are fractions of the hand's box side (the engine's box, margin x
the keypoints' larger extent, i.e. the crop side), so one config holds for any image size.

    noisy_px, kept = perturb_frame_keypoints(uv_px, DetectorNoiseConfig(), rng)   # (B, 21, 2)

The default amounts were measured with MediaPipe Hands 0.10.21 (static images, full model) on
the 150 real frames of ../shared/realhands/hgc_val pasted back into their 1280x720 frames
(`python -m train.procedural calibrate`, train/procedural/calibrate.py); `level` widens them
per sample so that the expert also sees worse detections than that one subject's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.hand import NUM_JOINTS
from train.data.noise2d import NEIGHBOUR_FINGERS

# MediaPipe on hgc_val (150 frames, one subject's left hand, 100 % detected; calibrate.py): the
# per-joint residual sigma per axis (fraction of the box side, 1.4 x the hand's extent; 461 px
# on average there) after the whole-hand offset and scale are taken out, canonical joint order.
# The wrist, thumb CMC and middle / ring MCPs are the largest (partly a labelling convention of
# that set). Whole-hand offset RMS 0.0077, log-scale sigma 0.030, no finger swap, 0.03 % joints
# beyond 0.1 of the side, mean error 0.025 of the side (median 9.9 px).
MEASURED_JOINT_SIGMA = (
    0.0249, 0.0280, 0.0174, 0.0145, 0.0160,
    0.0167, 0.0170, 0.0132, 0.0155,
    0.0309, 0.0136, 0.0102, 0.0135,
    0.0347, 0.0134, 0.0110, 0.0139,
    0.0201, 0.0131, 0.0110, 0.0171,
)


@dataclass
class DetectorNoiseConfig:
    """joint_sigma: (21,) per-joint Gaussian sigma per axis (fraction of the box side);
    offset: sigma of a whole-hand shift per axis (fraction of the box side); scale: sigma of a
    whole-hand log-scale change about the keypoints' centre; swap_prob: chance per hand that one
    pair of neighbouring long fingers swaps its 4 keypoints; drop_prob: chance per joint that its
    map is zeroed; outlier_prob: chance per joint of a gross error, a shift of outlier_sigma
    (fraction of the box side) per axis; level: (lo, hi) range of a per-hand factor on every
    sigma, drawn log-uniformly (1, 1 = the measured detector only); box_margin: (lo, hi) of the
    crop box margin (box side / keypoint extent; the engine uses 1.4, the evaluation crops 1.5)."""

    joint_sigma: tuple[float, ...] = MEASURED_JOINT_SIGMA
    offset: float = 0.008
    scale: float = 0.03
    swap_prob: float = 0.03  # measured 0 on one subject; other hands and detectors do swap
    drop_prob: float = 0.03  # MediaPipe gives all 21; zeroed maps keep the expert robust
    outlier_prob: float = 0.01
    outlier_sigma: float = 0.1
    level: tuple[float, float] = (0.7, 3.0)
    box_margin: tuple[float, float] = (1.4, 1.5)

    def __post_init__(self) -> None:
        self.joint_sigma = tuple(float(s) for s in self.joint_sigma)
        self.level = tuple(float(v) for v in self.level)
        self.box_margin = tuple(float(v) for v in self.box_margin)
        if len(self.joint_sigma) != NUM_JOINTS or min(self.joint_sigma) < 0:
            raise ValueError(f"joint_sigma needs {NUM_JOINTS} values >= 0, got "
                             f"{self.joint_sigma}")
        for name in ("offset", "scale", "outlier_sigma"):
            if getattr(self, name) < 0:
                raise ValueError(f"DetectorNoiseConfig.{name} must be >= 0, got "
                                 f"{getattr(self, name)}")
        for name in ("swap_prob", "drop_prob", "outlier_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"DetectorNoiseConfig.{name} is a probability, got "
                                 f"{getattr(self, name)}")
        if not 0 < self.level[0] <= self.level[1]:
            raise ValueError(f"level must be (lo, hi) with 0 < lo <= hi, got {self.level}")
        if not 1.0 <= self.box_margin[0] <= self.box_margin[1]:
            raise ValueError(f"box_margin must be (lo, hi) with 1 <= lo <= hi, got "
                             f"{self.box_margin}")


def box_side_px(uv_px: np.ndarray, margin: np.ndarray | float) -> np.ndarray:
    """Side of the engine's square box (app/engine/tracking.keypoint_box): margin x the larger
    extent of each hand's keypoints. uv_px (B, 21, 2), margin scalar or (B,) -> (B,) px."""
    extent = (uv_px.max(axis=1) - uv_px.min(axis=1)).max(axis=-1)  # (B,)
    return np.asarray(margin) * np.maximum(extent, 1e-6)


def swap_fingers(uv_px: np.ndarray, which: np.ndarray) -> np.ndarray:
    """A copy of uv_px (B, 21, 2) where hand b swaps the 4 keypoints of the neighbouring finger
    pair NEIGHBOUR_FINGERS[which[b]] (which (B,) int; -1 = no swap)."""
    out = uv_px.copy()
    for k, (a, b) in enumerate(NEIGHBOUR_FINGERS):
        sel = which == k
        if sel.any():
            ia, ib = np.arange(a, a + 4), np.arange(b, b + 4)
            out[np.ix_(sel, ia)] = uv_px[np.ix_(sel, ib)]
            out[np.ix_(sel, ib)] = uv_px[np.ix_(sel, ia)]
    return out


def perturb_frame_keypoints(uv_px: np.ndarray, config: DetectorNoiseConfig,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth keypoints uv_px (B, 21, 2) frame px -> (detector-like keypoints (B, 21, 2)
    frame px, kept (B, 21) bool). Order: finger swap, whole-hand scale about the centre and
    offset, per-joint jitter, outliers, drops; all sigmas x the hand's level and box side."""
    uv = np.asarray(uv_px, np.float64)
    if uv.ndim != 3 or uv.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"uv_px must have shape (B, 21, 2), got {uv.shape}")
    B = uv.shape[0]
    c = config
    side = box_side_px(uv, 1.4)  # (B,) the engine's box of the true hand
    lo, hi = np.log(c.level[0]), np.log(c.level[1])
    level = np.exp(rng.uniform(lo, hi, B))  # (B,)
    which = np.where(rng.random(B) < c.swap_prob, rng.integers(0, len(NEIGHBOUR_FINGERS), B), -1)
    uv = swap_fingers(uv, which)
    centre = uv.mean(axis=1, keepdims=True)  # (B, 1, 2)
    s = np.exp(rng.normal(0.0, 1.0, B) * c.scale * level)[:, None, None]
    shift = rng.normal(0.0, 1.0, (B, 1, 2)) * (c.offset * level * side)[:, None, None]
    sig = np.asarray(c.joint_sigma)[None, :, None] * (level * side)[:, None, None]  # (B, 21, 1)
    jitter = rng.normal(0.0, 1.0, (B, NUM_JOINTS, 2)) * sig
    out = rng.random((B, NUM_JOINTS)) < c.outlier_prob
    gross = rng.normal(0.0, 1.0, (B, NUM_JOINTS, 2)) * (c.outlier_sigma * side)[:, None, None]
    uv = centre + (uv - centre) * s + shift + jitter + gross * out[..., None]
    kept = rng.random((B, NUM_JOINTS)) >= c.drop_prob
    return uv, kept
