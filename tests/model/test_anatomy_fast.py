"""model/anatomy_fast.py: the compiled fit solves fit_hand's problem: analytic derivatives match
finite differences, the start matches fit_hand's, the fits agree with scipy's on noisy hands of
both sides (cold and warm-started), stay within the bounds and are plausible."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from model import anatomy, anatomy_fast
from model.anatomy import FitConfig, fit_hand, plausibility
from model.anatomy_fast import REALTIME_FIT_FAST, fit_hand_fast
from model.hand import LEFT, RIGHT, mirror_x
from model.kinematics import (
    POSE_DIM,
    POSE_HI,
    POSE_LO,
    SHAPE_RANGE,
    ShapeRange,
    forward_kinematics,
)
from train.synth.kinematics import sample_pose
from train.synth.shape import sample_shape

AGREE_M = 2e-4  # fitted joints of the two solvers, mean distance (metres)


@pytest.fixture(scope="module", autouse=True)
def compiled():
    anatomy_fast.warm_up()


def _noisy_hands(n: int, seed: int, noise_m: float = 0.008):
    """n generator hands (21, 3) metres under a random rigid transform with joint noise
    (noise_m, about 0.2 scale bones), alternately left and right, with their sides."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        joints, _ = forward_kinematics(sample_pose(rng), sample_shape(rng).skeleton)
        R = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
        joints = joints @ R.T + rng.normal(0.0, 0.3, 3) + rng.normal(0.0, noise_m, joints.shape)
        side = (LEFT, RIGHT)[k % 2]
        yield (mirror_x(joints) if side == LEFT else joints), side


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(0)
    lo, hi = anatomy_fast._box(SHAPE_RANGE)
    q = rng.uniform(lo + 0.01, hi - 0.01)
    m, dm = np.empty((21, 3)), np.empty((21, 3, anatomy_fast._NQ))
    anatomy_fast._fk_jac(q, m, dm)
    joints, _ = forward_kinematics(q[None, :POSE_DIM], anatomy._skeleton(q[None, POSE_DIM:]))
    assert np.allclose(m, joints[0], atol=1e-12)
    h = 1e-7
    for p in range(anatomy_fast._NQ):
        qp = q.copy()
        qp[p] += h
        mp = np.empty((21, 3))
        anatomy_fast._fk_jac(qp, mp, dm.copy())
        assert np.allclose((mp - m) / h, dm[:, :, p], atol=1e-6), p


def test_start_is_fit_hands_start():
    joints, _ = next(_noisy_hands(1, seed=1))
    pose, shape = anatomy._start_pose(0.3), np.full(20, 1.03)
    x0 = anatomy._start(joints, pose, shape)
    lo, hi = anatomy_fast._box(SHAPE_RANGE)
    m, dm = np.empty((21, 3)), np.empty((21, 3, anatomy_fast._NQ))
    R, t, log_s, q = anatomy_fast._start(joints, pose, shape, lo, hi, m, dm)
    assert np.allclose(R, Rotation.from_rotvec(x0[:3]).as_matrix(), atol=1e-9)
    assert np.allclose(t, x0[3:6], atol=1e-9) and log_s == pytest.approx(x0[6], abs=1e-9)
    assert np.allclose(q, np.clip(x0[7:], lo, hi), atol=1e-12)


def _check(fit, noisy, shape=SHAPE_RANGE):
    """A fit's invariants: bounds, plausibility, consistent rms/displacement/rotation."""
    eps = 1e-9
    assert np.all(fit.pose >= POSE_LO - eps) and np.all(fit.pose <= POSE_HI + eps)
    lo, hi = anatomy_fast._box(shape)
    assert np.all(fit.shape_factors >= lo[POSE_DIM:] - eps)
    assert np.all(fit.shape_factors <= hi[POSE_DIM:] + eps)
    p = plausibility(fit.joints)
    assert p["bones_ok"] and p["bends_ok"], p
    assert np.allclose(fit.displacement, np.linalg.norm(fit.joints - noisy, axis=1))
    assert fit.rms == pytest.approx(np.sqrt(np.mean(fit.displacement ** 2)))
    assert np.allclose(fit.rotation @ fit.rotation.T, np.eye(3), atol=1e-9)


