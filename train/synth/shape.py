"""Per-sample hand shape and appearance: bone lengths, finger thickness, skin tone, sleeve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.kinematics import MCP_POS, PHALANX_LEN, SHAPE_RANGE, THUMB_CMC_POS, Skeleton

# Finger radius at the base of the proximal phalanx (thumb, index, middle, ring, little), metres.
FINGER_RADIUS = np.array([0.0108, 0.0092, 0.0095, 0.0089, 0.0079])

# Skin albedos (linear RGB in [0, 1]) from very light to very dark; a tone is interpolated.
SKIN_TONES = np.array([
    [0.93, 0.74, 0.64],
    [0.88, 0.64, 0.52],
    [0.78, 0.53, 0.40],
    [0.64, 0.42, 0.29],
    [0.47, 0.30, 0.20],
    [0.32, 0.20, 0.13],
    [0.22, 0.14, 0.10],
])


@dataclass(frozen=True)
class HandShape:
    """Geometry and colours of one hand.

    skeleton: bone geometry (metres); radius: (5,) finger base radii (metres); palm_width: factor
    on the palm's width; skin_dorsal / skin_palmar / nail: (3,) RGB albedo in [0, 1];
    sleeve: (3,) RGB of the sleeve or None for a bare forearm; sleeve_start_m: distance from the
    wrist where the sleeve begins (metres); forearm: whether a forearm is drawn at all.
    """

    skeleton: Skeleton
    radius: np.ndarray
    palm_width: float
    skin_dorsal: np.ndarray
    skin_palmar: np.ndarray
    nail: np.ndarray
    sleeve: np.ndarray | None
    sleeve_start_m: float
    forearm: bool

    @property
    def scale(self) -> float:
        """Size relative to the mean adult hand (middle-finger MCP distance from the wrist)."""
        return float(np.linalg.norm(self.skeleton.mcp[1]) / np.linalg.norm(MCP_POS[1]))


def skin_tone(x: float) -> np.ndarray:
    """Skin albedo (3,) for x in [0, 1] (0 very light .. 1 very dark)."""
    x = float(np.clip(x, 0.0, 1.0)) * (len(SKIN_TONES) - 1)
    i = min(int(x), len(SKIN_TONES) - 2)
    a = x - i
    return (1 - a) * SKIN_TONES[i] + a * SKIN_TONES[i + 1]


def mean_shape(tone: float = 0.3) -> HandShape:
    """The mean adult hand with a given skin tone, bare forearm (for tests and demos)."""
    return _make(Skeleton.mean(), FINGER_RADIUS.copy(), 1.0, tone, np.zeros(3), None, 0.1, True)


def _make(skel, radius, palm_width, tone, jitter, sleeve, sleeve_start, forearm) -> HandShape:
    dorsal = np.clip(skin_tone(tone) * (1.0 + jitter), 0.02, 1.0)
    palmar = np.clip(dorsal + (np.array([0.97, 0.78, 0.70]) - dorsal) * (0.15 + 0.25 * tone),
                     0.02, 1.0)
    nail = np.clip(0.55 * dorsal + 0.45 * np.array([0.95, 0.80, 0.78]), 0.02, 1.0)
    return HandShape(skel, radius, palm_width, dorsal, palmar, nail, sleeve, sleeve_start, forearm)


def sample_shape(rng: np.random.Generator, p_forearm: float = 0.9) -> HandShape:
    """A random hand: overall size U[0.7, 1.2] of the adult mean, +-6% per bone, thickness
    +-15%, a skin tone across the human range, a sleeve half of the time, a forearm with
    probability p_forearm (the same random draws whatever p_forearm is)."""
    r = SHAPE_RANGE
    s = rng.uniform(*r.size)
    width = rng.uniform(1.0 - r.width, 1.0 + r.width)
    mcp = MCP_POS * s
    mcp[:, 0] *= width
    mcp[:, 1] *= rng.uniform(1.0 - r.mcp_y, 1.0 + r.mcp_y, size=4)
    phal = PHALANX_LEN * s * rng.uniform(1.0 - r.phalanx, 1.0 + r.phalanx,
                                          size=PHALANX_LEN.shape)
    cmc = THUMB_CMC_POS * s
    radius = FINGER_RADIUS * s * rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, size=5)
    tone = rng.uniform(0.0, 1.0)
    jitter = rng.normal(0.0, 0.04, size=3)
    sleeve = None
    if rng.random() < 0.5:
        sleeve = rng.uniform(0.05, 0.9, size=3) * rng.uniform(0.3, 1.0)
    forearm = rng.random() < p_forearm
    return _make(Skeleton(mcp, cmc, phal), radius, width, tone, jitter, sleeve,
                 float(rng.uniform(0.03, 0.12) * s), forearm)
