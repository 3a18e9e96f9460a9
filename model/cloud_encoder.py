"""Point-cloud encoder q(z | C): ResPEL (Li & Lee, CVPR 2019) built from its description,
since no public code exists.

A permutation-equivariant layer (Deep Sets) maps every point with shared weights and subtracts
a transform of the max over points: PEL(x) = Gamma(x) - Lambda(max_n x). A residual block is
x + PEL(ReLU(PEL(ReLU(x)))). After the blocks a symmetric max pool gives one feature vector per
cloud. Hidden width: NetConfig.respel_hidden (the paper halves ResPEL's hidden units).
"""

from __future__ import annotations

from torch import Tensor, nn

from model.distributions import GaussianHead
from model.net_config import NetConfig


class PEL(nn.Module):
    """(B, N, C_in) -> (B, N, C_out), equivariant to permutations of the N points."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.gamma = nn.Linear(c_in, c_out)
        self.lam = nn.Linear(c_in, c_out, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.gamma(x) - self.lam(x.amax(dim=1, keepdim=True))  # (B, N, C_out)


class ResPELBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.pel1 = PEL(c, c)
        self.pel2 = PEL(c, c)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pel2(self.act(self.pel1(self.act(x))))  # (B, N, C)


class ResPEL(nn.Module):
    """Point cloud (B, N, 3) -> permutation-invariant feature (B, F)."""

    def __init__(self, config: NetConfig):
        super().__init__()
        h = config.respel_hidden
        self.inp = PEL(3, h)
        self.blocks = nn.Sequential(*[ResPELBlock(h) for _ in range(config.respel_blocks)])
        self.out = nn.Sequential(nn.ReLU(), nn.Linear(h, config.cloud_feature_dim), nn.ReLU())

    def forward(self, cloud: Tensor) -> Tensor:
        x = self.blocks(self.inp(cloud))  # (B, N, H)
        return self.out(x.amax(dim=1))  # (B, F)


class CloudEncoder(nn.Module):
    """q(z | C): ResPEL features -> mean / log-variance. cloud (B, N, 3) -> ((B, D), (B, D))."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.trunk = ResPEL(config)
        self.head = GaussianHead(config.cloud_feature_dim, config.latent_dim)

    def features(self, cloud: Tensor) -> Tensor:
        return self.trunk(cloud)  # (B, F)

    def forward(self, cloud: Tensor) -> tuple[Tensor, Tensor]:
        return self.head(self.trunk(cloud))
