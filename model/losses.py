"""Reconstruction losses, per sample (B,) so that weak supervision can mask them.

Units: pose and clouds are normalised (root-relative, divided by the middle MCP->PIP bone), so
distances are in bone lengths.
"""

from __future__ import annotations

import torch
from torch import Tensor

from model.emd import AuctionConfig, emd_auction


def pose_loss(pred: Tensor, target: Tensor) -> Tensor:
    """-log p(y | z) up to a constant for a unit-variance Gaussian decoder: the sum of squared
    coordinate errors over the 21 joints. (B, 21, 3), (B, 21, 3) -> (B,)."""
    return (pred - target).pow(2).sum(dim=(1, 2))


def heatmap_loss(pred: Tensor, target: Tensor) -> Tensor:
    """L_heat = sum_j ||H_hat_j - H_j||_2 (Frobenius norm per joint map, summed over joints).
    (B, 21, H, W), (B, 21, H, W) -> (B,)."""
    d2 = (pred - target).pow(2).flatten(2).sum(-1)  # (B, 21)
    return torch.sqrt(d2 + 1e-16).sum(-1)  # eps: finite gradient at 0


def chamfer_distance(a: Tensor, b: Tensor) -> Tensor:
    """Chamfer distance (Yang et al. Eq. 8): mean distance from each point of a to its nearest
    point of b plus the same from b to a (Euclidean, not squared).
    a (B, N, 3), b (B, M, 3) -> (B,).

    Each nearest neighbour is found without gradients and its distance computed again from the
    two points, so the backward pass touches 2 (B, N) pairs instead of the (B, N, M) matrix (the
    gradient is the same as that of the minimum over the matrix)."""
    with torch.no_grad():
        # squared distances by matrix products: fast; their rounding can only swap near-ties
        d = torch.cdist(a.detach().float(), b.detach().float(),
                        compute_mode="use_mm_for_euclid_dist")  # (B, N, M)
        a_to_b = d.argmin(dim=2)  # (B, N): the nearest point of b to each point of a
        b_to_a = d.argmin(dim=1)  # (B, M)
    return (_matched_distance(a, b, a_to_b).mean(dim=1)
            + _matched_distance(b, a, b_to_a).mean(dim=1))


def _matched_distance(a: Tensor, b: Tensor, index: Tensor) -> Tensor:
    """|a_i - b_index(i)|: a (B, N, 3), b (B, M, 3), index (B, N) int64 -> (B, N)."""
    matched = torch.gather(b, 1, index.unsqueeze(-1).expand(-1, -1, b.shape[-1]))
    d2 = (a - matched).pow(2).sum(-1)
    return torch.sqrt(d2.clamp_min(1e-12)) * (d2 > 0)  # zero gradient where a point coincides


def emd_loss(a: Tensor, b: Tensor, config: AuctionConfig | None = None) -> Tensor:
    """Earth Mover's distance (Eq. 9), auction approximation (model.emd). (B, N, 3) x2 -> (B,)."""
    return emd_auction(a, b, config)


def cloud_loss(pred: Tensor, target: Tensor, config: AuctionConfig | None = None) -> Tensor:
    """L_Chamfer + L_EMD. (B, N, 3), (B, N, 3) -> (B,)."""
    return chamfer_distance(pred, target) + emd_loss(pred, target, config)
