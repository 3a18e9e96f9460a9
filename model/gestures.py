"""Per-frame interaction measures of one hand: pinch, grab, palm frame, finger extension.

Pure functions of the 21 joints (no state; the debounced gestures and events are in
app/engine/gestures.py). Every measure is scale-free: distances are divided by the hand size,
the wrist -> middle MCP distance (about 0.09 m for an adult).

Fingers are numbered 0 thumb, 1 index, 2 middle, 3 ring, 4 little (model.hand.Joint order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.hand import RIGHT, Joint

FINGER_NAMES = ("thumb", "index", "middle", "ring", "little")
TIPS = (Joint.THUMB_TIP, Joint.INDEX_TIP, Joint.MIDDLE_TIP, Joint.RING_TIP, Joint.LITTLE_TIP)
# Each finger's chain from the wrist: the bends between consecutive bones measure its curl.
_CHAINS = tuple((0,) + tuple(range(1 + 4 * f, 5 + 4 * f)) for f in range(5))
_PALM = (Joint.WRIST, Joint.INDEX_MCP, Joint.MIDDLE_MCP, Joint.RING_MCP, Joint.LITTLE_MCP)


@dataclass(frozen=True)
class MeasureConfig:
    """Mapping of the raw geometry to 0..1 strengths.

    pinch_near / pinch_far: thumb tip to fingertip distance, in hand sizes, of a full (1) and
    of no (0) pinch; linear between. curl_full_rad: total bend of a long finger (MCP + PIP +
    DIP, radians) that counts as fully curled (1). thumb_full_rad: the same for the thumb's MCP
    + IP bend. thumb_reach: thumb tip to index MCP distance, in hand sizes, below which a
    straight thumb still counts as tucked (curl 1 at 0, no extra curl above it)."""

    pinch_near: float = 0.25
    pinch_far: float = 0.80
    curl_full_rad: float = 3.2
    thumb_full_rad: float = 1.4
    thumb_reach: float = 0.55


@dataclass
class HandMeasures:
    """Interaction measures of one hand in one frame (camera frame of the joints).

    pinch: (4,) 0..1, thumb to index, middle, ring, little tip (1 = touching).
    curl: (5,) 0..1 per finger, thumb first (0 straight, 1 fully curled).
    grab: 0..1, mean curl of the four long fingers.
    palm_m: (3,) metres, centre of the wrist and the four MCPs.
    palm_normal: (3,) unit vector out of the palm (the palmar side, where the fingers curl).
    palm_direction: (3,) unit vector from the wrist towards the middle finger's MCP.
    hand_size_m: wrist -> middle MCP distance, metres.
    """

    pinch: np.ndarray
    curl: np.ndarray
    grab: float
    palm_m: np.ndarray
    palm_normal: np.ndarray
    palm_direction: np.ndarray
    hand_size_m: float


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def finger_bends(joints_m: np.ndarray) -> np.ndarray:
    """(21, 3) joints -> (5, 3) bend angles (radians) between consecutive bones of each finger:
    long fingers at MCP, PIP, DIP; the thumb at CMC, MCP, IP."""
    j = np.asarray(joints_m, np.float64)
    chain = j[np.array(_CHAINS)]  # (5, 5, 3)
    bones = _unit(np.diff(chain, axis=1))  # (5, 4, 3)
    cos = np.clip(np.sum(bones[:, :-1] * bones[:, 1:], axis=-1), -1.0, 1.0)  # (5, 3)
    return np.arccos(cos)


def curls(joints: np.ndarray, config: MeasureConfig = MeasureConfig(),
          tucked_thumb: bool = True) -> np.ndarray:
    """(21, D) joints (D = 3 metres, or D = 2 pixels of the 2D landmarks) -> (5,) curls 0..1,
    thumb first, from the bends of each finger. tucked_thumb: the thumb also counts as curled
    when its tip is near the index MCP (3D only: image distances foreshorten)."""
    j = np.asarray(joints, np.float64)
    if j.shape[1] == 2:
        j = np.concatenate([j, np.zeros((len(j), 1))], axis=1)
    bends = finger_bends(j)  # (5, 3)
    curl = np.empty(5)
    curl[1:] = np.clip(bends[1:].sum(axis=1) / config.curl_full_rad, 0.0, 1.0)
    curl[0] = np.clip(bends[0, 1:].sum() / config.thumb_full_rad, 0.0, 1.0)
    if tucked_thumb:
        size = max(float(np.linalg.norm(j[Joint.MIDDLE_MCP] - j[Joint.WRIST])), 1e-6)
        reach = np.linalg.norm(j[Joint.THUMB_TIP] - j[Joint.INDEX_MCP]) / size
        curl[0] = max(curl[0], np.clip(1.0 - reach / config.thumb_reach, 0.0, 1.0))
    return curl


def measure(joints_m: np.ndarray, side: int, mirrored: bool = False,
            config: MeasureConfig = MeasureConfig(),
            uv_px: np.ndarray | None = None) -> HandMeasures:
    """Interaction measures of one hand.

    joints_m: (21, 3) metres, camera frame, model.hand.Joint order. side: model.hand.Side, the
    person's hand. mirrored: the joints are in a mirrored view (a selfie camera): a mirrored
    right hand has a left hand's geometry, so the palm normal's sign flips once more.
    """
    j = np.asarray(joints_m, np.float64)
    if j.shape != (21, 3):
        raise ValueError(f"joints_m must have shape (21, 3), got {j.shape}")
    size = float(np.linalg.norm(j[Joint.MIDDLE_MCP] - j[Joint.WRIST]))
    size_safe = max(size, 1e-6)
    c = config

    d_tip = np.linalg.norm(j[list(TIPS[1:])] - j[Joint.THUMB_TIP], axis=-1) / size_safe  # (4,)
    pinch = np.clip((c.pinch_far - d_tip) / (c.pinch_far - c.pinch_near), 0.0, 1.0)

    curl = curls(j, c)
    if uv_px is not None:
        curl = 0.5 * (curl + curls(uv_px, c, tucked_thumb=False))

    palm = j[list(_PALM)].mean(axis=0)
    direction = _unit(j[Joint.MIDDLE_MCP] - j[Joint.WRIST])
    across = j[Joint.INDEX_MCP] - j[Joint.LITTLE_MCP]  # towards the thumb
    # Right hand (hand frame of model.kinematics): x towards the thumb, y to the fingers,
    # z = x cross y out of the palm. A left hand, or a mirrored right one, is its mirror image.
    right_geometry = (int(side) == RIGHT) != bool(mirrored)
    normal = _unit(np.cross(across, direction)) * (1.0 if right_geometry else -1.0)
    return HandMeasures(pinch=pinch, curl=curl, grab=float(curl[1:].mean()),
                        palm_m=palm, palm_normal=normal, palm_direction=direction,
                        hand_size_m=size)
