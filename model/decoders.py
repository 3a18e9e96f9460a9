"""Decoders p(. | z): 3D pose (4 FC layers), heat maps (DC-GAN generator) and point cloud
(FoldingNet: a 2D grid folded twice by MLPs conditioned on z)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.hand import NUM_JOINTS
from model.net_config import NetConfig


class PoseDecoder(nn.Module):
    """z (B, D) -> normalised root-relative pose (B, 21, 3). Four FC layers, 128 hidden units."""

    def __init__(self, config: NetConfig):
        super().__init__()
        h = config.pose_hidden
        self.net = nn.Sequential(
            nn.Linear(config.latent_dim, h), nn.ReLU(inplace=True),
            nn.Linear(h, h), nn.ReLU(inplace=True),
            nn.Linear(h, h), nn.ReLU(inplace=True),
            nn.Linear(h, NUM_JOINTS * 3),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, NUM_JOINTS, 3)  # (B, 21, 3)


class HeatmapDecoder(nn.Module):
    """z (B, D) -> 21 heat maps (B, 21, H, H), DC-GAN style: FC to (C, 4, 4), then transposed
    convolutions (x2 each) with BatchNorm + ReLU, channels halved at each step."""

    def __init__(self, config: NetConfig):
        super().__init__()
        c = config.heat_channels
        self.c0 = c
        self.fc = nn.Sequential(nn.Linear(config.latent_dim, c * 16), nn.BatchNorm1d(c * 16),
                                nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(config.heatmap_size // 4))):
            c_out = max(c // 2, 16)
            layers += [nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c = c_out
        layers.append(nn.Conv2d(c, NUM_JOINTS, 3, padding=1))
        self.up = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        x = self.fc(z).view(-1, self.c0, 4, 4)  # (B, C, 4, 4)
        return self.up(x)  # (B, 21, H, H)


def folding_grid(n: int) -> Tensor:
    """A rows x cols grid in [-1, 1]^2 with rows * cols == n, rows the largest divisor of n not
    above sqrt(n). Returns (n, 2)."""
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    cols = n // rows
    ys = torch.linspace(-1.0, 1.0, rows) if rows > 1 else torch.zeros(1)
    xs = torch.linspace(-1.0, 1.0, cols)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)


def _fold_mlp(in_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 3))


class CloudDecoder(nn.Module):
    """FoldingNet: z (B, D) -> point cloud (B, N, 3). Fold 1 maps [z, grid] -> 3D, fold 2 maps
    [z, fold 1] -> 3D. Both folds are residual (fold 1 starts from the grid lifted to the z = 0
    plane, fold 2 refines fold 1), so the untrained decoder already spreads its points instead
    of collapsing them, which shortens the slow start of Chamfer/EMD training."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.register_buffer("grid", folding_grid(config.cloud_points), persistent=False)
        self.fold1 = _fold_mlp(config.latent_dim + 2, config.fold_hidden)
        self.fold2 = _fold_mlp(config.latent_dim + 3, config.fold_hidden)

    def forward(self, z: Tensor) -> Tensor:
        grid = self.grid.unsqueeze(0)  # (1, N, 2)
        lifted = torch.cat([grid, torch.zeros_like(grid[..., :1])], dim=-1)  # (1, N, 3)
        p1 = lifted + _fold(self.fold1, z, grid)  # (B, N, 3)
        return p1 + _fold(self.fold2, z, p1)  # (B, N, 3)


def _fold(mlp: nn.Sequential, z: Tensor, points: Tensor) -> Tensor:
    """mlp([z, p]) for every point p: z (B, D), points (B or 1, N, k) -> (B, N, 3).

    The first layer's product splits into W_z z + W_p p + b: the latent part is computed once
    per sample instead of once per point (the same function and the same weights as applying
    the layer to the concatenation)."""
    first = mlp[0]
    d = z.shape[-1]
    h = F.linear(points, first.weight[:, d:], first.bias)  # (B or 1, N, H)
    h = h + F.linear(z, first.weight[:, :d]).unsqueeze(1)  # (B, N, H)
    return mlp[1:](h)
