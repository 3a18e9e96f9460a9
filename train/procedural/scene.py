"""Random hands in front of random webcams, batched, without rendering: 3D joints in the camera
frame, their projection and the camera that sees them.

Poses come from train/synth/kinematics.sample_pose (library poses with noise, or coupled uniform
joint angles), shapes from model.kinematics.SHAPE_RANGE as train/synth/shape.sample_shape draws
them, the side as in train/synth (a left hand is the right hand mirrored x -> -x in the hand
frame, after forward kinematics). Orientations are uniform on SO(3) (as train/synth) or, with
probability p_upright, webcam-like: fingers up, palm towards or away from the camera, wrist
roll and tilt. The hand's palm centre lies at depth_m in front of a camera with a random
horizontal field of view and image size, anywhere in the frame.

    hands = sample_hands(256, SceneConfig(), rng)   # Hands: joints_m (256, 21, 3), uv_px, K...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.geometry import intrinsics_from_fov
from model.kinematics import (
    MCP_POS,
    PHALANX_LEN,
    POSE_DIM,
    SHAPE_RANGE,
    THUMB_CMC_POS,
    Skeleton,
    forward_kinematics,
)
from train.synth.kinematics import sample_pose


@dataclass
class SceneConfig:
    """image_sizes: (width, height) px choices of the webcam; hfov_deg: (lo, hi) horizontal field
    of view; depth_m: (lo, hi) depth of the palm centre; border: the palm centre's pixel lies
    uniformly in the frame shrunk by this fraction of its size on each side (0: anywhere);
    p_upright: share of webcam-like orientations (the rest uniform on SO(3)); tilt_deg: sigma of
    the upright hands' tilt away from the image's vertical and out of its plane; p_uniform_pose:
    sample_pose's share of uniform joint angles; min_z_m: nearest joint depth kept (hands closer
    to the camera are drawn again)."""

    image_sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))
    hfov_deg: tuple[float, float] = (50.0, 80.0)
    depth_m: tuple[float, float] = (0.25, 0.9)
    border: float = 0.0
    p_upright: float = 0.4
    tilt_deg: float = 35.0
    p_uniform_pose: float = 0.35
    min_z_m: float = 0.08


@dataclass
class Hands:
    """A batch of B hands. joints_m: (B, 21, 3) metres, camera frame, canonical order; uv_px:
    (B, 21, 2) their projection (frame px); K: (B, 3, 3); image_size: (B, 2) width, height;
    side: (B,) 0 left / 1 right; pose: (B, POSE_DIM) joint angles (radians)."""

    joints_m: np.ndarray
    uv_px: np.ndarray
    K: np.ndarray
    image_size: np.ndarray
    side: np.ndarray
    pose: np.ndarray


def sample_skeletons(n: int, rng: np.random.Generator) -> Skeleton:
    """n random right-hand skeletons (batched Skeleton, leading dimension n), drawn like
    train/synth/shape.sample_shape: size, palm width, MCP positions and bone lengths."""
    r = SHAPE_RANGE
    s = rng.uniform(*r.size, n)[:, None, None]  # (n, 1, 1)
    width = rng.uniform(1.0 - r.width, 1.0 + r.width, n)
    mcp = MCP_POS[None] * s  # (n, 4, 3)
    mcp[:, :, 0] *= width[:, None]
    mcp[:, :, 1] *= rng.uniform(1.0 - r.mcp_y, 1.0 + r.mcp_y, (n, 4))
    phal = PHALANX_LEN[None] * s * rng.uniform(1.0 - r.phalanx, 1.0 + r.phalanx, (n, 5, 3))
    return Skeleton(mcp, THUMB_CMC_POS[None] * s[:, 0], phal)


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """n rotations uniform on SO(3) (normalised Gaussian quaternions). -> (n, 3, 3)."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def _axis_rotations(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotations by angle (n,) radians about the x (0), y (1) or z (2) axis. -> (n, 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[:, axis, axis] = 1.0
    R[:, i, i], R[:, i, j], R[:, j, i], R[:, j, j] = c, -s, s, c
    return R


