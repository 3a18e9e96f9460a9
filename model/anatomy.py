"""Anatomy of decoded hands: plausibility checks and a kinematic fit that makes a pose plausible.

The pose decoder predicts 21 free 3D points; nothing in the network ties them to a hand, so bone
lengths drift and fingers can bend backwards. Two tools here:

- plausibility(joints): bone length ratios (bone / middle MCP->PIP, the literature's scale bone)
  against the mean hand of model.kinematics, and the bend at every hinge joint (thumb IP, PIP,
  DIP) against its flexion limit.
- fit_hand(joints, side): the kinematic hand of model.kinematics, with the generator's shape
  freedom (overall size, +-6 % per bone, palm width and MCP placement, model.kinematics.
  SHAPE_RANGE) and its joint limits, fitted by bounded least squares (scipy, trust-region
  reflective) to the decoded joints under a free similarity transform. The result is anatomical
  by construction; HandFit.displacement says how far the fit had to move each joint, which is
  the honest measure of how implausible the network's answer was.

Units: whatever the input uses (normalised by the scale bone, or metres); the fit returns the
same units and frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from model.hand import BONES, LEFT, NUM_JOINTS, RIGHT, SCALE_BONE, bone_lengths
from model.kinematics import (
    MCP_POS,
    PHALANX_LEN,
    POSE_DIM,
    POSE_HI,
    POSE_LO,
    SHAPE_RANGE,
    THUMB_CMC_POS,
    ShapeRange,
    Skeleton,
    forward_kinematics,
)

HINGES = (3, 6, 7, 10, 11, 14, 15, 18, 19)  # thumb IP, PIP and DIP joints (= pose indices)
SCALE_INDEX = BONES.index(SCALE_BONE)
PALM = (0, 1, 5, 9, 13, 17)  # wrist, thumb CMC, MCPs: the rigid part used to start the fit


@functools.cache
def reference_bone_ratios() -> np.ndarray:
    """(20,) bone length / middle MCP->PIP length of the mean hand (straight fingers); computed
    once, read-only."""
    joints, _ = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    lengths = bone_lengths(joints)
    ratios = lengths / lengths[SCALE_INDEX]
    ratios.flags.writeable = False
    return ratios


def hinge_bends_rad(joints: np.ndarray) -> np.ndarray:
    """(len(HINGES),) unsigned bend angle at each hinge joint of (21, 3) joints: the angle
    between the bone into the joint and the bone out of it."""
    j = np.asarray(joints, np.float64)
    h = np.array(HINGES)
    a, b = j[h] - j[h - 1], j[h + 1] - j[h]
    c = np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                           1e-12)
    return np.arccos(np.clip(c, -1.0, 1.0))


def plausibility(joints: np.ndarray, bone_tol: float = 0.25,
                 angle_tol_rad: float = 0.15) -> dict:
    """Anatomical checks of (21, 3) joints: bone_dev (largest relative deviation of a bone
    ratio from the mean hand's), bones_ok (all within bone_tol), bend_excess_rad (largest bend
    beyond a hinge's flexion limit) and bends_ok (all within angle_tol_rad)."""
    lengths = bone_lengths(np.asarray(joints, np.float64))
    ratios = lengths / max(lengths[SCALE_INDEX], 1e-12)
    dev = np.abs(ratios / reference_bone_ratios() - 1.0)
    limits = np.maximum(np.abs(POSE_LO[list(HINGES)]), np.abs(POSE_HI[list(HINGES)]))
    bends = hinge_bends_rad(joints)
    return {"bone_dev": float(dev.max()), "bones_ok": bool(np.all(dev <= bone_tol)),
            "bend_excess_rad": float(np.max(bends - limits)),
            "bends_ok": bool(np.all(bends <= limits + angle_tol_rad))}


@dataclass(frozen=True)
class FitConfig:
    """max_nfev: least-squares evaluations per start; shape: the allowed shape variation
    (default the generator's); pose_prior: weight of a weak pull of the angles towards the
    start pose, per radian relative to the hand's size (keeps joints the input leaves
    undetermined at rest); starts: start poses as fractions of the flexion range (0 = straight
    fingers); the best fit is kept; diff_step: finite-difference step of the Jacobian;
    free_shape: a fit without a previous one (init) fits the shape factors within `shape` (True)
    or holds the mean hand's bone ratios (False: only the pose, the placement and the overall
    size are fitted; noisy joints then cannot bend the bones to fit their noise).
    The overall size is free (the input's units are arbitrary): bone ratios are what is bounded."""

    max_nfev: int = 60
    shape: ShapeRange = field(default_factory=lambda: SHAPE_RANGE)
    pose_prior: float = 0.01
    starts: tuple[float, ...] = (0.3,)
    diff_step: float = 1e-6
    free_shape: bool = True


@dataclass
class HandFit:
    """joints: (21, 3) the fitted hand, input units and frame; pose: (POSE_DIM,) radians;
    skeleton: the fitted bone geometry (metres of the model hand, before scale); rotation
    (3, 3), scale (input units per model metre), translation (3,): input = scale * R @ model + t;
    rms: residual RMS over the joints (input units); displacement: (21,) input -> fit distance
    per joint (input units); shape_factors: (20,) the fitted factors of the 15 phalanx lengths,
    4 MCP distances and the palm width."""

    joints: np.ndarray
    pose: np.ndarray
    skeleton: Skeleton
    rotation: np.ndarray
    scale: float
    translation: np.ndarray
    rms: float
    displacement: np.ndarray
    shape_factors: np.ndarray


# Parameter vector: rotation vector (3), translation (3), log scale (1), pose (POSE_DIM),
# phalanx factors (15), MCP y factors (4), palm width factor (1).
_N_SHAPE = 15 + 4 + 1
_N = 7 + POSE_DIM + _N_SHAPE


def _skeleton(shape: np.ndarray) -> Skeleton:
    """(B, 20) shape factors -> a batch of skeletons."""
    B = shape.shape[0]
    phal = PHALANX_LEN[None] * shape[:, :15].reshape(B, 5, 3)
    mcp = np.repeat(MCP_POS[None], B, axis=0)
    mcp[:, :, 1] *= shape[:, 15:19]
    mcp[:, :, 0] *= shape[:, 19:20]
    return Skeleton(mcp, np.broadcast_to(THUMB_CMC_POS, (B, 3)), phal)


def _model_joints(x: np.ndarray) -> np.ndarray:
    """(B, _N) parameters -> (B, 21, 3) joints in input units."""
    joints, _ = forward_kinematics(x[:, 7:7 + POSE_DIM], _skeleton(x[:, 7 + POSE_DIM:]))
    from scipy.spatial.transform import Rotation  # scipy loads on first use (start-up)

    R = Rotation.from_rotvec(x[:, :3]).as_matrix()  # (B, 3, 3)
    return np.exp(x[:, 6])[:, None, None] * joints @ R.transpose(0, 2, 1) + x[:, None, 3:6]


def _start(target: np.ndarray, pose: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Initial parameters: the hand with `pose` (POSE_DIM,) and shape factors (20,), its palm
    placed on the target's palm by a similarity (Umeyama) fit."""
    model = _model_joints(np.r_[np.zeros(6), 0.0, pose, shape][None])[0]
    a, b = model[list(PALM)], target[list(PALM)]
    ma, mb = a.mean(0), b.mean(0)
    A, Bc = a - ma, b - mb
    U, S, Vt = np.linalg.svd(Bc.T @ A)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / max(np.sum(A * A), 1e-12))
    if not np.isfinite(s) or s <= 0:
        s = 1.0
    t = mb - s * R @ ma
    from scipy.spatial.transform import Rotation

    return np.r_[Rotation.from_matrix(R).as_rotvec(), t, np.log(s), pose, shape]


def _rotation_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(3,) rotation vector -> (3, 3) matrix."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(rotvec).as_matrix()


def _start_pose(flex: float) -> np.ndarray:
    """(POSE_DIM,) fingers at `flex` of their flexion range, no abduction."""
    pose = np.clip(flex * POSE_HI, POSE_LO, POSE_HI)
    pose[[0, 4, 8, 12, 16]] = 0.0
    return pose


def _bounds(cfg: FitConfig) -> tuple[np.ndarray, np.ndarray]:
    r = cfg.shape
    shape_lo = np.r_[np.full(15, 1 - r.phalanx), np.full(4, 1 - r.mcp_y), 1 - r.width]
    shape_hi = np.r_[np.full(15, 1 + r.phalanx), np.full(4, 1 + r.mcp_y), 1 + r.width]
    inf = np.full(7, np.inf)
    return np.r_[-inf, POSE_LO, shape_lo], np.r_[inf, POSE_HI, shape_hi]


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _solve(target: np.ndarray, x0: np.ndarray, free: np.ndarray, bounds: tuple, cfg: FitConfig,
           size: float) -> tuple[np.ndarray, float]:
    """Bounded least squares over the parameters where `free` (bool (_N,)) is set, the others
    held at x0 (within `bounds`, the full (lo, hi) of _bounds). Returns the full parameter
    vector and the final cost."""
    lo, hi = (b[free] for b in bounds)
    x_full = x0.copy()
    prior_at = np.arange(7, 7 + POSE_DIM)  # the pose in x (it and what precedes it are free)
    pose0 = x0[7:7 + POSE_DIM].copy()
    w_prior = np.sqrt(cfg.pose_prior)
    n = int(free.sum())

    def model(x: np.ndarray) -> np.ndarray:  # (B, n) -> (B, 21, 3)
        X = np.repeat(x_full[None], len(x), axis=0)
        X[:, free] = x
        return _model_joints(X)

    def residual(x: np.ndarray) -> np.ndarray:
        d = (model(x[None])[0] - target).ravel() / size
        return np.r_[d, w_prior * (x[prior_at] - pose0)]

    def jacobian(x: np.ndarray) -> np.ndarray:
        h = np.where(x + cfg.diff_step > hi, -cfg.diff_step, cfg.diff_step)
        f = model(np.vstack([x[None], x[None] + np.diag(h)]))  # (1 + n, 21, 3)
        J = ((f[1:] - f[0]).reshape(n, -1) / h[:, None]).T / size  # (63, n)
        Jp = np.zeros((POSE_DIM, n))
        Jp[np.arange(POSE_DIM), prior_at] = w_prior
        return np.vstack([J, Jp])

    # One BLAS thread: the problem is tiny, and idle BLAS threads spinning after each small SVD
    # would take the cores from the detector and the network running beside the fit.
    with _blas_controller().limit(limits=1, user_api="blas"):
        from scipy.optimize import least_squares

        res = least_squares(residual, x0[free], jac=jacobian, bounds=(lo, hi), method="trf",
                            max_nfev=cfg.max_nfev, x_scale="jac")
    x_full[free] = res.x
    return x_full, float(res.cost)


def fit_hand(joints: np.ndarray, side: int = RIGHT, config: FitConfig | None = None,
             init: HandFit | None = None) -> HandFit:
    """Fit the kinematic hand to (21, 3) joints of a `side` hand (LEFT is mirrored, x -> -x,
    fitted as a right hand and mirrored back). init: a previous fit of the same hand (video):
    the one start is its pose, and its shape is kept (a hand does not change shape between
    frames; fewer unknowns make the fit cheaper) instead of config.starts with a free shape
    (config.free_shape) or the mean shape. See the module doc."""
    cfg = config or FitConfig()
    target = np.asarray(joints, np.float64)
    if target.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(target)):
        raise ValueError(f"fit_hand needs finite (21, 3) joints, got shape {target.shape}")
    mirror = np.array([-1.0, 1.0, 1.0]) if side == LEFT else np.ones(3)
    target = target * mirror
    size = max(float(np.linalg.norm(target[list(PALM)] - target[list(PALM)].mean(0), axis=1)
                     .mean()), 1e-9)  # palm spread, input units
    bounds = _bounds(cfg)
    free = np.ones(_N, bool)
    if init is not None:
        free[7 + POSE_DIM:] = False
        starts = [(init.pose, init.shape_factors)]
    else:
        starts = [(_start_pose(f), np.ones(_N_SHAPE)) for f in cfg.starts]
        free[7 + POSE_DIM:] = cfg.free_shape
    best, best_cost = None, np.inf
    for pose_start, shape_start in starts:
        x0 = np.clip(_start(target, pose_start, shape_start), *bounds)
        x, cost = _solve(target, x0, free, bounds, cfg, size)
        if cost < best_cost:
            best, best_cost = x, cost
    x = best
    fitted = _model_joints(x[None])[0]
    disp = np.linalg.norm(fitted - target, axis=1)
    return HandFit(joints=fitted * mirror, pose=x[7:7 + POSE_DIM].copy(),
                   skeleton=_skeleton(x[None, 7 + POSE_DIM:]),
                   rotation=_rotation_matrix(x[:3]), scale=float(np.exp(x[6])),
                   translation=x[3:6] * mirror, rms=float(np.sqrt(np.mean(disp ** 2))),
                   displacement=disp, shape_factors=x[7 + POSE_DIM:].copy())
