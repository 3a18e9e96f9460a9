"""A right-hands-only network (canonical_side) in the estimator: a hand that appears as a left
hand goes in mirrored and its pose comes back mirrored; right hands go in as they are."""

from __future__ import annotations

import numpy as np

from app.engine.backends import Backend, BackendOutput
from app.engine.estimate import HandEstimator
from app.engine.landmarks3d import LandmarkFusionConfig
from app.engine.sources import SourceFrame
from app.engine.tracking import Track
from model.geometry import intrinsics_from_fov, project, rot_x
from model.hand import LEFT, RIGHT
from model.kinematics import POSE_DIM, Skeleton, forward_kinematics


class _Recorder(Backend):
    """Returns a fixed pose (x of joint 4 = +1) and keeps what it was given."""

    crop_size = 32
    has_heat = True
    heatmap_size = 16
    canonical_side = True

    def __init__(self):
        self.rgb, self.heat = [], []

    def infer(self, rgb, heat=None, heat_weight=None, rgb_weight=None):
        self.rgb.append(np.array(rgb))
        self.heat.append(None if heat is None else np.array(heat))
        pose = np.zeros((len(rgb), 21, 3), np.float32)
        pose[:, 4, 0] = 1.0
        return BackendOutput(pose)


def test_left_hands_go_in_mirrored_and_come_back_mirrored(monkeypatch):
    K = intrinsics_from_fov(320, 240, 60.0)
    joints, _ = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    uv = project(joints @ rot_x(-1.2).T + [0.0, 0.0, 0.5], K)
    rgb = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    frame = SourceFrame(rgb, 0.0, None)
    seen = {}

    def run(side, mirrored, canonical=True):
        be = _Recorder()
        be.canonical_side = canonical
        est = HandEstimator(be, fuse="rgb+2d", landmarks=LandmarkFusionConfig(world_weight=0.0))
        seen.clear()

        def place(pose, *rest):  # the decoded pose the estimator goes on with
            seen["pose"] = pose
            return None, 0.0

        monkeypatch.setattr(est, "_place", place)
        est.estimate(frame, K, [Track(0, side, uv)], keep=lambda *a: True, mirrored=mirrored)
        return be.rgb[0][0], be.heat[0][0], seen["pose"]

    rgb_r, heat_r, pose_r = run(RIGHT, False)
    rgb_l, heat_l, pose_l = run(LEFT, False)
    np.testing.assert_array_equal(rgb_l, rgb_r[..., ::-1])  # the same crop, flipped
    np.testing.assert_array_equal(heat_l, heat_r[..., ::-1])
    assert pose_r[4, 0] == 1.0 and pose_l[4, 0] == -1.0
    # a right hand in a mirrored view appears as a left hand: mirrored too
    rgb_m, _, pose_m = run(RIGHT, True)
    np.testing.assert_array_equal(rgb_m, rgb_l)
    assert pose_m[4, 0] == -1.0
    # a network that has seen both sides: nothing is mirrored
    rgb_n, _, pose_n = run(LEFT, False, canonical=False)
    np.testing.assert_array_equal(rgb_n, rgb_r)
    assert pose_n[4, 0] == 1.0


def test_the_oracle_is_not_mirrored_by_a_right_handed_backend():
    from app.engine.estimate import CropBatch
    from app.engine.sources.base import TruthHand
    from app.engine.truth import OracleEstimator, truth_poses
    from model.geometry import Box, crop_camera

    K = intrinsics_from_fov(320, 240, 60.0)
    joints, _ = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    joints = joints @ rot_x(-1.2).T + [0.0, 0.0, 0.5]
    uv = project(joints, K)
    cam = crop_camera(K, Box(*uv.mean(0), 120.0), 32)
    est = OracleEstimator(_Recorder(), fuse="rgb")
    est._truth = [TruthHand(joints, uv, LEFT)]
    batch = CropBatch(np.zeros((1, 3, 32, 32), np.float32), [cam], None)
    out = est.infer_canonical(batch, [Track(0, LEFT, uv)], mirrored=False)
    np.testing.assert_allclose(out.pose, truth_poses(est._truth, [cam]))
