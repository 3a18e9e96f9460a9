"""Kinematic hand model: joint angles and bone lengths -> 21 joint positions and bone frames.

The synthetic generator (train/synth) renders this hand, and model.anatomy fits it to decoded
joints, so its limits are the "generator's limits" that anatomical checks refer to.

Hand frame of a RIGHT hand (metres): origin at the wrist, +y from the wrist towards the middle
finger, +z out of the palm (the side the fingers flex towards), +x towards the thumb. A left hand
is the mirror image (x -> -x), applied after forward kinematics.

Pose vector (POSE_DIM = 21 angles, radians):
    [0:4]   thumb:  CMC abduction, CMC flexion (opposition), MCP flexion, IP flexion
    [4:20]  index, middle, ring, little: MCP abduction, MCP flexion, PIP flexion, DIP flexion
    [20]    palm cupping (ring and little metacarpals fold towards the palm)
Limits are in POSE_LO / POSE_HI. Per-hand shape variation of the generator (train/synth/shape.py)
is in SHAPE_RANGE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

POSE_DIM = 21

# Joint limits (radians). Abduction of the long fingers is the spread around the rest direction.
POSE_LO = np.array(
    [-0.35, -0.30, -0.15, -0.30]
    + [-0.30, -0.35, 0.0, -0.05] + [-0.20, -0.35, 0.0, -0.05]
    + [-0.20, -0.35, 0.0, -0.05] + [-0.30, -0.35, 0.0, -0.05]
    + [0.0]
)
POSE_HI = np.array(
    [0.60, 1.25, 1.00, 1.35]
    + [0.30, 1.60, 1.90, 1.40] + [0.20, 1.60, 1.95, 1.40]
    + [0.20, 1.65, 1.95, 1.40] + [0.35, 1.70, 1.90, 1.40]
    + [0.35]
)

# Mean adult hand (right), metres, hand frame with straight fingers.
MCP_POS = np.array([  # index, middle, ring, little MCP
    [0.026, 0.088, 0.000],
    [0.005, 0.092, 0.000],
    [-0.014, 0.087, 0.000],
    [-0.031, 0.078, 0.000],
])
PHALANX_LEN = np.array([  # proximal, middle, distal (for the thumb: metacarpal, proximal, distal)
    [0.044, 0.033, 0.027],  # thumb
    [0.042, 0.025, 0.020],  # index
    [0.046, 0.029, 0.021],  # middle
    [0.043, 0.027, 0.021],  # ring
    [0.034, 0.020, 0.019],  # little
])
THUMB_CMC_POS = np.array([0.022, 0.022, 0.008])
# Rest direction of each long finger (slight natural fan).
FINGER_REST_SPREAD = np.array([0.06, 0.0, -0.07, -0.15])


@dataclass(frozen=True)
class ShapeRange:
    """Relative per-hand shape variation around the mean hand (all as factors of 1 +- x):
    size: overall scale (U[0.7, 1.2] in the generator: a range, not a factor of 1 +- x);
    phalanx: each bone length; mcp_y: each MCP's distance along the palm; width: palm width."""

    size: tuple[float, float] = (0.7, 1.2)
    phalanx: float = 0.06
    mcp_y: float = 0.05
    width: float = 0.08


SHAPE_RANGE = ShapeRange()


def _thumb_base() -> np.ndarray:
    """Rest frame of the thumb metacarpal (columns x, y, z in the hand frame): y along the bone,
    flexion (about x) swings the thumb across the palm (opposition), abduction is about z."""
    y = np.array([0.52, 0.80, 0.30])
    y /= np.linalg.norm(y)
    z = np.array([-0.50, 0.45, 1.0])
    z -= y * (z @ y)
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


THUMB_BASE = _thumb_base()


@dataclass(frozen=True)
class Skeleton:
    """Per-hand bone geometry of a right hand (metres).

    mcp: (..., 4, 3) index..little MCP positions; cmc: (..., 3) thumb CMC; phalanx: (..., 5, 3)
    bone lengths. Leading dimensions (if any) are a batch of hands.
    """

    mcp: np.ndarray
    cmc: np.ndarray
    phalanx: np.ndarray

    @staticmethod
    def mean(scale: float = 1.0) -> Skeleton:
        return Skeleton(MCP_POS * scale, THUMB_CMC_POS * scale, PHALANX_LEN * scale)


