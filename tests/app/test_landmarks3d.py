"""MediaPipe's world landmarks in the 3D hand: normalisation, the frame they are read in, the
blend with the network's pose, and bad input (NaN, a hand at the border) through the estimator."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.backends import Backend, BackendOutput
from app.engine.estimate import HandEstimator
from app.engine.landmarks3d import LandmarkFusionConfig, blend_target, world_unit
from app.engine.sources import SourceFrame
from app.engine.tracking import Track
from model.geometry import intrinsics_from_fov, normalise_pose, project, rot_x, rot_y
from model.hand import RIGHT, ROOT
from model.kinematics import POSE_DIM, Skeleton, forward_kinematics


def _hand_m(seed: int = 0) -> np.ndarray:
    """(21, 3) metres: a kinematic hand with random flexion, 0.5 m in front of the camera."""
    rng = np.random.default_rng(seed)
    joints, _ = forward_kinematics(rng.uniform(0, 0.6, POSE_DIM), Skeleton.mean())
    return joints @ rot_x(-1.2).T + [0.05, 0.02, 0.5]


def test_world_landmarks_come_in_the_networks_normalisation():
    w = _hand_m() - [0.05, 0.02, 0.5]
    unit = world_unit(w, np.eye(3))
    np.testing.assert_allclose(unit, normalise_pose(w)[0])
    R = rot_y(0.4) @ rot_x(0.2)
    np.testing.assert_allclose(world_unit(w, R, "camera"), world_unit(w @ R, np.eye(3)))
    bad = w.copy()
    bad[5, 1] = np.nan
    assert world_unit(bad, np.eye(3)) is None
    assert world_unit(None, np.eye(3)) is None
    assert world_unit(np.zeros((21, 3)), np.eye(3)) is None  # no scale bone
    assert world_unit(w[:20], np.eye(3)) is None


def test_blend_is_the_weighted_mean_per_joint():
    a, b = np.zeros((21, 3)), np.ones((21, 3))
    np.testing.assert_allclose(blend_target(a, b, 0.25), np.full((21, 3), 0.25))
    assert blend_target(a, None, 1.0) is a and blend_target(a, b, 0.0) is a
    with pytest.raises(ValueError, match="world_weight"):
        LandmarkFusionConfig(world_weight=1.5)
    with pytest.raises(ValueError, match="world_frame"):
        LandmarkFusionConfig(world_frame="sideways")


class _MeanBackend(Backend):
    """Decodes every crop to the same pose (the straight mean hand, normalised)."""

    def __init__(self):
        self.pose = normalise_pose(forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())[0])[0]

    def infer(self, rgb, heat=None, heat_weight=None, rgb_weight=None):
        return BackendOutput(np.repeat(self.pose[None], len(rgb), 0).astype(np.float32))


def _estimate(world, inside=1.0, weight=1.0):
    K = intrinsics_from_fov(640, 480, 60.0)
    truth = _hand_m(1)
    track = Track(0, RIGHT, project(truth, K), world_m=world, inside=inside)
    est = HandEstimator(_MeanBackend(), landmarks=LandmarkFusionConfig(world_weight=weight))
    frame = SourceFrame(np.zeros((480, 640, 3), np.uint8), 0.0, None)
    hands = est.estimate(frame, K, [track], keep=lambda *a: True)
    assert len(hands) == 1 and np.all(np.isfinite(hands[0].joints_m))
    return hands[0].joints_m, truth, est


def _shape_error(a, b) -> float:
    return float(np.abs(normalise_pose(a)[0] - normalise_pose(b)[0]).max())


def test_the_world_landmarks_shape_the_hand_and_bad_ones_are_ignored():
    joints_net, truth, _ = _estimate(None)  # no world landmarks: the network's pose
    world = truth - truth[ROOT]  # perfect world landmarks, read in the camera frame
    joints_w, _, _ = _estimate(world, weight=1.0)
    assert _shape_error(joints_w, truth) < 0.35 * _shape_error(joints_net, truth)
    nan = world.copy()
    nan[7] = np.nan
    joints_nan, _, _ = _estimate(nan)  # NaN landmarks: the network's pose, no crash
    np.testing.assert_allclose(joints_nan, joints_net)
    joints_half, _, _ = _estimate(world, inside=0.5)  # half the hand outside: weighted down
    e_half = _shape_error(joints_half, truth)
    assert _shape_error(joints_w, truth) < e_half < _shape_error(joints_net, truth)


def test_snapped_joints_lie_on_their_landmarks_rays_at_their_depth():
    from app.engine.landmarks3d import snap_to_rays

    K = intrinsics_from_fov(640, 480, 60.0)
    joints = _hand_m(2)
    uv = project(joints, K) + np.random.default_rng(0).normal(0, 3.0, (21, 2))
    snapped = snap_to_rays(joints, uv, K)
    np.testing.assert_allclose(project(snapped, K), uv, atol=1e-9)
    np.testing.assert_allclose(snapped[:, 2], joints[:, 2])


class _CountingBackend(_MeanBackend):
    calls = 0

    def infer(self, rgb, heat=None, heat_weight=None, rgb_weight=None):
        self.calls += 1
        return super().infer(rgb, heat, heat_weight, rgb_weight)


def test_the_network_runs_only_when_its_pose_is_used():
    K = intrinsics_from_fov(640, 480, 60.0)
    truth = _hand_m(1)
    world = truth - truth[ROOT]
    frame = SourceFrame(np.zeros((480, 640, 3), np.uint8), 0.0, None)

    def run(backend, **track):
        est = HandEstimator(backend, landmarks=LandmarkFusionConfig(world_weight=1.0))
        t = Track(0, RIGHT, project(truth, K), **track)
        return est.estimate(frame, K, [t], keep=lambda *a: True)[0].joints_m

    skipped, needed = _CountingBackend(), _CountingBackend()
    needed.has_cloud = True  # a cloud is asked for: the network runs
    np.testing.assert_allclose(run(skipped, world_m=world), run(needed, world_m=world),
                               rtol=0, atol=1e-12)  # the same hand either way
    assert skipped.calls == 0 and needed.calls == 1
    run(skipped, world_m=None)  # no world landmarks: the network's pose is needed
    run(skipped, world_m=world, inside=0.8)  # partly outside the image: blended
    assert skipped.calls == 2
