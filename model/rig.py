"""Joint rotations of a hand: 21 joints <-> a rooted skeleton with constant bones and rotations.

The rig is what animation tools want (BVH, glTF, OSC/UDP rotations): a root (the wrist) with a
global position and rotation, and per bone a local rotation relative to its parent, on a rest
skeleton with constant bone lengths.

Conventions (every quaternion is (w, x, y, z), unit, Hamilton product, rotating column vectors):
- Wrist frame from the palm: y = wrist -> middle MCP, x = the index MCP - little MCP span made
  orthogonal to y (towards the thumb for a right hand), z = x cross y. It is a proper rotation
  for both sides. `wrist_wxyz` is that frame in the camera frame; `wrist_m` the wrist position.
- One rig joint per bone of model.hand.BONES (20): bone b = (parent, child) rotates about the
  parent joint. Its parent bone is the previous bone of the same finger, or the wrist for the
  first bone of each finger (wrist -> thumb CMC / index..little MCP).
- Rest skeleton: every rotation the identity; bone b's end is then at start + bone_m[b] *
  rest_dir[b], rest_dir in the wrist frame (the mean hand of model.kinematics with straight
  fingers, mirrored for a left hand: `rest_directions(side)`).
- Local rotation of bone b: the smallest rotation taking rest_dir[b] to the observed bone
  direction expressed in the parent's frame (a swing, no twist about the bone); the twist of
  every bone is thereby fixed by the palm frame, passed down the chain.
- Forward kinematics: G_b = G_parent(b) * L_b, end_b = start_b + bone_m[b] * G_b rest_dir[b].
  With the observed bone lengths, fk(ik(joints)) == joints to float precision.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

from model.hand import BONES, LEFT, NUM_JOINTS, mirror_x

NUM_BONES = len(BONES)  # 20
PARENTS = np.array([p for p, _ in BONES])
CHILDREN = np.array([c for _, c in BONES])
# Parent bone of each bone (-1: the wrist), the finger's previous bone.
PARENT_BONE = np.array([-1 if k == 0 else 4 * f + k - 1 for f in range(5) for k in range(4)])
_EPS = 1e-12


@dataclass
class HandRig:
    """The rig of one hand in one frame (float32).

    wrist_wxyz: (4,) wrist rotation (the palm frame) in the camera frame, quaternion w, x, y, z.
    wrist_m: (3,) wrist position, metres, camera frame.
    local_wxyz: (20, 4) each bone's rotation relative to its parent, BONES order.
    bone_m: (20,) rest bone lengths, metres, BONES order.
    """

    wrist_wxyz: np.ndarray
    wrist_m: np.ndarray
    local_wxyz: np.ndarray
    bone_m: np.ndarray

    def __post_init__(self) -> None:
        for name, shape in (("wrist_wxyz", (4,)), ("wrist_m", (3,)),
                            ("local_wxyz", (NUM_BONES, 4)), ("bone_m", (NUM_BONES,))):
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
            setattr(self, name, value)

    def rotations(self) -> np.ndarray:
        """(21 * 4,) float32: the wrist quaternion then the 20 local ones, as sent over OSC/UDP."""
        return np.concatenate([self.wrist_wxyz, self.local_wxyz.reshape(-1)])


# ------------------------------------------------------------------ quaternion helpers
def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product along the last axis (np.cross without its per-call overhead)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b, (..., 4) x (..., 4) -> (..., 4), w first."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * _cross(u, v)
    return v + w * t + _cross(u, t)


def qconj(q: np.ndarray) -> np.ndarray:
    """Inverse of unit quaternions (..., 4)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) -> rotation matrices (..., 3, 3)."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """v / |v| along the last axis; fallback (broadcast) where |v| is ~0."""
    n = np.sqrt(np.sum(v * v, axis=-1, keepdims=True))
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), fallback)


# ------------------------------------------------------------------ palm frame, rest pose
def palm_frame(joints: np.ndarray) -> np.ndarray:
    """Wrist frame from the palm: joints (..., 21, 3) -> rotation matrices (..., 3, 3), columns
    x (index - little MCP span, orthogonal to y), y (wrist -> middle MCP), z = x cross y."""
    j = np.asarray(joints, dtype=np.float64)
    y = _unit(j[..., 9, :] - j[..., 0, :], np.array([0.0, 1.0, 0.0]))
    s = j[..., 5, :] - j[..., 17, :]
    x = _unit(s - np.sum(s * y, axis=-1, keepdims=True) * y, np.array([1.0, 0.0, 0.0]))
    z = _cross(x, y)
    return np.stack([x, y, z], axis=-1)


@functools.cache
def _rest(side: int) -> tuple[np.ndarray, np.ndarray]:
    from model.kinematics import POSE_DIM, Skeleton, forward_kinematics

    joints, _ = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    if side == LEFT:
        joints = mirror_x(joints)
    R = palm_frame(joints)
    vec = (joints[CHILDREN] - joints[PARENTS]) @ R  # in the wrist frame
    lengths = np.linalg.norm(vec, axis=-1)
    dirs = vec / lengths[:, None]
    dirs.flags.writeable = False
    lengths.flags.writeable = False
    return dirs, lengths


def rest_directions(side: int) -> np.ndarray:
    """(20, 3) unit rest direction of each bone in the wrist frame (read-only): the mean hand of
    model.kinematics with straight fingers, mirrored (x -> -x) for a left hand."""
    return _rest(int(side))[0]


def mean_bone_lengths() -> np.ndarray:
    """(20,) bone lengths of the mean hand, metres (read-only), a fallback rest skeleton."""
    return _rest(1)[1]


def bone_lengths_of(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) -> (..., 20) observed bone lengths, BONES order, input units."""
    j = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(j[..., CHILDREN, :] - j[..., PARENTS, :], axis=-1)


