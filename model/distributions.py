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


def kl_normal(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) of diagonal Gaussians, summed over D.
    (B, D) x 4 -> (B,)."""
    var_ratio = torch.exp(logvar_q - logvar_p)
    diff = (mu_q - mu_p) ** 2 * torch.exp(-logvar_p)
    return 0.5 * (var_ratio + diff - 1.0 - (logvar_q - logvar_p)).sum(-1)


def kl_to_prior(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, var) || N(0, I)), summed over D. (B, D), (B, D) -> (B,)."""
    return 0.5 * (torch.exp(logvar) + mu**2 - 1.0 - logvar).sum(-1)
