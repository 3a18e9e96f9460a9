"""A tiny in-memory data set that yields the training sample dict of docs/contracts.md
section 1, for unit tests that must not depend on train/data."""

from __future__ import annotations

import contextlib

import torch
from torch.utils.data import Dataset

from model.net_config import NetConfig


class FakeHandDataset(Dataset):
    """n random but fixed samples (a function of seed and index). Poses are normalised: the root
    (middle MCP, joint 9) is at the origin and the middle MCP->PIP bone has length 1."""

    def __init__(self, n: int = 8, crop_size: int = 32, cloud_points: int = 64,
                 heatmap_size: int = 16, has_depth: bool = True, seed: int = 0):
        self.n, self.crop_size, self.cloud_points = n, crop_size, cloud_points
        self.heatmap_size, self.has_depth, self.seed = heatmap_size, has_depth, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        g = torch.Generator().manual_seed(self.seed * 100_003 + i)
        s, n, h = self.crop_size, self.cloud_points, self.heatmap_size
        pose = torch.randn(21, 3, generator=g) * 2.0
        pose[9] = 0.0
        d = torch.randn(3, generator=g)
        pose[10] = d / d.norm()
        cloud = pose[torch.randint(0, 21, (n,), generator=g)] + 0.3 * torch.randn(n, 3, generator=g)
        uv = torch.rand(21, 2, generator=g) * (s - 1)
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(h), indexing="ij")
        uvh = uv * h / s
        heat = torch.exp(-((xx - uvh[:, 0, None, None]) ** 2 + (yy - uvh[:, 1, None, None]) ** 2)
                         / (2 * 2.0**2))
        K = torch.tensor([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
        return {
            "rgb": torch.rand(3, s, s, generator=g),
            "pose": pose,
            "cloud": cloud if self.has_depth else torch.zeros(n, 3),
            "has_cloud": torch.tensor(self.has_depth),
            "heat": heat.float(),
            "uv_crop": uv,
            "vis": torch.ones(21),
            "K": K,
            "K_virtual": K.clone(),
            "R": torch.eye(3),
            "root_m": torch.tensor([0.0, 0.0, 0.5]),
            "scale_m": torch.tensor(0.03 + 0.01 * (i % 3)),
            "side": torch.tensor(i % 2),
            "index": torch.tensor(i),
        }


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread: the test machines are small and shared, and oversubscribed
    intra-op threads make tiny CPU steps many times slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# The smallest network the strategies and the training loop are tested with.
TINY = NetConfig(crop_size=32, cloud_points=32, heatmap_size=8, fold_hidden=32,
                 heat_channels=32, respel_hidden=16, cloud_feature_dim=32)
