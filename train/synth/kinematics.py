"""Pose library of the procedural hand: named poses, random poses and smooth key-pose animation.

The hand model itself (limits, mean hand, forward kinematics) is model/kinematics.py; pose
vectors here are (POSE_DIM,) radians in its layout.
"""

from __future__ import annotations

import math

import numpy as np

from model.kinematics import POSE_DIM, POSE_HI, POSE_LO


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
