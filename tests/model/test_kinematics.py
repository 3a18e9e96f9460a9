"""model/kinematics.py: forward kinematics with known values, bone lengths and batching."""

from __future__ import annotations

import numpy as np
import pytest

from model.kinematics import (
    MCP_POS,
    PHALANX_LEN,
    POSE_DIM,
    POSE_HI,
    POSE_LO,
    Skeleton,
    forward_kinematics,
)
from train.synth.kinematics import sample_pose


def test_straight_middle_finger_points_along_y():
    joints, frames = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    assert np.allclose(joints[0], 0.0) and np.allclose(frames[0], np.eye(3))
    assert np.allclose(joints[9], MCP_POS[1])  # middle MCP
    tip = MCP_POS[1] + np.array([0.0, PHALANX_LEN[2].sum(), 0.0])
    assert np.allclose(joints[12], tip, atol=1e-12)


def test_flexion_bends_towards_the_palm():
    pose = np.zeros(POSE_DIM)
    pose[9] = np.pi / 2  # middle MCP flexed 90 degrees: the finger points out of the palm (+z)
    joints, _ = forward_kinematics(pose, Skeleton.mean())
    assert np.clip(pose[9], POSE_LO[9], POSE_HI[9]) == pose[9]
    d = joints[10] - joints[9]
    assert np.allclose(d / np.linalg.norm(d), [0.0, 0.0, 1.0], atol=1e-12)


def test_bone_lengths_match_skeleton_and_frames_are_rotations():
    skel = Skeleton.mean(1.1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        pose = sample_pose(rng)
        assert np.all(pose >= POSE_LO) and np.all(pose <= POSE_HI)
        joints, frames = forward_kinematics(pose, skel)
        for f in range(5):
            for k in range(3):
                a, b = 1 + 4 * f + k, 2 + 4 * f + k
                assert np.linalg.norm(joints[b] - joints[a]) == pytest.approx(
                    skel.phalanx[f, k], rel=1e-9)
        assert np.allclose(frames @ frames.transpose(0, 2, 1), np.eye(3), atol=1e-9)
        assert np.allclose(np.linalg.det(frames), 1.0)


def test_batch_equals_one_at_a_time_and_poses_are_clipped():
    rng = np.random.default_rng(1)
    poses = rng.uniform(POSE_LO - 0.3, POSE_HI + 0.3, size=(2, 3, POSE_DIM))
    phal = PHALANX_LEN * rng.uniform(0.9, 1.1, size=(2, 3, 5, 3))  # a skeleton per hand
    skel = Skeleton(np.broadcast_to(MCP_POS, (2, 3, 4, 3)), np.zeros(3) + 0.02, phal)
    joints, frames = forward_kinematics(poses, skel)
    assert joints.shape == (2, 3, 21, 3) and frames.shape == (2, 3, 21, 3, 3)
    for i in range(2):
        for j in range(3):
            one = Skeleton(MCP_POS, np.zeros(3) + 0.02, phal[i, j])
            clipped = np.clip(poses[i, j], POSE_LO, POSE_HI)
            jo, fr = forward_kinematics(clipped, one)
            assert np.allclose(joints[i, j], jo, atol=1e-15)
            assert np.allclose(frames[i, j], fr, atol=1e-15)
