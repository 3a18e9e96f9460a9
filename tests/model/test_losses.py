import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from model.emd import AuctionConfig, auction_assignment, emd_auction
from model.losses import chamfer_distance, cloud_loss, heatmap_loss, pose_loss


def test_chamfer_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 17, 3, generator=g), torch.randn(2, 23, 3, generator=g)
    got = chamfer_distance(a, b)
    for k in range(2):
        ab = np.mean([min(np.linalg.norm(p - q) for q in b[k].numpy()) for p in a[k].numpy()])
        ba = np.mean([min(np.linalg.norm(p - q) for q in a[k].numpy()) for p in b[k].numpy()])
        assert got[k].item() == pytest.approx(ab + ba, rel=1e-4)
    assert chamfer_distance(a, a).max() < 1e-4


@pytest.mark.parametrize("n", [8, 64, 200])
def test_emd_auction_close_to_exact_assignment(n):
    g = torch.Generator().manual_seed(n)
    a = torch.randn(3, n, 3, generator=g)
    b = torch.randn(3, n, 3, generator=g) * 0.7 + 0.5
    got = emd_auction(a, b).numpy()
    exact = []
    for k in range(3):
        cost = torch.cdist(a[k].double(), b[k].double()).numpy()
        r, c = linear_sum_assignment(cost)
        exact.append(cost[r, c].mean())
    gap = (got - np.array(exact)) / np.array(exact)
    print(f"EMD auction vs exact, N={n}: relative gap {gap}")
    assert np.all(gap > -1e-5), "a bijection cannot beat the optimal one"
    assert np.all(gap < 2e-3)  # eps_rel = 1e-3 bounds the gap relative to the mean distance


def test_auction_returns_a_permutation_and_exact_on_shuffles():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 50, 3, generator=g)
    perm = torch.randperm(50, generator=g)
    pi = auction_assignment(a.numpy(), a[:, perm].numpy(), AuctionConfig())
    for k in range(2):
        assert sorted(pi[k].tolist()) == list(range(50))
    assert emd_auction(a, a[:, perm]).max() < 1e-4


def test_emd_gradient_pulls_points_together():
    a = torch.randn(1, 32, 3, requires_grad=True)
    b = torch.randn(1, 32, 3)
    emd_auction(a, b).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        emd_auction(a, b[:, :10])


def test_pose_and_heat_losses_known_values():
    pred = torch.zeros(2, 21, 3)
    target = torch.zeros(2, 21, 3)
    target[1, 4] = torch.tensor([1.0, 2.0, 2.0])
    assert pose_loss(pred, target).tolist() == [0.0, 9.0]
    h = torch.zeros(1, 21, 4, 4)
    t = torch.zeros(1, 21, 4, 4)
    t[0, 0, :2, :2] = 1.5  # ||.|| = sqrt(4 * 2.25) = 3
    t[0, 5, 0, 0] = 4.0
    assert heatmap_loss(h, t).item() == pytest.approx(7.0, abs=1e-5)
    c = torch.randn(2, 16, 3)
    assert cloud_loss(c, c).max() < 1e-4


def test_emd_keeps_the_callers_torch_thread_count():
    """numba's first parallel call starts OpenMP, which reset torch.set_num_threads(1) to the
    core count (and made a resumed training differ from a straight one). Fresh interpreter:
    in this one numba may be initialised already."""
    import subprocess
    import sys

    code = ("import torch; from model.emd import emd_auction; torch.get_num_threads(); "
            "torch.set_num_threads(1); "
            "emd_auction(torch.rand(2, 16, 3), torch.rand(2, 16, 3)); "
            "print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"OMP_NUM_THREADS": "2", "PATH": ""},
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == "1"


def test_chamfer_gradient_is_that_of_the_minimum_over_the_distance_matrix():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 40, 3, generator=g, requires_grad=True)
    b = torch.randn(2, 50, 3, generator=g, requires_grad=True)
    chamfer_distance(a, b).sum().backward()
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    d = torch.cdist(a2, b2, compute_mode="donot_use_mm_for_euclid_dist")
    (d.amin(dim=2).mean(dim=1) + d.amin(dim=1).mean(dim=1)).sum().backward()
    assert torch.allclose(a.grad, a2.grad, atol=1e-6)
    assert torch.allclose(b.grad, b2.grad, atol=1e-6)