# ------------------------------------------------------------------ IK / FK
@numba.njit(cache=True)
def _qmul1(a, b):  # pragma: no cover - numba
    return np.array([a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
                     a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
                     a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
                     a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]])


@numba.njit(cache=True)
def _qrot1(q, v):  # pragma: no cover - numba
    u = q[1:]
    t = 2.0 * np.cross(u, v)
    return v + q[0] * t + np.cross(u, t)


@numba.njit(cache=True)
def _ik_kernel(joints, rest, q0, local):  # pragma: no cover - numba
    """joints (B, 21, 3), rest (20, 3) -> q0 (B, 4), local (B, 20, 4), written in place."""
    glob = np.empty((NUM_BONES, 4))
    for b in range(joints.shape[0]):
        j = joints[b]
        y = j[9] - j[0]
        n = np.sqrt(np.sum(y * y))
        y = y / n if n > 1e-9 else np.array([0.0, 1.0, 0.0])
        s = j[5] - j[17]
        x = s - np.sum(s * y) * y
        n = np.sqrt(np.sum(x * x))
        if n > 1e-9:
            x = x / n
        else:  # no palm span: any axis orthogonal to y
            x = np.cross(y, np.array([0.0, 0.0, 1.0]))
            if np.sum(x * x) < 1e-12:
                x = np.cross(y, np.array([1.0, 0.0, 0.0]))
            x = x / np.sqrt(np.sum(x * x))
        z = np.cross(x, y)
        # Shepperd: rotation matrix [x y z] -> quaternion.
        m00, m11, m22 = x[0], y[1], z[2]
        tr = m00 + m11 + m22
        if tr > max(m00, m11, m22):
            r = np.sqrt(1.0 + tr) * 2
            q = np.array([r / 4, (y[2] - z[1]) / r, (z[0] - x[2]) / r, (x[1] - y[0]) / r])
        elif m00 >= m11 and m00 >= m22:
            r = np.sqrt(1.0 + m00 - m11 - m22) * 2
            q = np.array([(y[2] - z[1]) / r, r / 4, (y[0] + x[1]) / r, (z[0] + x[2]) / r])
        elif m11 >= m22:
            r = np.sqrt(1.0 - m00 + m11 - m22) * 2
            q = np.array([(z[0] - x[2]) / r, (y[0] + x[1]) / r, r / 4, (z[1] + y[2]) / r])
        else:
            r = np.sqrt(1.0 - m00 - m11 + m22) * 2
            q = np.array([(x[1] - y[0]) / r, (z[0] + x[2]) / r, (z[1] + y[2]) / r, r / 4])
        q = q / np.sqrt(np.sum(q * q))
        if q[0] < 0:
            q = -q
        q0[b] = q
        for bone in range(NUM_BONES):
            parent = q if bone % 4 == 0 else glob[bone - 1]
            d = j[CHILDREN[bone]] - j[PARENTS[bone]]
            n = np.sqrt(np.sum(d * d))
            a = rest[bone]
            if n > 1e-9:
                inv = parent * np.array([1.0, -1.0, -1.0, -1.0])
                t = _qrot1(inv, d / n)  # observed direction in the parent's frame
            else:  # a zero-length bone keeps its rest direction
                t = a.copy()
            w = 1.0 + np.sum(a * t)
            ax = np.cross(a, t)
            if w < 1e-9:  # opposite: half a turn about an axis orthogonal to the rest
                ax = np.cross(a, np.array([1.0, 0.0, 0.0]))
                if np.sum(ax * ax) < 1e-12:
                    ax = np.cross(a, np.array([0.0, 0.0, 1.0]))
                w = 0.0
            lq = np.array([w, ax[0], ax[1], ax[2]])
            lq = lq / np.sqrt(np.sum(lq * lq))
            local[b, bone] = lq
            glob[bone] = _qmul1(parent, lq)


