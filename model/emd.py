"""Earth Mover's distance between equal-size point sets with Bertsekas' auction algorithm
(epsilon scaling), compiled with numba.

EMD(A, B) = min over bijections pi of (1/N) sum_i ||a_i - b_pi(i)|| (Yang et al. Eq. 9). An
exact assignment (Hungarian) is cubic in N. The auction algorithm finds a bijection whose total
cost is within N * eps of the optimum; with epsilon scaling down to eps = eps_rel * (mean
pairwise distance), the mean matched distance is within eps_rel of the exact EMD, relatively
(tested against scipy's linear_sum_assignment in tests/model/test_losses.py).

The assignment is computed on the CPU without gradients (points only are copied, not cost
matrices); the loss is the mean distance between matched points, differentiable in both sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import Tensor


@dataclass
class AuctionConfig:
    eps_rel: float = 1e-3  # final bid increment / mean pairwise distance (bound on the rel. gap)
    eps_start_rel: float = 0.2  # first bid increment / mean pairwise distance
    scaling: float = 0.2  # epsilon multiplier per scaling phase
    max_bids: int = 10_000_000  # safety cap per phase and set


@numba.njit(cache=True)
def _auction_one(a, b, eps_start, eps_final, scaling, max_bids):  # pragma: no cover - numba
    n = a.shape[0]
    cost = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(n):
            dx = a[i, 0] - b[j, 0]
            dy = a[i, 1] - b[j, 1]
            dz = a[i, 2] - b[j, 2]
            cost[i, j] = np.sqrt(dx * dx + dy * dy + dz * dz)
    price = np.zeros(n, dtype=np.float64)
    owner = np.empty(n, dtype=np.int64)  # object j -> person
    assigned = np.empty(n, dtype=np.int64)  # person i -> object
    queue = np.empty(n, dtype=np.int64)
    eps = eps_start
    while True:
        owner[:] = -1
        assigned[:] = -1
        for i in range(n):
            queue[i] = i
        head = 0
        tail = n  # queue of unassigned persons as a ring buffer of size n
        count = n
        bids = 0
        while count > 0 and bids < max_bids:
            i = queue[head % n]
            head += 1
            count -= 1
            best = -1e300
            second = -1e300
            best_j = 0
            for j in range(n):
                v = -cost[i, j] - price[j]
                if v > best:
                    second = best
                    best = v
                    best_j = j
                elif v > second:
                    second = v
            if second < -1e299:
                second = best
            price[best_j] += best - second + eps
            prev = owner[best_j]
            owner[best_j] = i
            assigned[i] = best_j
            if prev >= 0:
                assigned[prev] = -1
                queue[tail % n] = prev
                tail += 1
                count += 1
            bids += 1
        if eps <= eps_final:
            break
        eps = max(eps * scaling, eps_final)
    return assigned


@numba.njit(cache=True, parallel=True)
def _auction_batch(a, b, eps_start, eps_final, scaling, max_bids):  # pragma: no cover - numba
    out = np.empty(a.shape[:2], dtype=np.int64)
    for k in numba.prange(a.shape[0]):
        out[k] = _auction_one(a[k], b[k], eps_start[k], eps_final[k], scaling, max_bids)
    return out


def auction_assignment(a: np.ndarray, b: np.ndarray, config: AuctionConfig | None = None
                       ) -> np.ndarray:
    """Near-optimal bijection between point sets a (B, N, 3) and b (B, N, 3) under Euclidean
    cost. Returns pi (B, N) int64: a[k, i] is matched with b[k, pi[k, i]]."""
    cfg = config or AuctionConfig()
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    # The mean pairwise distance (estimated on up to 64 x 64 pairs) sets the scale of epsilon.
    m = min(a.shape[1], 64)
    scale = np.linalg.norm(a[:, :m, None] - b[:, None, :m], axis=-1).mean(axis=(1, 2))
    scale = np.maximum(scale, 1e-9)  # (B,)
    # numba's first parallel call starts its OpenMP threading layer, which resets the OpenMP
    # thread count torch uses (torch.set_num_threads(1) became 2 here); keep the caller's.
    threads = torch.get_num_threads()
    try:
        return _auction_batch(a, b, cfg.eps_start_rel * scale, cfg.eps_rel * scale,
                              cfg.scaling, cfg.max_bids)
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def emd_auction(a: Tensor, b: Tensor, config: AuctionConfig | None = None) -> Tensor:
    """Approximate EMD (mean matched distance) of a (B, N, 3) and b (B, N, 3) -> (B,).
    Differentiable in a and b (the matching itself is constant)."""
    if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"EMD needs two point sets of the same shape (B, N, 3), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    pi = auction_assignment(a.detach().cpu().numpy(), b.detach().cpu().numpy(), config)
    idx = torch.from_numpy(pi).to(a.device).unsqueeze(-1).expand(-1, -1, 3)  # (B, N, 3)
    matched = torch.gather(b, 1, idx)  # (B, N, 3)
    d2 = (a - matched).pow(2).sum(-1)
    return torch.sqrt(d2.clamp_min(1e-12)).mean(-1)


def pairwise_distance(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances (B, N, 3), (B, M, 3) -> (B, N, M), computed from the differences (no
    |a|^2 + |b|^2 - 2ab cancellation), with a zero gradient where a distance is 0."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
