"""Keypoint encoder q(z | H): the 2D-keypoint expert as an MLP on 21 keypoint coordinates.

It takes the same input as the heat-map encoder (model/heatmap_encoder.py), the 21 Gaussian heat
maps (B, 21, M, M) of the keypoints in the viewpoint-corrected crop, and reads each keypoint back
by soft-argmax: a heat map is the outer product of two 1D Gaussians, so the centroid of its
column sums is the keypoint's heat-map x (and of its row sums y) whatever the other factor, and
its peak says how much of the Gaussian lies inside the map (about 1 inside, 0 for a dropped or
far-away joint). The features (x_n p, y_n p, p) per joint, x_n and y_n in [-1, 1], go through an
MLP into a GaussianHead. Three small matrix products instead of a convolution stack: this expert
costs microseconds, trains at thousands of samples per second on a CPU core, and its input is
what a detector gives (coordinates), so training data needs no heat maps (keypoint_features).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from model.distributions import GaussianHead
from model.hand import NUM_JOINTS
from model.net_config import NetConfig

FEATURES = 3  # per joint: x_n * peak, y_n * peak, peak


def soft_argmax_features(heat: Tensor) -> Tensor:
    """heat (B, 21, M, M) -> features (B, 21, 3): (x_n p, y_n p, p), x_n = 2 x / (M - 1) - 1 the
    centroid of the column sums (heat-map px, mapped to [-1, 1]), y_n likewise of the row sums,
    p the peak value. A zero map gives (0, 0, 0)."""
    m = heat.shape[-1]
    r = torch.arange(m, dtype=heat.dtype, device=heat.device) * (2.0 / (m - 1)) - 1.0  # (M,)
    cols = heat.sum(dim=-2)  # (B, 21, M): over rows, a function of x
    rows = heat.sum(dim=-1)  # (B, 21, M): over columns, a function of y
    mass = cols.sum(dim=-1).clamp_min(1e-6)  # (B, 21)
    peak = heat.flatten(2).amax(dim=-1)  # (B, 21)
    x = (cols * r).sum(dim=-1) / mass
    y = (rows * r).sum(dim=-1) / mass
    return torch.stack([x * peak, y * peak, peak], dim=-1)


def keypoint_features(uv_crop: np.ndarray, kept: np.ndarray | None, crop_size: int,
                      heatmap_size: int, sigma: float) -> np.ndarray:
    """What soft_argmax_features reads from the heat maps of keypoints uv_crop (B, 21, 2) crop px
    (model.heatmaps.encode, sigma in heat-map px; joints with kept False are zero maps), without
    drawing them: the same centroids and peaks from the two 1D Gaussians. -> (B, 21, 3)
    float32."""
    uv = np.asarray(uv_crop, np.float64)
    m = (uv + 0.5) * (heatmap_size / crop_size) - 0.5  # (B, 21, 2) heat-map px
    r = np.arange(heatmap_size, dtype=np.float64)
    g = np.exp(-((r - m[..., None]) ** 2) / (2.0 * sigma**2))  # (B, 21, 2, M)
    mass = np.maximum(g.sum(axis=-1), 1e-300)  # (B, 21, 2)
    centre = (g * r).sum(axis=-1) / mass * (2.0 / (heatmap_size - 1)) - 1.0  # (B, 21, 2)
    peak = g.max(axis=-1).prod(axis=-1)  # (B, 21)
    if kept is not None:
        peak = peak * np.asarray(kept, np.float64)
    # a map whose Gaussian lies wholly outside reads as zero, as soft_argmax_features' clamp does
    tiny = peak < 1e-12
    out = np.concatenate([centre * peak[..., None], peak[..., None]], axis=-1)
    out[tiny] = 0.0
    return out.astype(np.float32)


class KeypointEncoder(nn.Module):
    """heat (B, 21, M, M) in [0, 1] -> mu (B, D), logvar (B, D): soft_argmax_features, then an
    MLP of three ReLU layers of config.keypoint_hidden units and a GaussianHead.
    forward_features takes the features (B, 21, 3) directly (training without heat maps)."""

    def __init__(self, config: NetConfig):
        super().__init__()
        h = config.keypoint_hidden
        self.mlp = nn.Sequential(
            nn.Linear(NUM_JOINTS * FEATURES, h), nn.ReLU(inplace=True),
            nn.Linear(h, h), nn.ReLU(inplace=True),
            nn.Linear(h, h), nn.ReLU(inplace=True),
        )
        self.head = GaussianHead(h, config.latent_dim)

    def forward_features(self, features: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(self.mlp(features.flatten(1)))  # (B, D), (B, D)

    def forward(self, heat: Tensor) -> tuple[Tensor, Tensor]:
        return self.forward_features(soft_argmax_features(heat))
