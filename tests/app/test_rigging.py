"""app.engine.rigging.TrackRigs: each track keeps its first frame's bone lengths, every hand's
rig reproduces its (new) joints_m, the moves are the bone-length changes only."""

import numpy as np

from app.engine.rigging import TrackRigs
from app.results import HandResult
from model.hand import LEFT, RIGHT
from model.kinematics import Skeleton, forward_kinematics
from model.rig import bone_lengths_of, rig_joints


def _hand(hand_id, side, scale, seed):
    joints, _ = forward_kinematics(np.full(21, 0.3), Skeleton.mean(scale))
    joints = joints + np.random.default_rng(seed).normal(0, 5e-4, (21, 3)) + [0, 0, 0.5]
    return HandResult(hand_id, side, joints, np.zeros((21, 2)), 1.0)


def test_tracks_keep_their_first_bone_lengths():
    rigs = TrackRigs()
    first = [_hand(0, RIGHT, 1.0, 0), _hand(1, LEFT, 0.9, 1)]
    bones0 = [bone_lengths_of(h.joints_m) for h in first]
    rigs.apply(first)
    for h, b in zip(first, bones0):
        np.testing.assert_allclose(h.rig.bone_m, b, atol=1e-7)
    later = [_hand(0, RIGHT, 1.05, 2), _hand(1, LEFT, 0.95, 3)]
    before = [h.joints_m.copy() for h in later]
    rigs.apply(later)
    for h, b, j in zip(later, bones0, before):
        np.testing.assert_allclose(bone_lengths_of(h.joints_m), b, atol=1e-6)  # constant
        np.testing.assert_allclose(rig_joints(h.rig, h.side), h.joints_m, atol=1e-6)
        # the wrist stays where it was: forward kinematics copies it (bit-exact by construction)
        np.testing.assert_array_equal(h.joints_m[0], j[0])
        assert np.abs(h.joints_m - j).max() < 0.02  # moved by the bone changes only (5 %)


def test_gone_tracks_are_forgotten_and_reset_starts_over():
    rigs = TrackRigs()
    rigs.apply([_hand(0, RIGHT, 1.0, 0)])
    rigs.apply([_hand(1, RIGHT, 1.0, 1)])  # track 0 gone
    h = _hand(0, RIGHT, 1.2, 2)  # (ids are never reused; this only shows the state is gone)
    rigs.apply([h])
    np.testing.assert_allclose(h.rig.bone_m, bone_lengths_of(h.joints_m), atol=1e-6)
    rigs.reset()
    h = _hand(0, RIGHT, 0.8, 3)
    b = bone_lengths_of(h.joints_m)
    rigs.apply([h])
    np.testing.assert_allclose(h.rig.bone_m, b, atol=1e-7)
