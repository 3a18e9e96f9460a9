"""The network the real-time engine runs (PyTorch): RGB crop (and 2D keypoint heat maps) ->
z_mu -> pose (-> cloud).

`HandPoseNet(config, with_cloud, with_heat)` holds the test-time half of every training strategy:
the RGB encoder's mean and the pose decoder (and the FoldingNet cloud decoder); with_heat adds the
2D-keypoint expert q(z|H) of strategy s4-2d, fused with the RGB expert as a product of experts
whose precisions are scaled per sample (model.distributions.weighted_product_of_experts). Its
submodule names are the training model's, so a training checkpoint's state dict loads into it
directly. Callers import it from model.inference, which loads this module (and torch) only when
the network is asked for.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.decoders import CloudDecoder, PoseDecoder
from model.distributions import fusion_prior_weight, weighted_product_of_experts
from model.heatmap_encoder import build_heat_expert
from model.net_config import NetConfig
from model.rgb_encoder import RGBEncoder


class HandPoseNet(nn.Module):
    """forward(rgb (B, 3, S, S) float in [0, 1], RGB) -> (z_mu (B, D), pose (B, 21, 3)) and
    cloud (B, N, 3) as a third output when built with with_cloud=True. Pose and cloud are
    root-relative and divided by the middle MCP->PIP bone length (model.geometry.normalise_pose).
    ImageNet normalisation happens inside, so exported models also take [0, 1] input.

    With with_heat=True, forward(rgb, heat, heat_weight, rgb_weight) also takes heat maps
    (B, 21, M, M) of the 2D keypoints in the crop and per-sample expert weights (B,) in {0, 1}
    (default 1): z_mu is the mean of the product of the weighted experts (prior weight from
    fusion_prior_weight), so one graph serves RGB only (heat_weight 0: exactly the RGB mean),
    2D only (rgb_weight 0) and RGB + 2D per sample. Without heat the output is the RGB mean."""

    def __init__(self, config: NetConfig, with_cloud: bool = False, with_heat: bool = False):
        super().__init__()
        self.config = config
        self.with_cloud = with_cloud
        self.rgb_encoder = RGBEncoder(config)
        self.pose_decoder = PoseDecoder(config)
        self.cloud_decoder = CloudDecoder(config) if with_cloud else None
        self.heat_encoder = build_heat_expert(config) if with_heat else None

    def fused_posterior(self, rgb: Tensor, heat: Tensor, heat_weight: Tensor | None = None,
                        rgb_weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(mu (B, D), logvar (B, D)) of the weighted product of the RGB and 2D experts."""
        if self.heat_encoder is None:
            raise ValueError("this network has no heat-map encoder (2D expert); train with "
                             "--strategy s4-2d or call forward(rgb) without heat")
        q_x = self.rgb_encoder(rgb)  # (B, D) x 2
        q_h = self.heat_encoder(heat)  # (B, D) x 2
        ones = torch.ones(rgb.shape[0], dtype=rgb.dtype, device=rgb.device)
        w_h = ones if heat_weight is None else heat_weight.to(rgb.dtype)  # (B,)
        w_x = ones if rgb_weight is None else rgb_weight.to(rgb.dtype)  # (B,)
        return weighted_product_of_experts([q_x[0], q_h[0]], [q_x[1], q_h[1]], [w_x, w_h],
                                           fusion_prior_weight(w_x, w_h))

    def forward(self, rgb: Tensor, heat: Tensor | None = None, heat_weight: Tensor | None = None,
                rgb_weight: Tensor | None = None) -> tuple[Tensor, ...]:
        if heat is None:
            z_mu, _ = self.rgb_encoder(rgb)  # (B, D)
        else:
            z_mu, _ = self.fused_posterior(rgb, heat, heat_weight, rgb_weight)  # (B, D)
        pose = self.pose_decoder(z_mu)  # (B, 21, 3)
        if self.cloud_decoder is None:
            return z_mu, pose
        return z_mu, pose, self.cloud_decoder(z_mu)  # (B, N, 3)


class HeatExpertNet(nn.Module):
    """The 2D expert's half of a fused HandPoseNet (shares its modules): forward(heat
    (B, 21, M, M), heat_weight (B,)) -> (z_mu (B, D), pose (B, 21, 3)), exactly the fused
    network's output with rgb_weight 0 (the RGB expert's precision is then 0, so its terms are
    zeros here), without running the RGB encoder: what --fuse 2d needs (and ONNX exports as
    NAME.2d.onnx)."""

    def __init__(self, net: HandPoseNet):
        super().__init__()
        if net.heat_encoder is None:
            raise ValueError("this network has no heat-map encoder (2D expert)")
        self.heat_encoder = net.heat_encoder
        self.pose_decoder = net.pose_decoder

    def forward(self, heat: Tensor, heat_weight: Tensor) -> tuple[Tensor, Tensor]:
        mu_h, logvar_h = self.heat_encoder(heat)  # (B, D) x 2
        w_h = heat_weight.to(mu_h.dtype)  # (B,)
        zero = torch.zeros_like(mu_h)
        w_x = torch.zeros_like(w_h)
        z_mu, _ = weighted_product_of_experts([zero, mu_h], [zero, logvar_h], [w_x, w_h],
                                              fusion_prior_weight(w_x, w_h))
        return z_mu, self.pose_decoder(z_mu)


def build_hand_pose_net(config: NetConfig | None = None, with_cloud: bool = False,
                        seed: int = 0, with_heat: bool = False) -> HandPoseNet:
    """A freshly initialised HandPoseNet in eval mode (for tests and benchmarks).
    The weights depend only on `seed`."""
    config = config or NetConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = HandPoseNet(config, with_cloud=with_cloud, with_heat=with_heat)
    return net.eval()
