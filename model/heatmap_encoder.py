"""Heat-map encoder q(z | H): 21 keypoint heat maps -> mean / log-variance of the latent.

The 2D-keypoint expert of the product of experts: at run time its input is MediaPipe's
21 landmarks drawn as Gaussian heat maps in the viewpoint-corrected crop, during training the
ground-truth keypoints with detector-like noise (train/data/noise2d.py).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from model.distributions import GaussianHead
from model.hand import NUM_JOINTS
from model.net_config import NetConfig


class HeatmapEncoder(nn.Module):
    """heat (B, 21, M, M) in [0, 1] -> mu (B, D), logvar (B, D), M = config.heatmap_size.

    A 3x3 convolution to heat_enc_channels, then strided 3x3 convolutions (x1/2 each, channels
    doubled up to 256) down to 4x4, flattened into a GaussianHead. No normalisation layers, so a
    sample's output does not depend on the rest of the batch (all-zero maps of samples without
    2D input do not disturb the others)."""

    def __init__(self, config: NetConfig):
        super().__init__()
        c = config.heat_enc_channels
        layers: list[nn.Module] = [nn.Conv2d(NUM_JOINTS, c, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(int(math.log2(config.heatmap_size // 4))):
            c_out = min(c * 2, 256)
            layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            c = c_out
        self.net = nn.Sequential(*layers)
        self.head = GaussianHead(c * 16, config.latent_dim)

    def forward(self, heat: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(self.net(heat).flatten(1))  # (B, D), (B, D)


def build_heat_expert(config: NetConfig) -> nn.Module:
    """The 2D expert q(z|H) that config.heat_expert names: HeatmapEncoder ("conv") or
    model.keypoint_encoder.KeypointEncoder ("coords"); both map (B, 21, M, M) -> (mu, logvar)."""
    if config.heat_expert == "coords":
        from model.keypoint_encoder import KeypointEncoder

        return KeypointEncoder(config)
    return HeatmapEncoder(config)
