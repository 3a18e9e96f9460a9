"""Training batches of the 2D expert without rendering: random hands (scene.py) seen by a
detector (noise.py), cropped and drawn as heat maps exactly as the engine does (crops.py).

    gen = SampleGenerator(ProceduralConfig(), seed=0)
    batch = gen.batch(256)   # {"heat": (256, 21, 64, 64) float32, "pose": (256, 21, 3), ...}

The same (seed, batch number) always gives the same batch: each batch draws from its own
numpy Generator seeded with (seed, index), so a resumed run continues the stream exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from model.canonical import mirror_keypoints, mirror_points
from model.keypoint_encoder import keypoint_features
from train.data.noise2d import perturb_keypoints
from train.procedural.crops import (
    crop_cameras,
    heatmaps_batch,
    keypoint_boxes,
    normalise_batch,
    transform_batch,
)
from train.procedural.noise import DetectorNoiseConfig, perturb_frame_keypoints
from train.procedural.scene import SceneConfig, sample_hands


@dataclass
class ProceduralConfig:
    """crop_size: S of the engine's crop (the checkpoint's); heatmap_size: M; sigma_px: heat-map
    Gaussian sigma in heat-map px (the checkpoint's heatmap_sigma_px); scene: hands and cameras;
    noise: the detector's errors."""

    crop_size: int = 128
    heatmap_size: int = 64
    sigma_px: float = 2.0
    scene: SceneConfig = field(default_factory=SceneConfig)
    noise: DetectorNoiseConfig = field(default_factory=DetectorNoiseConfig)

    def to_dict(self) -> dict:
        """Plain data (tuples as lists) for a checkpoint's metadata."""
        return asdict(self)


def make_batch(n: int, config: ProceduralConfig, rng: np.random.Generator,
               heat_out: np.ndarray | None = None) -> dict:
    """n samples as numpy arrays: heat (n, 21, M, M) float32, the 2D expert's input; pose
    (n, 21, 3) float32, the target (the hand in the crop camera, normalised); uv_noisy / uv_true
    (n, 21, 2) frame px; uv_crop (n, 21, 2) the noisy keypoints in crop px; kept (n, 21) bool;
    joints_m (n, 21, 3) camera frame; K, R, K_virtual, H (n, 3, 3); box (n, 3) cx, cy, side px;
    scale_m (n,) the middle MCP -> PIP bone; side (n,). heat_out: a (n, 21, M, M) float32
    buffer the heat maps are written into (heatmaps_batch)."""
    c = config
    hands = sample_hands(n, c.scene, rng)
    uv_noisy, kept = perturb_frame_keypoints(hands.uv_px, c.noise, rng)
    margin = rng.uniform(*c.noise.box_margin, n)
    box = keypoint_boxes(uv_noisy, margin)
    R, Kv, H = crop_cameras(hands.K, box, c.crop_size)
    uv_crop = transform_batch(H, uv_noisy)  # (n, 21, 2) crop px
    heat = heatmaps_batch(uv_crop, c.crop_size, c.heatmap_size, c.sigma_px, kept, heat_out)
    joints_v = np.einsum("bnj,bji->bni", hands.joints_m, R)  # (n, 21, 3) p @ R: crop camera
    pose, scale = normalise_batch(joints_v)
    return {"heat": heat, "pose": pose.astype(np.float32), "uv_noisy": uv_noisy,
            "uv_true": hands.uv_px, "uv_crop": uv_crop, "kept": kept, "joints_m": hands.joints_m,
            "K": hands.K, "R": R, "K_virtual": Kv, "H": H, "box": box, "scale_m": scale,
            "side": hands.side}


def make_keypoint_batch(n: int, config: ProceduralConfig, rng: np.random.Generator,
                        crop_noise=None, p_crop_noise: float = 0.0,
                        canonical: bool = True) -> dict:
    """n samples for the coordinate 2D expert (model/keypoint_encoder.py), no heat maps drawn:
    features (n, 21, 3) float32, what its soft-argmax reads from the heat maps of the noisy
    keypoints (keypoint_features); pose (n, 21, 3) float32 the normalised hand in the crop
    camera; scale_m (n,); side (n,). Two noise models: the detector's (config.noise, in the
    frame, the crop from the noisy keypoints, as the engine crops) and, for a share p_crop_noise
    of the samples, crop_noise (a train.data.noise2d.Noise2DConfig: in the crop, the crop from
    the true keypoints at the data sets' margin 1.5 x U[1, 1.2], as the evaluation does).
    canonical: left hands mirrored into right hands (model/canonical.py), features and pose."""
    c = config
    S = c.crop_size
    hands = sample_hands(n, c.scene, rng)
    uv_noisy, kept = perturb_frame_keypoints(hands.uv_px, c.noise, rng)
    margin = rng.uniform(*c.noise.box_margin, n)
    in_crop = (rng.random(n) < p_crop_noise) if crop_noise is not None else np.zeros(n, bool)
    src = np.where(in_crop[:, None, None], hands.uv_px, uv_noisy)
    margin = np.where(in_crop, 1.5 * rng.uniform(1.0, 1.2, n), margin)
    box = keypoint_boxes(src, margin)
    R, Kv, H = crop_cameras(hands.K, box, S)
    uv_crop = transform_batch(H, uv_noisy)  # (n, 21, 2) crop px
    if in_crop.any():
        true_crop = transform_batch(H, hands.uv_px)
        for i in np.flatnonzero(in_crop):
            uv_crop[i], kept[i] = perturb_keypoints(true_crop[i], S, crop_noise, rng)
    joints_v = np.einsum("bnj,bji->bni", hands.joints_m, R)  # (n, 21, 3) crop camera
    pose, scale = normalise_batch(joints_v)
    if canonical:
        left = hands.side == 0
        uv_crop = mirror_keypoints(uv_crop, left, S)
        pose = mirror_points(pose, left)
    feats = keypoint_features(uv_crop, kept, S, c.heatmap_size, c.sigma_px)
    return {"features": feats, "pose": pose.astype(np.float32),
            "scale_m": scale.astype(np.float32), "side": hands.side, "uv_crop": uv_crop,
            "kept": kept}


class SampleGenerator:
    """An endless, reproducible stream of batches: batch(n, index) is make_batch with a
    Generator seeded by (seed, index); index None = the next one (self.index counts them).
    reuse: write the heat maps of every batch into one buffer (each batch's "heat" is then
    valid until the next call)."""

    def __init__(self, config: ProceduralConfig, seed: int = 0, index: int = 0,
                 reuse: bool = False):
        self.config = config
        self.seed = int(seed)
        self.index = int(index)
        self.reuse = reuse
        self._heat: np.ndarray | None = None

    def batch(self, n: int, index: int | None = None) -> dict:
        if index is None:
            index, self.index = self.index, self.index + 1
        out = None
        if self.reuse:
            M = self.config.heatmap_size
            if self._heat is None or self._heat.shape[0] != n:
                self._heat = np.empty((n, 21, M, M), np.float32)
            out = self._heat
        return make_batch(n, self.config, np.random.default_rng((self.seed, int(index))), out)
