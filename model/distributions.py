"""Diagonal Gaussians: the (mean, log-variance) heads of the encoders, reparameterised sampling,
the product of Gaussian experts with the prior as an expert, and KL divergences.

A diagonal Gaussian is a pair (mu, logvar), both (B, D).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GaussianHead(nn.Module):
    """Two fully connected heads: features (B, F) -> mu (B, D), logvar (B, D)."""

    def __init__(self, in_dim: int, latent_dim: int):
        super().__init__()
        self.mu = nn.Linear(in_dim, latent_dim)
        self.logvar = nn.Linear(in_dim, latent_dim)
        # Start near the prior's variance scale so that early KL terms are small and finite.
        nn.init.zeros_(self.logvar.bias)
        nn.init.normal_(self.logvar.weight, std=1e-3)

    def forward(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        return self.mu(feat), self.logvar(feat).clamp(-12.0, 8.0)  # (B, D), (B, D)


def reparameterise(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I). (B, D), (B, D) -> (B, D)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def product_of_experts(mus: list[Tensor], logvars: list[Tensor],
                       prior: bool = True) -> tuple[Tensor, Tensor]:
    """Product of diagonal Gaussian experts (Wu & Goodman's MVAE; Yang et al. GProd).

    With precisions T_i = 1 / sigma_i^2 and the prior N(0, I) as an extra expert (T = 1, mu = 0):
    mu = sum_i mu_i T_i / (1 + sum_i T_i), sigma^2 = 1 / (1 + sum_i T_i).
    mus, logvars: lists of (B, D). Returns (mu (B, D), logvar (B, D)).
    """
    if not mus or len(mus) != len(logvars):
        raise ValueError("product_of_experts needs one logvar per mean and at least one expert")
    precision = torch.stack([torch.exp(-lv) for lv in logvars])  # (K, B, D)
    weighted = torch.stack(mus) * precision  # (K, B, D)
    total = precision.sum(0) + (1.0 if prior else 0.0)  # (B, D)
    return weighted.sum(0) / total, -torch.log(total)


def weighted_product_of_experts(mus: list[Tensor], logvars: list[Tensor], weights: list[Tensor],
                                prior_weight: Tensor) -> tuple[Tensor, Tensor]:
    """Product of diagonal Gaussian experts whose precisions are scaled per sample.

    With T_i = w_i / sigma_i^2 and the prior N(0, I) weighted by w_0:
    mu = sum_i mu_i T_i / (w_0 + sum_i T_i), sigma^2 = 1 / (w_0 + sum_i T_i).
    A weight of 0 removes its expert exactly; weights 1 and w_0 = 1 give product_of_experts.
    The mean is computed as sum_i mu_i (T_i / total): when one expert stands alone (w_0 = 0),
    its share T/T is exactly 1 in IEEE arithmetic and the others' exactly 0, so the result is
    that expert's mean bit for bit on every CPU and kernel (a selection, not a rounding).
    mus, logvars: lists of (B, D); weights: list of (B,); prior_weight: (B,). The caller keeps
    the total precision positive (at least one weight > 0). Returns (mu (B, D), logvar (B, D)).
    """
    if not mus or not len(mus) == len(logvars) == len(weights):
        raise ValueError("weighted_product_of_experts needs one logvar and one weight per mean")
    precision = torch.stack([torch.exp(-lv) * w.unsqueeze(-1)
                             for lv, w in zip(logvars, weights)])  # (K, B, D)
    total = precision.sum(0) + prior_weight.unsqueeze(-1)  # (B, D)
    share = precision / total  # (K, B, D), sums to 1 - w_0 / total
    return (torch.stack(mus) * share).sum(0), -torch.log(total)


def fusion_prior_weight(rgb_weight: Tensor, heat_weight: Tensor) -> Tensor:
    """The prior's weight in the run-time fusion of the RGB and 2D experts, (B,) x 2 -> (B,).

    The decoders were trained on the single experts' samples without the prior (z_x, z_H) and
    on products of experts with the prior ({RGB, H}, ...), so the prior joins only when both
    experts do (w_x w_H); with neither it stands alone ((1 - w_x)(1 - w_H)): the prior mean 0.
    For weights in {0, 1}: RGB only -> mu_x, 2D only -> mu_H, both -> GProd(prior, x, H)."""
    return rgb_weight * heat_weight + (1.0 - rgb_weight) * (1.0 - heat_weight)


def kl_normal(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) of diagonal Gaussians, summed over D.
    (B, D) x 4 -> (B,)."""
    var_ratio = torch.exp(logvar_q - logvar_p)
    diff = (mu_q - mu_p) ** 2 * torch.exp(-logvar_p)
    return 0.5 * (var_ratio + diff - 1.0 - (logvar_q - logvar_p)).sum(-1)


def kl_to_prior(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, var) || N(0, I)), summed over D. (B, D), (B, D) -> (B,)."""
    return 0.5 * (torch.exp(logvar) + mu**2 - 1.0 - logvar).sum(-1)
