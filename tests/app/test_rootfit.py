"""Root-depth fit: normalised pose + 2D keypoints -> metric 3D."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.rootfit import DEFAULT_HAND_SIZE_M, MetricConfig, fit_root, project_px
from model.geometry import intrinsics_from_fov


def _hand(rng) -> np.ndarray:
    """A random root-relative hand-sized point set (21, 3) metres, root (index 9) at 0."""
    rel = rng.normal(scale=0.04, size=(21, 3))
    rel[9] = 0.0
    return rel


@pytest.mark.parametrize("seed", range(5))
def test_fit_recovers_the_root_exactly(seed):
    rng = np.random.default_rng(seed)
    K = intrinsics_from_fov(128, 128, 40.0)
    rel = _hand(rng)
    t = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.3, 1.0)])
    fit = fit_root(rel, project_px(rel + t, K), K)
    assert fit.ok
    np.testing.assert_allclose(fit.t_m, t, atol=1e-9)
    assert fit.residual_px < 1e-6


def test_fit_with_noise_and_weights():
    rng = np.random.default_rng(7)
    K = intrinsics_from_fov(128, 128, 40.0)
    rel, t = _hand(rng), np.array([0.01, -0.02, 0.5])
    uv = project_px(rel + t, K) + rng.normal(scale=0.5, size=(21, 2))
    fit = fit_root(rel, uv, K)
    assert abs(fit.t_m[2] - 0.5) < 0.02 and 0.2 < fit.residual_px < 1.5
    # a wild outlier is ignored when its weight is 0
    uv[3] += 60.0
    w = np.ones(21)
    w[3] = 0.0
    assert abs(fit_root(rel, uv, K, w).t_m[2] - 0.5) < 0.02
    assert abs(fit_root(rel, uv, K).t_m[2] - 0.5) > abs(fit_root(rel, uv, K, w).t_m[2] - 0.5)


def test_degenerate_pose_falls_back_to_a_size_based_depth():
    K = intrinsics_from_fov(640, 480, 60.0)
    rel = np.zeros((21, 3))  # a network output collapsed to one point
    uv = np.array([[300.0, 200.0], [400.0, 280.0]] * 10 + [[350.0, 240.0]])
    fit = fit_root(rel, uv, K)
    assert not fit.ok and not np.isfinite(fit.residual_px)
    assert 0.2 < fit.t_m[2] < 2.0  # a hand 100 px wide at 60 deg FOV is about half a metre away
    assert project_px(fit.t_m[None], K)[0] == pytest.approx([350.0, 240.0])


def test_hand_size_is_validated():
    assert MetricConfig().hand_size_m == DEFAULT_HAND_SIZE_M
    with pytest.raises(ValueError, match="metres"):
        MetricConfig(hand_size_m=43.0)  # millimetres by mistake
