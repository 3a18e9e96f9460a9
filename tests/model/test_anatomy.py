"""model/anatomy.py: plausibility checks with known answers; the kinematic fit recovers generator
hands exactly, makes corrupted ones plausible and moves them towards the truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from model.anatomy import HINGES, fit_hand, plausibility
from model.hand import LEFT, RIGHT, mirror_x
from model.kinematics import POSE_DIM, Skeleton, forward_kinematics
from train.synth.kinematics import sample_pose
from train.synth.shape import sample_shape


def _random_hands(n: int, seed: int):
    """n generator hands (21, 3) under a random similarity transform, with their sides."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        joints, _ = forward_kinematics(sample_pose(rng), sample_shape(rng).skeleton)
        R = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
        joints = rng.uniform(5.0, 30.0) * joints @ R.T + rng.normal(0.0, 1.0, 3)
        side = (LEFT, RIGHT)[k % 2]
        yield (mirror_x(joints) if side == LEFT else joints), side


def test_generator_hands_are_plausible_and_broken_ones_are_not():
    rng = np.random.default_rng(0)
    for _ in range(5):
        joints, _ = forward_kinematics(sample_pose(rng), Skeleton.mean(1.1))
        p = plausibility(joints)
        # cupping moves the ring and little MCPs a little
        assert p["bones_ok"] and p["bends_ok"] and p["bone_dev"] < 0.01
    joints, _ = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    long = joints.copy()
    long[8] = long[7] + 2.0 * (long[8] - long[7])  # index distal phalanx twice as long
    p = plausibility(long)
    assert not p["bones_ok"] and p["bone_dev"] == pytest.approx(1.0) and p["bends_ok"]
    bent = joints.copy()
    j = HINGES[3]  # middle finger PIP (10): fold the rest of the finger back on itself
    bent[j + 1:j + 3] = bent[j] - (bent[j + 1:j + 3] - bent[j])
    assert not plausibility(bent)["bends_ok"]


def test_fit_recovers_generator_hands_of_either_side():
    for joints, side in _random_hands(6, seed=1):
        size = np.linalg.norm(joints[10] - joints[9])  # the scale bone
        fit = fit_hand(joints, side)
        assert fit.joints.shape == (21, 3) and fit.displacement.shape == (21,)
        assert fit.displacement.max() < 0.05 * size, (side, fit.displacement.max() / size)
        assert fit.rms == pytest.approx(np.sqrt(np.mean(fit.displacement ** 2)))
        assert np.allclose(fit.rotation @ fit.rotation.T, np.eye(3))


def test_fit_makes_corrupted_hands_plausible_and_moves_them_towards_the_truth():
    rng = np.random.default_rng(2)
    before, after = [], []
    for truth, side in _random_hands(6, seed=3):
        size = np.linalg.norm(truth[10] - truth[9])
        noisy = truth + rng.normal(0.0, 0.25 * size, truth.shape)  # like a poor decoder
        assert not plausibility(noisy)["bones_ok"]
        fit = fit_hand(noisy, side)
        p = plausibility(fit.joints)
        assert p["bones_ok"] and p["bends_ok"], p
        assert np.allclose(fit.displacement, np.linalg.norm(fit.joints - noisy, axis=1))
        before.append(np.linalg.norm(noisy - truth, axis=1).mean() / size)
        after.append(np.linalg.norm(fit.joints - truth, axis=1).mean() / size)
    assert np.mean(after) < 0.8 * np.mean(before), (np.mean(after), np.mean(before))


def test_the_wrong_side_fits_worse():
    joints, side = next(_random_hands(1, seed=4))
    right = fit_hand(joints, side)
    wrong = fit_hand(joints, RIGHT if side == LEFT else LEFT)
    assert wrong.rms > 10 * right.rms


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(21, 3\)"):
        fit_hand(np.zeros((20, 3)))
    bad = np.zeros((21, 3))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_hand(bad)
