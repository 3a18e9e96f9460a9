"""Detector-like noise on 2D keypoints, for the input of the heat-map expert q(z|H).

At run time the 2D expert sees MediaPipe's landmarks, which are off by a few pixels, sometimes
miss a joint, now and then confuse neighbouring fingers, and sit in a crop whose box is itself a
little off. Training on ground truth with the same kinds of error keeps those inputs in
distribution. Amounts are fractions of the crop side (so they mean the same at 128 and 256 px).

    noisy = perturb_keypoints(uv_crop, crop_size, Noise2DConfig(), rng)
    heat_in = noisy_heatmaps(uv_crop, crop_size, heatmap_size, sigma, config, rng)  # (21, M, M)

Everything is drawn from the numpy Generator passed in: the same seed gives the same noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import heatmaps
from model.config_flags import option
from model.hand import NUM_JOINTS, Joint

# Neighbouring long fingers whose labels a detector may swap: (first joint of a, of b), 4 each.
NEIGHBOUR_FINGERS = ((Joint.INDEX_MCP, Joint.MIDDLE_MCP), (Joint.MIDDLE_MCP, Joint.RING_MCP),
                     (Joint.RING_MCP, Joint.LITTLE_MCP))


@dataclass
class Noise2DConfig:
    """jitter: per-joint Gaussian sigma (fraction of the crop side; 0.02 = 2.6 px at 128 px);
    drop_prob: chance per joint that its map is zeroed (missed joint); swap_prob: chance per
    sample that one pair of neighbouring fingers swaps its 4 keypoints; offset: sigma of a
    whole-hand shift (fraction of the crop side); scale: sigma of a whole-hand log-scale change
    about the keypoints' centre (box-size error)."""

    jitter: float = option(0.02, "per-joint Gaussian sigma ({default:g})", ge=0.0)
    drop_prob: float = option(0.05, "probability a joint's map is zeroed ({default:g})",
                              flag="drop", ge=0.0, le=1.0)
    swap_prob: float = option(0.05, "probability two neighbouring fingers swap ({default:g})",
                              flag="swap", ge=0.0, le=1.0)
    offset: float = option(0.03, "whole-hand shift sigma ({default:g})", ge=0.0)
    scale: float = option(0.05, "whole-hand log-scale sigma ({default:g})", ge=0.0)

    def __post_init__(self) -> None:
        for name in ("jitter", "offset", "scale"):
            if getattr(self, name) < 0:
                raise ValueError(f"Noise2DConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("drop_prob", "swap_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Noise2DConfig.{name} is a probability, got "
                                 f"{getattr(self, name)}")


def perturb_keypoints(uv_px: np.ndarray, crop_size: int, config: Noise2DConfig,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uv_px (21, 2) crop pixels -> (noisy keypoints (21, 2) crop pixels, kept (21,) bool).

    Order: finger swap, whole-hand scale about the centre and offset, per-joint jitter, drops."""
    uv = np.array(uv_px, dtype=np.float64)
    if uv.shape != (NUM_JOINTS, 2):
        raise ValueError(f"uv_px must have shape (21, 2), got {uv.shape}")
    if rng.random() < config.swap_prob:
        a, b = NEIGHBOUR_FINGERS[rng.integers(len(NEIGHBOUR_FINGERS))]
        ia, ib = np.arange(a, a + 4), np.arange(b, b + 4)
        uv[ia], uv[ib] = uv[ib].copy(), uv[ia].copy()
    centre = uv.mean(axis=0)
    s = np.exp(rng.normal(0.0, config.scale))
    shift = rng.normal(0.0, config.offset * crop_size, 2)
    uv = centre + (uv - centre) * s + shift
    uv = uv + rng.normal(0.0, config.jitter * crop_size, uv.shape)
    kept = rng.random(NUM_JOINTS) >= config.drop_prob
    return uv, kept


def noisy_heatmaps(uv_px: np.ndarray, crop_size: int, heatmap_size: int, sigma: float,
                   config: Noise2DConfig, rng: np.random.Generator) -> np.ndarray:
    """uv_px (21, 2) crop pixels -> heat maps (21, M, M) float32 of perturb_keypoints' output
    (heatmaps.encode with sigma in heat-map pixels), dropped joints all zero."""
    uv, kept = perturb_keypoints(uv_px, crop_size, config, rng)
    heat = heatmaps.encode(uv, crop_size, heatmap_size, sigma)
    heat[~kept] = 0.0
    return heat


def noisy_heatmaps_batch(uv_px: np.ndarray, crop_size: int, heatmap_size: int, sigma: float,
                         config: Noise2DConfig, rng: np.random.Generator) -> np.ndarray:
    """(B, 21, 2) crop pixels -> (B, 21, M, M) float32, noisy_heatmaps per sample."""
    uv = np.asarray(uv_px)
    return np.stack([noisy_heatmaps(u, crop_size, heatmap_size, sigma, config, rng) for u in uv])