def test_cold_fits_agree_with_fit_hand_on_both_sides():
    diffs = []
    for noisy, side in _noisy_hands(6, seed=2):
        ref = fit_hand(noisy, side)
        fit = fit_hand_fast(noisy, side)
        _check(fit, noisy)
        assert fit.skeleton.phalanx.shape == ref.skeleton.phalanx.shape == (1, 5, 3)
        diffs.append(np.linalg.norm(fit.joints - ref.joints, axis=1).mean())
        assert fit.rms <= ref.rms * 1.01, (side, fit.rms, ref.rms)
    assert np.median(diffs) < AGREE_M, diffs


def test_warm_started_fits_agree_and_keep_the_shape():
    """A hand moving over 8 frames (the engine's use: the mean shape, held), each fit
    warm-started from the previous one of the same solver."""
    rng = np.random.default_rng(3)
    shape = sample_shape(rng).skeleton
    a, b = sample_pose(rng), sample_pose(rng)
    R = Rotation.random(random_state=3).as_matrix()
    diffs, ref, fit = [], None, None
    for side in (RIGHT, LEFT):
        ref = fit = None
        for k in range(8):
            joints, _ = forward_kinematics(a + (b - a) * k / 7, shape)
            noisy = joints @ R.T + rng.normal(0.0, 0.004, joints.shape)
            noisy = mirror_x(noisy) if side == LEFT else noisy
            ref = fit_hand(noisy, side, FitConfig(max_nfev=100, free_shape=False), init=ref)
            prev = fit
            fit = fit_hand_fast(noisy, side, REALTIME_FIT_FAST, init=prev)
            _check(fit, noisy)
            if prev is not None:
                assert np.allclose(fit.shape_factors, prev.shape_factors, atol=1e-12)
            diffs.append(np.linalg.norm(fit.joints - ref.joints, axis=1).mean())
    assert np.mean(diffs) < AGREE_M, diffs


def test_bounds_hold_on_very_noisy_input_and_a_narrow_shape_range():
    narrow = FitConfig(shape=ShapeRange(phalanx=0.01, mcp_y=0.01, width=0.01))
    for noisy, side in _noisy_hands(4, seed=4, noise_m=0.02):
        _check(fit_hand_fast(noisy, side), noisy)
        _check(fit_hand_fast(noisy, side, narrow), noisy, narrow.shape)


def test_several_starts_keep_the_best():
    noisy, side = next(_noisy_hands(1, seed=5))
    one = fit_hand_fast(noisy, side, FitConfig(starts=(0.3,)))
    three = fit_hand_fast(noisy, side, FitConfig(starts=(0.0, 0.3, 0.6)))
    assert three.rms <= one.rms * (1 + 1e-6)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(21, 3\)"):
        fit_hand_fast(np.zeros((20, 3)))
    bad = np.zeros((21, 3))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_hand_fast(bad)


def test_a_cold_fit_with_the_mean_shape_holds_it_in_both_solvers():
    """FitConfig(free_shape=False), the engine's: no previous fit, yet the bone ratios stay the
    mean hand's (factors exactly 1) in scipy's fit and the compiled one, which agree."""
    cfg = FitConfig(max_nfev=100, free_shape=False)
    diffs = []
    for noisy, side in _noisy_hands(4, seed=8):
        ref, fit = fit_hand(noisy, side, cfg), fit_hand_fast(noisy, side, cfg)
        for f in (ref, fit):
            assert np.array_equal(f.shape_factors, np.ones_like(f.shape_factors))
        _check(fit, noisy)
        diffs.append(np.linalg.norm(fit.joints - ref.joints, axis=1).mean())
    assert np.mean(diffs) < AGREE_M, diffs
    free = fit_hand_fast(noisy, side, FitConfig(max_nfev=100))
    assert not np.allclose(free.shape_factors, 1.0)  # a free shape does move


def test_warm_up_skips_numbas_blas_probe_and_leaves_np_dot_working():
    """A fresh process: warm_up() loads the solver without importing scipy.linalg (numba's
    import-time BLAS probe is skipped); a function using np.dot still compiles afterwards (its
    own probe runs then and imports scipy's BLAS)."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import sys
from model.anatomy_fast import warm_up
warm_up()
print("after warm-up", "scipy.linalg" in sys.modules)
import numba, numpy as np
dot = numba.njit(lambda a, b: np.dot(a, b))
print("dot", dot(np.ones(3), np.arange(3.0)), "scipy.linalg" in sys.modules)
"""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "after warm-up False"
    assert lines[1] == "dot 3.0 True"
