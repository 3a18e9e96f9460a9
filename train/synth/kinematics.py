"""Kinematics of the procedural hand: joint angles -> 21 joint positions and bone frames.

Hand frame of a RIGHT hand (metres): origin at the wrist, +y from the wrist towards the middle
finger, +z out of the palm (the side the fingers flex towards), +x towards the thumb. A left hand
is the mirror image (x -> -x), applied after forward kinematics by the renderer.

Pose vector (POSE_DIM = 21 angles, radians):
    [0:4]   thumb:  CMC abduction, CMC flexion (opposition), MCP flexion, IP flexion
    [4:20]  index, middle, ring, little: MCP abduction, MCP flexion, PIP flexion, DIP flexion
    [20]    palm cupping (ring and little metacarpals fold towards the palm)
Limits are in POSE_LO / POSE_HI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.geometry import rot_x, rot_y, rot_z

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
    """Per-sample bone geometry of a right hand (metres).

    mcp: (4, 3) index..little MCP positions; cmc: (3,) thumb CMC; phalanx: (5, 3) bone lengths.
    """

    mcp: np.ndarray
    cmc: np.ndarray
    phalanx: np.ndarray

    @staticmethod
    def mean(scale: float = 1.0) -> Skeleton:
        return Skeleton(MCP_POS * scale, THUMB_CMC_POS * scale, PHALANX_LEN * scale)


def forward_kinematics(pose: np.ndarray, skel: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Joint angles -> joints and bone frames of a right hand in the hand frame.

    pose: (POSE_DIM,) radians. Returns joints (21, 3) metres in canonical order (model.hand.Joint)
    and frames (21, 3, 3): the rotation of the bone that ends at each joint (columns x, y, z; y
    along the bone, z palmar); the wrist's frame is the identity.
    """
    pose = np.clip(np.asarray(pose, dtype=np.float64), POSE_LO, POSE_HI)
    joints = np.zeros((21, 3))
    frames = np.tile(np.eye(3), (21, 1, 1))
    cup = pose[20]

    # Thumb: CMC (2 DOF), MCP and IP flexion.
    F = THUMB_BASE @ rot_z(-pose[0]) @ rot_x(pose[1]) @ rot_y(-0.6 * pose[1])
    p = skel.cmc.copy()
    joints[1], frames[1] = p, F
    for k, a in enumerate((0.0, pose[2], pose[3])):
        F = F @ rot_x(a)
        p = p + F[:, 1] * skel.phalanx[0, k]
        joints[2 + k], frames[2 + k] = p, F

    # Long fingers: MCP abduction + flexion, PIP, DIP. Cupping folds ring/little metacarpals.
    for f in range(4):
        base = 5 + 4 * f
        fold = cup * (0.0, 0.1, 0.6, 1.0)[f]
        mcp = skel.mcp[f].copy()
        mcp[2] += fold * 0.35 * abs(skel.mcp[f, 0] - skel.mcp[1, 0])
        F = rot_y(-fold * 0.5) @ rot_z(-(FINGER_REST_SPREAD[f] + pose[4 + 4 * f]))
        F = F @ rot_x(pose[5 + 4 * f])
        joints[base], frames[base] = mcp, F
        p = mcp
        for k, a in enumerate((0.0, pose[6 + 4 * f], pose[7 + 4 * f])):
            F = F @ rot_x(a)
            p = p + F[:, 1] * skel.phalanx[1 + f, k]
            joints[base + 1 + k], frames[base + 1 + k] = p, F
    return joints, frames


# ----------------------------------------------------------------------------- pose library
def _hand(thumb, fingers, cup=0.1, spread=0.0) -> np.ndarray:
    """Build a pose from a thumb (abd, cmc, mcp, ip) and per-finger curl in [0, 1]."""
    v = np.zeros(POSE_DIM)
    v[0:4] = thumb
    spreads = (0.15, 0.0, -0.1, -0.2)
    for f, c in enumerate(fingers):
        v[4 + 4 * f] = spread * spreads[f]
        v[5 + 4 * f] = 1.45 * c
        v[6 + 4 * f] = 1.75 * c
        v[7 + 4 * f] = 1.0 * c
    v[20] = cup
    return v