def upright_rotations(n: int, rng: np.random.Generator, tilt_deg: float) -> np.ndarray:
    """n webcam-like hand-frame -> camera rotations: the fingers (+y) point up the image (-y),
    the palm (+z) faces the camera (-z) or, half of the time, away from it; then a wrist roll
    about the hand's axis U[-90, 90] deg and Gaussian tilts (sigma tilt_deg) in and out of the
    image plane. -> (n, 3, 3)."""
    base = np.diag([1.0, -1.0, -1.0])  # x stays, y up, palm towards the camera
    away = rng.random(n) < 0.5
    flip = np.where(away[:, None, None], np.diag([-1.0, 1.0, -1.0]), np.eye(3))  # about y
    roll = _axis_rotations(1, rng.uniform(-np.pi / 2, np.pi / 2, n))  # about the hand's axis
    t = np.radians(tilt_deg)
    tilt = (_axis_rotations(2, rng.normal(0, t, n)) @ _axis_rotations(0, rng.normal(0, t, n)))
    return tilt @ base @ flip @ roll


def random_cameras(n: int, config: SceneConfig, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """n webcams: (K (n, 3, 3), image_size (n, 2) width, height px)."""
    sizes = np.asarray(config.image_sizes, np.int64)[rng.integers(0, len(config.image_sizes), n)]
    hfov = rng.uniform(*config.hfov_deg, n)
    K = np.stack([intrinsics_from_fov(int(w), int(h), float(f))
                  for (w, h), f in zip(sizes, hfov)])
    return K, sizes


def _place(joints_h: np.ndarray, rot: np.ndarray, K: np.ndarray, sizes: np.ndarray,
           config: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Hand-frame joints (n, 21, 3) rotated by rot (n, 3, 3) and moved so that the palm centre
    (half-way wrist -> middle MCP) lies at a random depth behind a random pixel. -> (n, 21, 3)."""
    n = len(joints_h)
    centre_h = 0.5 * (joints_h[:, 0] + joints_h[:, 9])  # (n, 3)
    rel = np.einsum("nij,nkj->nki", rot, joints_h - centre_h[:, None])  # (n, 21, 3)
    b = config.border
    u = rng.uniform(b, 1.0 - b, n) * (sizes[:, 0] - 1)
    v = rng.uniform(b, 1.0 - b, n) * (sizes[:, 1] - 1)
    z = rng.uniform(*config.depth_m, n)
    x = (u - K[:, 0, 2]) / K[:, 0, 0] * z
    y = (v - K[:, 1, 2]) / K[:, 1, 1] * z
    return rel + np.stack([x, y, z], -1)[:, None]


def project_batch(points_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of (B, N, 3) metres (z > 0) with K (B, 3, 3) -> (B, N, 2) px."""
    p = np.einsum("bij,bnj->bni", K, points_m)
    return p[..., :2] / p[..., 2:3]


def sample_hands(n: int, config: SceneConfig, rng: np.random.Generator) -> Hands:
    """n random hands and cameras (Hands). Every joint lies at least min_z_m in front of the
    camera (hands that do not are placed again, up to 20 times, then pushed back)."""
    pose = np.stack([sample_pose(rng, config.p_uniform_pose) for _ in range(n)])  # (n, 21)
    assert pose.shape == (n, POSE_DIM)
    joints_h, _ = forward_kinematics(pose, sample_skeletons(n, rng))  # (n, 21, 3) right hands
    side = rng.integers(0, 2, n)
    joints_h[side == 0, :, 0] *= -1.0  # left hands: the mirror image, after FK
    upright = rng.random(n) < config.p_upright
    rot = random_rotations(n, rng)
    rot[upright] = upright_rotations(int(upright.sum()), rng, config.tilt_deg)
    K, sizes = random_cameras(n, config, rng)
    joints = _place(joints_h, rot, K, sizes, config, rng)
    for _ in range(20):
        bad = joints[:, :, 2].min(axis=1) < config.min_z_m
        if not bad.any():
            break
        joints[bad] = _place(joints_h[bad], rot[bad], K[bad], sizes[bad], config, rng)
    near = joints[:, :, 2].min(axis=1)
    joints[:, :, 2] += np.maximum(config.min_z_m - near, 0.0)[:, None]
    return Hands(joints, project_batch(joints, K), K, sizes, side, pose)