@numba.njit(cache=True)
def _fk_kernel(q0, p0, local, bone_m, rest, out):  # pragma: no cover - numba
    """q0 (B, 4), p0 (B, 3), local (B, 20, 4), bone_m (B, 20), rest (20, 3) -> out (B, 21, 3)."""
    glob = np.empty((NUM_BONES, 4))
    for b in range(q0.shape[0]):
        out[b, 0] = p0[b]
        for bone in range(NUM_BONES):
            parent = q0[b] if bone % 4 == 0 else glob[bone - 1]
            glob[bone] = _qmul1(parent, local[b, bone])
            out[b, CHILDREN[bone]] = (out[b, PARENTS[bone]]
                                      + bone_m[b, bone] * _qrot1(glob[bone], rest[bone]))


def inverse_kinematics(joints: np.ndarray, side: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joints -> rig rotations.

    joints: (..., 21, 3) metres, camera frame, model.hand.Joint order; side: LEFT or RIGHT.
    Returns (wrist_wxyz (..., 4), wrist_m (..., 3), local_wxyz (..., 20, 4)), float64.
    Bone lengths are not part of the rotations: pass any rest lengths to forward_kinematics
    (the observed ones reproduce the joints). Compiled with numba (about 10 us a hand).
    """
    j = np.asarray(joints, dtype=np.float64)
    lead = j.shape[:-2]
    flat = np.ascontiguousarray(j.reshape(-1, NUM_JOINTS, 3))
    q0 = np.empty((flat.shape[0], 4))
    local = np.empty((flat.shape[0], NUM_BONES, 4))
    _ik_kernel(flat, np.ascontiguousarray(rest_directions(side)), q0, local)
    return q0.reshape(lead + (4,)), j[..., 0, :].copy(), local.reshape(lead + (NUM_BONES, 4))


def forward_kinematics(wrist_wxyz: np.ndarray, wrist_m: np.ndarray, local_wxyz: np.ndarray,
                       bone_m: np.ndarray, side: int) -> np.ndarray:
    """Rig -> joints. wrist_wxyz (..., 4), wrist_m (..., 3), local_wxyz (..., 20, 4), bone_m
    (..., 20) or (20,) metres. Returns joints (..., 21, 3) metres, camera frame, float64."""
    local = np.asarray(local_wxyz, dtype=np.float64)
    lead = local.shape[:-2]
    B = int(np.prod(lead, dtype=np.int64))

    def flat(a, tail):
        a = np.asarray(a, np.float64)
        if a.shape != lead + tail:
            a = np.broadcast_to(a, lead + tail)
        return np.ascontiguousarray(a.reshape((B,) + tail))

    out = np.empty((B, NUM_JOINTS, 3))
    _fk_kernel(flat(wrist_wxyz, (4,)), flat(wrist_m, (3,)), flat(local, (NUM_BONES, 4)),
               flat(bone_m, (NUM_BONES,)), np.ascontiguousarray(rest_directions(side)), out)
    return out.reshape(lead + (NUM_JOINTS, 3))


def solve(joints: np.ndarray, side: int, bone_m: np.ndarray | None = None) -> HandRig:
    """One hand's HandRig from joints (21, 3) metres; bone_m (20,) rest lengths (default: the
    observed ones)."""
    q0, p0, local = inverse_kinematics(joints, side)
    bones = bone_lengths_of(joints) if bone_m is None else bone_m
    return HandRig(q0, p0, local, bones)


def rig_joints(rig: HandRig, side: int) -> np.ndarray:
    """(21, 3) float64 joints of a HandRig (forward kinematics)."""
    return forward_kinematics(rig.wrist_wxyz, rig.wrist_m, rig.local_wxyz, rig.bone_m, side)