THUMB_OUT = (0.15, -0.1, 0.05, 0.05)
THUMB_IN = (-0.1, 1.15, 0.7, 0.9)
THUMB_TUCK = (0.05, 0.75, 0.6, 0.8)
THUMB_PINCH = (0.1, 0.85, 0.35, 0.5)

POSE_LIBRARY: dict[str, np.ndarray] = {
    "open": _hand(THUMB_OUT, (0.0, 0.0, 0.0, 0.0), cup=0.0, spread=1.0),
    "relaxed": _hand((0.2, 0.2, 0.2, 0.2), (0.2, 0.25, 0.3, 0.35), cup=0.15),
    "fist": _hand(THUMB_TUCK, (1.0, 1.0, 1.0, 1.0), cup=0.3),
    "point": _hand(THUMB_TUCK, (0.0, 1.0, 1.0, 1.0), cup=0.2),
    "two": _hand(THUMB_TUCK, (0.0, 0.0, 1.0, 1.0), spread=1.0),
    "three": _hand(THUMB_TUCK, (0.0, 0.0, 0.0, 1.0), spread=1.0),
    "four": _hand(THUMB_IN, (0.0, 0.0, 0.0, 0.0), spread=1.0),
    "thumbs_up": _hand(THUMB_OUT, (1.0, 1.0, 1.0, 1.0), cup=0.3),
    "ok": _hand(THUMB_PINCH, (0.55, 0.0, 0.0, 0.0), spread=0.8),
    "pinch": _hand(THUMB_PINCH, (0.55, 0.45, 0.5, 0.55), cup=0.2),
    "grasp": _hand((0.1, 0.5, 0.3, 0.3), (0.55, 0.6, 0.65, 0.7), cup=0.3),
    "claw": _hand((0.3, 0.3, 0.1, 0.6), (0.25, 0.25, 0.25, 0.25), spread=0.6),
    "rock": _hand(THUMB_TUCK, (0.0, 1.0, 1.0, 0.0), spread=0.8),
    "call": _hand(THUMB_OUT, (1.0, 1.0, 1.0, 0.0), cup=0.2),
}
# Claw: straight MCPs, bent PIP/DIP.
for _f in range(4):
    POSE_LIBRARY["claw"][5 + 4 * _f] = 0.1
    POSE_LIBRARY["claw"][6 + 4 * _f] = 1.3
    POSE_LIBRARY["claw"][7 + 4 * _f] = 1.0
COUNT_POSES = ("fist", "point", "two", "three", "four", "open")


def sample_pose(rng: np.random.Generator, p_uniform: float = 0.35) -> np.ndarray:
    """A random pose (POSE_DIM,) radians: with probability p_uniform uniform within the limits
    (with a shared per-finger curl so that joints of one finger move together, as real fingers
    do), else a library pose (grasp / point / count / ...) plus Gaussian noise; always clipped."""
    if rng.random() < p_uniform:
        v = rng.uniform(POSE_LO, POSE_HI)
        curl = rng.uniform(0.0, 1.0, size=4)
        mix = rng.uniform(0.3, 1.0)
        for f in range(4):
            lo, hi = POSE_LO[5 + 4 * f: 8 + 4 * f], POSE_HI[5 + 4 * f: 8 + 4 * f]
            coupled = lo + curl[f] * (hi - lo)
            v[5 + 4 * f: 8 + 4 * f] = mix * coupled + (1 - mix) * v[5 + 4 * f: 8 + 4 * f]
        return np.clip(v, POSE_LO, POSE_HI)
    names = sorted(POSE_LIBRARY)
    v = POSE_LIBRARY[names[rng.integers(len(names))]].copy()
    v += rng.normal(0.0, 0.12, size=POSE_DIM)
    return np.clip(v, POSE_LO, POSE_HI)


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def interpolate_keyframes(keys: list[np.ndarray], t: float, period: float) -> np.ndarray:
    """Smooth cyclic interpolation between key poses: each key lasts `period` seconds; the
    transition uses a smoothstep so joint velocities are zero at the keys. Returns (POSE_DIM,)."""
    n = len(keys)
    x = t / period
    i = int(math.floor(x)) % n
    a = smoothstep((x - math.floor(x)) * 1.6 - 0.3)  # hold each key a little
    return (1.0 - a) * keys[i] + a * keys[(i + 1) % n]
