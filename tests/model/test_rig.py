"""model.rig: forward kinematics of the inverse kinematics reproduces the joints; the rotations
are what the docstring says (palm frame, swings from the rest directions)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from model import rig
from model.hand import LEFT, RIGHT, mirror_x
from model.kinematics import POSE_HI, POSE_LO, Skeleton, forward_kinematics


def _hands(side: int, n: int = 64, seed: int = 0) -> np.ndarray:
    """(n, 21, 3) metres: random poses of the kinematic hand, random rotations and positions."""
    rng = np.random.default_rng(seed)
    joints, _ = forward_kinematics(rng.uniform(POSE_LO, POSE_HI, (n, 21)),
                                   Skeleton.mean(rng.uniform(0.8, 1.2)))
    if side == LEFT:
        joints = mirror_x(joints)
    R = Rotation.random(n, random_state=seed).as_matrix()
    return np.einsum("nij,nkj->nki", R, joints) + rng.normal(0, 0.1, (n, 1, 3)) + [0, 0, 0.5]


@pytest.mark.parametrize("side", [LEFT, RIGHT])
def test_fk_of_ik_reproduces_the_joints(side):
    joints = _hands(side)
    q0, p0, local = rig.inverse_kinematics(joints, side)
    back = rig.forward_kinematics(q0, p0, local, rig.bone_lengths_of(joints), side)
    assert np.abs(back - joints).max() < 1e-9
    assert np.allclose(np.linalg.norm(local, axis=-1), 1.0)


@pytest.mark.parametrize("side", [LEFT, RIGHT])
def test_constant_bones_reproduce_a_constant_skeleton(side):
    """Bones fixed per track (the engine's rest skeleton): FK with those lengths is exact."""
    joints = _hands(side, n=8)[:1]
    one = rig.solve(joints[0], side)
    assert np.abs(rig.rig_joints(one, side) - joints[0]).max() < 1e-6  # float32 rig


def test_wrist_rotation_is_the_palm_frame():
    joints = _hands(RIGHT, n=16)
    q0, _, _ = rig.inverse_kinematics(joints, RIGHT)
    R = rig.quat_to_matrix(q0)
    assert np.abs(R - rig.palm_frame(joints)).max() < 1e-9
    y = joints[:, 9] - joints[:, 0]
    assert np.allclose(R[:, :, 1], y / np.linalg.norm(y, axis=-1, keepdims=True))
    assert np.allclose(np.linalg.det(R), 1.0)


@pytest.mark.parametrize("side", [LEFT, RIGHT])
def test_rest_pose_has_identity_rotations(side):
    """The rest hand (straight fingers) solves to identity local rotations."""
    joints, _ = forward_kinematics(np.zeros(21), Skeleton.mean())
    if side == LEFT:
        joints = mirror_x(joints)
    _, _, local = rig.inverse_kinematics(joints, side)
    assert np.abs(local - [1, 0, 0, 0]).max() < 1e-9


def test_degenerate_hand_stays_finite():
    """All joints at one point (a broken estimate): finite unit quaternions, no exception."""
    q0, p0, local = rig.inverse_kinematics(np.zeros((21, 3)), RIGHT)
    assert np.all(np.isfinite(q0)) and np.all(np.isfinite(local))
    assert np.allclose(np.linalg.norm(local, axis=-1), 1.0)


def test_hand_rig_checks_shapes():
    with pytest.raises(ValueError, match="local_wxyz"):
        rig.HandRig(np.zeros(4), np.zeros(3), np.zeros((19, 4)), np.zeros(20))
