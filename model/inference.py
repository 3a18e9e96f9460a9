"""The network the real-time engine runs: RGB crop -> z_mu -> pose (-> cloud).

`HandPoseNet(config, with_cloud)` holds the test-time half of every training strategy: the RGB
encoder's mean and the pose decoder (and the FoldingNet cloud decoder). Its submodule names are
the training model's, so a training checkpoint's state dict loads into it directly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.decoders import CloudDecoder, PoseDecoder
from model.net_config import NetConfig
from model.rgb_encoder import RGBEncoder


class HandPoseNet(nn.Module):
    """forward(rgb (B, 3, S, S) float in [0, 1], RGB) -> (z_mu (B, D), pose (B, 21, 3)) and
    cloud (B, N, 3) as a third output when built with with_cloud=True. Pose and cloud are
    root-relative and divided by the middle MCP->PIP bone length (model.geometry.normalise_pose).
    ImageNet normalisation happens inside, so exported models also take [0, 1] input."""

    def __init__(self, config: NetConfig, with_cloud: bool = False):
        super().__init__()
        self.config = config
        self.with_cloud = with_cloud
        self.rgb_encoder = RGBEncoder(config)
        self.pose_decoder = PoseDecoder(config)
        self.cloud_decoder = CloudDecoder(config) if with_cloud else None

    def forward(self, rgb: Tensor) -> tuple[Tensor, ...]:
        z_mu, _ = self.rgb_encoder(rgb)  # (B, D)
        pose = self.pose_decoder(z_mu)  # (B, 21, 3)
        if self.cloud_decoder is None:
            return z_mu, pose
        return z_mu, pose, self.cloud_decoder(z_mu)  # (B, N, 3)


def build_hand_pose_net(config: NetConfig | None = None, with_cloud: bool = False,
                        seed: int = 0) -> HandPoseNet:
    """A freshly initialised HandPoseNet in eval mode (for tests and benchmarks).
    The weights depend only on `seed`."""
    config = config or NetConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = HandPoseNet(config, with_cloud=with_cloud)
    return net.eval()
