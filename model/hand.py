"""Hand conventions: the 21 joints, the two sides, the bones, finger colours and dataset
orderings.

The canonical order is MediaPipe's: wrist, then thumb, index, middle, ring, little, each from the
base to the tip. Every array of joints in this project, (..., 21, D), uses this order.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Joint(IntEnum):
    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_MCP = 5
    INDEX_PIP = 6
    INDEX_DIP = 7
    INDEX_TIP = 8
    MIDDLE_MCP = 9
    MIDDLE_PIP = 10
    MIDDLE_DIP = 11
    MIDDLE_TIP = 12
    RING_MCP = 13
    RING_PIP = 14
    RING_DIP = 15
    RING_TIP = 16
    LITTLE_MCP = 17
    LITTLE_PIP = 18
    LITTLE_DIP = 19
    LITTLE_TIP = 20


NUM_JOINTS = 21
JOINT_NAMES = tuple(j.name.lower() for j in Joint)


class Side(IntEnum):
    """The person's hand. Plain ints where they are stored (CSV, JSON, OSC: 0 left, 1 right)."""

    LEFT = 0
    RIGHT = 1


LEFT, RIGHT = Side.LEFT, Side.RIGHT
SIDE_NAMES = tuple(s.name.lower() for s in Side)  # ("left", "right")

# Root and scale of the RHD/STB literature's normalisation: root = middle MCP,
# scale = length of the middle MCP -> PIP bone.
ROOT = Joint.MIDDLE_MCP
SCALE_BONE = (Joint.MIDDLE_MCP, Joint.MIDDLE_PIP)

# Bones as (parent, child); the 20 bones of the kinematic tree rooted at the wrist.
BONES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4)
)
# Finger index (0 thumb .. 4 little) of each bone, for colouring.
BONE_FINGER: tuple[int, ...] = tuple(f for f in range(5) for _ in range(4))
# One RGB colour (0-255) per finger, shared by the 2D overlay and the 3D view.
FINGER_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 60, 60),  # thumb: red
    (240, 180, 40),  # index: amber
    (70, 200, 90),  # middle: green
    (50, 150, 240),  # ring: blue
    (180, 80, 220),  # little: violet
)


# RHD (per hand): 0 wrist, then thumb, index, middle, ring, little, each TIP -> base.
RHD_TO_CANONICAL = np.array(
    [0] + [1 + 4 * f + (3 - j) for f in range(5) for j in range(4)], dtype=np.int64
)
# STB: 0 palm centre, then little, ring, middle, index, thumb, each base (MCP) -> tip.
STB_TO_CANONICAL = np.array(
    [0] + [1 + 4 * (4 - f) + j for f in range(5) for j in range(4)], dtype=np.int64
)


def _check_joints(name: str, joints: np.ndarray, n: int = NUM_JOINTS) -> np.ndarray:
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != n:
        raise ValueError(f"{name} must have shape (..., {n}, D), got {joints.shape}")
    return joints


def from_rhd(joints: np.ndarray) -> np.ndarray:
    """RHD order -> canonical order. joints: (..., 21, D) for one hand -> (..., 21, D)."""
    joints = _check_joints("joints", joints)
    return joints[..., RHD_TO_CANONICAL, :]


def to_rhd(joints: np.ndarray) -> np.ndarray:
    """Canonical order -> RHD order. (..., 21, D) -> (..., 21, D)."""
    joints = _check_joints("joints", joints)
    out = np.empty_like(joints)
    out[..., RHD_TO_CANONICAL, :] = joints
    return out


def palm_to_wrist(palm: np.ndarray, middle_mcp: np.ndarray) -> np.ndarray:
    """STB gives a palm centre instead of a wrist. The palm centre lies about half-way between
    the wrist and the middle-finger MCP, so the wrist is extrapolated as 2 * palm - middle_mcp
    (the convention of the STB literature that moves the palm keypoint to the wrist)."""
    return 2.0 * palm - middle_mcp


def wrist_to_palm(wrist: np.ndarray, middle_mcp: np.ndarray) -> np.ndarray:
    """Inverse of palm_to_wrist: palm = (wrist + middle_mcp) / 2."""
    return 0.5 * (wrist + middle_mcp)


def from_stb(joints: np.ndarray) -> np.ndarray:
    """STB order (palm centre first) -> canonical order with a wrist. (..., 21, 3) -> (..., 21, 3).

    The STB palm centre is replaced by a wrist made with palm_to_wrist (see there)."""
    joints = _check_joints("joints", joints)
    dtype = joints.dtype if joints.dtype.kind == "f" else np.float64
    out = joints[..., STB_TO_CANONICAL, :].astype(dtype)
    out[..., Joint.WRIST, :] = palm_to_wrist(joints[..., 0, :], out[..., Joint.MIDDLE_MCP, :])
    return out


def to_stb(joints: np.ndarray) -> np.ndarray:
    """Canonical order -> STB order with a palm centre (inverse of from_stb). (..., 21, 3)."""
    joints = _check_joints("joints", joints)
    out = np.empty_like(joints)
    out[..., STB_TO_CANONICAL, :] = joints
    out[..., 0, :] = wrist_to_palm(joints[..., Joint.WRIST, :], joints[..., Joint.MIDDLE_MCP, :])
    return out


def mirror_x(joints: np.ndarray) -> np.ndarray:
    """Mirror joints across the camera's y-z plane (x -> -x): a left hand becomes a right hand.
    (..., 21, 3) -> (..., 21, 3)."""
    joints = _check_joints("joints", joints)
    out = np.array(joints, copy=True)
    out[..., 0] = -out[..., 0]
    return out


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Length of each of the 20 BONES. (..., 21, 3) -> (..., 20), same units as the input."""
    joints = _check_joints("joints", joints)
    parents = np.array([p for p, _ in BONES])
    children = np.array([c for _, c in BONES])
    return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)