@numba.njit(cache=True)
def _rotate(F, axis, a):  # pragma: no cover - numba
    """F @ (rotation by `a` radians about the x (0), y (1) or z (2) axis), F: (3, 3)."""
    c, s = math.cos(a), math.sin(a)
    out = np.empty((3, 3))
    i, j = (1, 2) if axis == 0 else ((2, 0) if axis == 1 else (0, 1))
    for r in range(3):
        out[r, axis] = F[r, axis]
        out[r, i] = F[r, i] * c + F[r, j] * s
        out[r, j] = -F[r, i] * s + F[r, j] * c
    return out


@numba.njit(cache=True)
def _fk_kernel(pose, mcp_all, cmc, phal, thumb_base, rest_spread, folds,
               joints, frames):  # pragma: no cover - numba
    """Batched forward kinematics; shapes as in forward_kinematics with one batch dimension B:
    pose (B, 21), mcp_all (B, 4, 3), cmc (B, 3), phal (B, 5, 3) -> joints (B, 21, 3) and
    frames (B, 21, 3, 3), written in place."""
    eye = np.eye(3)
    for b in range(pose.shape[0]):
        frames[b, 0] = eye
        joints[b, 0] = 0.0
        # Thumb: CMC (2 DOF), MCP and IP flexion.
        F = _rotate(_rotate(_rotate(thumb_base, 2, -pose[b, 0]), 0, pose[b, 1]),
                    1, -0.6 * pose[b, 1])
        p = cmc[b].copy()
        joints[b, 1], frames[b, 1] = p, F
        for k in range(3):
            F = _rotate(F, 0, 0.0 if k == 0 else pose[b, 1 + k])
            p = p + F[:, 1] * phal[b, 0, k]
            joints[b, 2 + k], frames[b, 2 + k] = p, F
        # Long fingers: MCP abduction + flexion, PIP, DIP. Cupping folds ring/little metacarpals.
        for f in range(4):
            base = 5 + 4 * f
            fold = pose[b, 20] * folds[f]
            p = mcp_all[b, f].copy()
            p[2] += fold * 0.35 * abs(mcp_all[b, f, 0] - mcp_all[b, 1, 0])
            F = _rotate(_rotate(_rotate(eye, 1, -fold * 0.5), 2,
                                -(rest_spread[f] + pose[b, 4 + 4 * f])), 0, pose[b, 5 + 4 * f])
            joints[b, base], frames[b, base] = p, F
            for k in range(3):
                F = _rotate(F, 0, 0.0 if k == 0 else pose[b, 5 + 4 * f + k])
                p = p + F[:, 1] * phal[b, 1 + f, k]
                joints[b, base + 1 + k], frames[b, base + 1 + k] = p, F


_FOLDS = np.array([0.0, 0.1, 0.6, 1.0])  # how much cupping folds each long finger's metacarpal


def forward_kinematics(pose: np.ndarray, skel: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Joint angles -> joints and bone frames of a right hand in the hand frame.

    pose: (..., POSE_DIM) radians (clipped to the limits); skel broadcasts against the leading
    dimensions. Returns joints (..., 21, 3) metres in canonical order (model.hand.Joint) and
    frames (..., 21, 3, 3): the rotation of the bone that ends at each joint (columns x, y, z; y
    along the bone, z palmar); the wrist's frame is the identity. Compiled with numba.
    """
    pose = np.clip(np.asarray(pose, dtype=np.float64), POSE_LO, POSE_HI)
    lead = pose.shape[:-1]
    pose = np.ascontiguousarray(pose.reshape(-1, POSE_DIM))
    B = pose.shape[0]
    def batch(a, tail):
        return np.ascontiguousarray(np.broadcast_to(np.asarray(a, np.float64), lead + tail)
                                    .reshape((B,) + tail))
    joints = np.empty((B, 21, 3))
    frames = np.empty((B, 21, 3, 3))
    _fk_kernel(pose, batch(skel.mcp, (4, 3)), batch(skel.cmc, (3,)), batch(skel.phalanx, (5, 3)),
               THUMB_BASE, FINGER_REST_SPREAD, _FOLDS, joints, frames)
    return joints.reshape(lead + (21, 3)), frames.reshape(lead + (21, 3, 3))
