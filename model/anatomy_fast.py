"""The kinematic hand fit of model.anatomy.fit_hand, compiled: same objective, own solver.

fit_hand_fast(joints, side, config, init) takes fit_hand's arguments and returns its HandFit, for
the same bounded least-squares problem: residual (fitted - input joints) / palm spread (63) plus
sqrt(pose_prior) * (pose - start pose) (POSE_DIM); pose within POSE_LO/POSE_HI, shape factors
within config.shape; LEFT hands mirrored (x -> -x), fitted as right hands and mirrored back; with
init the shape is held at init's and the one start is init's pose, else one start per
config.starts with the mean shape and the lowest cost is kept. Each start places the start hand
on the input's palm by the same least-squares similarity as fit_hand's Umeyama fit (its
rotation found as Horn's quaternion, the same optimum without an SVD).

What differs is how it is solved, all in one numba function per call:

- Jacobian: analytic. Every joint angle is a rotation F <- F @ R_axis(a) in the kinematic chain,
  so a joint q below it moves by w x (q - o) per radian (w the rotation's axis in the hand frame,
  o the joint it turns about); a bone length factor moves the joints below the bone along the
  bone, an MCP factor moves its finger, the palm width factor moves every long finger. The
  rotation is updated on the manifold (R <- R @ exp([d]x), so d(s R m + t)/dd = s R (e_i x m));
  translation and log scale as in fit_hand.
- Solver: projected Levenberg-Marquardt. Normal equations J^T J with Marquardt's scaling
  (damping mu * diag(J^T J), the counterpart of scipy's x_scale="jac") and Nielsen's update of
  mu; J^T J is summed over the joints each column can move only (a finger's angles move that
  finger), solved by an envelope Cholesky in an order (finger by finger, then cupping, palm
  width and the similarity) that keeps the fingers' blocks apart. Bounds: a parameter at a
  bound whose gradient pushes outwards is held for the step (the active set), the step is
  projected onto the box and a step that does not lower the cost is retried with more
  damping.
- config.max_nfev counts residual evaluations per start as scipy counts them (the start's own
  evaluation is the first; every trial step, accepted or not, is one more); each evaluation
  comes with its Jacobian, so max_nfev = 5 allows up to 4 steps, like fit_hand's. Stops earlier
  when a step lowers the cost by less than 1e-8 of it, moves the parameters by less than 1e-8
  of their norm, or the projected gradient vanishes (scipy's default tolerances).
- config.diff_step is unused (no finite differences).

The answers agree with fit_hand's where both converge (bench.bench_anatomy prints how closely);
they differ where either stops early (max_nfev: 5 evaluations leave both solvers millimetres
from the optimum, differently) or the noisy input has two near-equal minima. An evaluation costs
tens of microseconds instead of milliseconds, so the real-time fit can afford converging:
REALTIME_FIT_FAST (20 evaluations, warm-started per track, the mean hand's bone ratios) is the
engine's config (app.engine.engine.REALTIME_FIT).

The first call compiles the solver (about 20 s of CPU) and caches the machine code on disk
(numba's cache: beside this module, or numba's user-wide cache folder where this one is
read-only; recompiled when this file or the CPU changes), so later processes load it in about
half a second; warm_up() does that up front (`make venv` runs it once), warm_up_in_background()
without blocking. The compiled functions release the GIL: the fit runs beside the detector's
and the network's threads.
Units: whatever the input uses; the fit returns the same units and frame.
"""

from __future__ import annotations

import functools
import math
import threading

import numba
import numpy as np

from model.anatomy import _N_SHAPE, PALM, FitConfig, HandFit, _bounds, _start_pose
from model.hand import LEFT, NUM_JOINTS, RIGHT
from model.kinematics import (
    _FOLDS,
    FINGER_REST_SPREAD,
    MCP_POS,
    PHALANX_LEN,
    POSE_DIM,
    THUMB_BASE,
    THUMB_CMC_POS,
    ShapeRange,
    Skeleton,
)


def _jit(func):
    """numba.njit without the GIL, its machine code cached on disk; uncached when no cache
    folder can be written (numba then refuses cache=True at decoration)."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # pragma: no cover - read-only install without a writable home
        return numba.njit(nogil=True)(func)


_NQ = POSE_DIM + _N_SHAPE  # bounded parameters: pose, then shape factors
_N = 7 + _NQ  # rotation increment (3), translation (3), log scale (1), pose, shape
_NR = 3 * NUM_JOINTS  # joint residuals (the prior's POSE_DIM follow)
_PALM = np.array(PALM)
_FTOL = _XTOL = _GTOL = 1e-8
_MU0 = 3e-2  # the first damping, relative to diag(J^T J)

# The engine's config for fit_hand_fast, warm-started per track: enough evaluations to converge
# from the previous frame's fit (scipy could afford 5); the mean hand's bone ratios (noisy decoded
# joints would otherwise bend the bones to fit their noise; on hgc_val converged fits with a free
# shape scored 15.2 mm EPE, with the mean shape 13.6).
REALTIME_FIT_FAST = FitConfig(max_nfev=20, free_shape=False)


def _column_joints() -> tuple[np.ndarray, np.ndarray]:
    """(_N,) first and one-past-last joint each parameter can move (the joints of a finger are
    contiguous): J^T J is summed over the joints two columns share."""
    lo, hi = np.zeros(_N, np.int64), np.full(_N, NUM_JOINTS, np.int64)
    lo[7:7 + 2], lo[7 + 2], lo[7 + 3] = 2, 3, 4  # thumb CMC (2 angles), MCP, IP
    hi[7:7 + 4] = 5
    for f in range(4):
        base = 5 + 4 * f
        for k in range(4):  # abduction, MCP, PIP, DIP flexion
            lo[7 + 4 + 4 * f + k] = base + max(k, 1)
            hi[7 + 4 + 4 * f + k] = base + 4
    lo[7 + 20] = 9  # cupping: middle (slightly), ring, little
    s = 7 + POSE_DIM
    for k in range(3):
        lo[s + k], hi[s + k] = 2 + k, 5
    for f in range(4):
        base = 5 + 4 * f
        for k in range(3):
            lo[s + 3 * (1 + f) + k], hi[s + 3 * (1 + f) + k] = base + 1 + k, base + 4
        lo[s + 15 + f], hi[s + 15 + f] = base, base + 4
    lo[s + 19] = 5  # palm width: every long finger
    return lo, hi


_COL_LO, _COL_HI = _column_joints()


def _elimination_order() -> np.ndarray:
    """(_N,) the parameters finger by finger (its angles, its bone and MCP factors), then
    those that move several fingers (cupping, palm width, the similarity): J^T J is then a
    block diagonal with a border, and its Cholesky factor fills no entry between fingers."""
    s = 7 + POSE_DIM
    order = list(range(7, 11)) + [s, s + 1, s + 2]
    for f in range(4):
        order += list(range(11 + 4 * f, 15 + 4 * f))
        order += [s + 3 * (1 + f) + k for k in range(3)] + [s + 15 + f]
    order += [7 + 20, s + 19] + list(range(7))
    assert sorted(order) == list(range(_N))
    return np.array(order, np.int64)


_ORDER = _elimination_order()


def _chains() -> tuple[np.ndarray, ...]:
    """The kinematic chains of model.kinematics as tables, one row per finger (thumb, index,
    middle, ring, little), one column per rotation in chain order (three at the finger's base,
    then PIP and DIP, or the thumb's MCP and IP): axis (0 x, 1 y, 2 z), the pose angle it
    turns by, as coef * pose[param] + offset; and each chain's base frame (5, 3, 3)."""
    axis = np.array([[2, 0, 1, 0, 0]] + [[1, 2, 0, 0, 0]] * 4, np.int64)
    param = np.array([[0, 1, 1, 2, 3]] + [[20, 4 + 4 * f, 5 + 4 * f, 6 + 4 * f, 7 + 4 * f]
                                          for f in range(4)], np.int64)
    coef = np.array([[-1.0, 1.0, -0.6, 1.0, 1.0]] + [[-0.5 * _FOLDS[f], -1.0, 1.0, 1.0, 1.0]
                                                     for f in range(4)])
    offset = np.zeros((5, 5))
    offset[1:, 1] = -FINGER_REST_SPREAD
    frame = np.stack([THUMB_BASE] + [np.eye(3)] * 4)
    return axis, param, coef, offset, frame


_AXIS, _PARAM, _COEF, _OFFSET, _FRAME = _chains()


@_jit
def _rotate(F, axis, a):  # pragma: no cover - numba
    """F <- F @ (rotation by `a` radians about the x (0), y (1) or z (2) axis), F (3, 3) in
    place (model.kinematics' convention)."""
    c, s = math.cos(a), math.sin(a)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    for r in range(3):
        fi, fj = F[r, i], F[r, j]
        F[r, i] = fi * c + fj * s
        F[r, j] = -fi * s + fj * c


@_jit
def _fk_jac(q, m, dm):  # pragma: no cover - numba
    """Forward kinematics of one right hand with its derivatives. q (_NQ,): pose (POSE_DIM,)
    radians (within the limits), then the 20 shape factors -> m (21, 3) model metres and
    dm (21, 3, _NQ): d m / d q, both written in place."""
    dm.fill(0.0)
    F = np.empty((3, 3))
    axes = np.empty((5, 3))  # each rotation's axis in the hand frame
    dirs = np.empty((3, 3))  # each bone's direction
    for ch in range(5):
        root = 1 + 4 * ch
        if ch == 0:
            for c in range(3):
                m[0, c] = 0.0
                m[root, c] = THUMB_CMC_POS[c]
            lift, fold = 0.0, 0.0
        else:
            f = ch - 1
            fold = q[20] * _FOLDS[f]
            lift = 0.35 * abs(MCP_POS[f, 0] - MCP_POS[1, 0]) * q[POSE_DIM + 19]
            m[root, 0] = MCP_POS[f, 0] * q[POSE_DIM + 19]
            m[root, 1] = MCP_POS[f, 1] * q[POSE_DIM + 15 + f]
            m[root, 2] = MCP_POS[f, 2] + fold * lift
        for r in range(3):
            for c in range(3):
                F[r, c] = _FRAME[ch, r, c]
        for i in range(5):
            if i >= 3:  # PIP / DIP (thumb MCP / IP): after the bone before it
                for c in range(3):
                    dirs[i - 3, c] = F[c, 1]
                    m[root + i - 2, c] = m[root + i - 3, c] + F[c, 1] * (
                        PHALANX_LEN[ch, i - 3] * q[POSE_DIM + 3 * ch + i - 3])
            for c in range(3):
                axes[i, c] = F[c, _AXIS[ch, i]]
            _rotate(F, _AXIS[ch, i], _COEF[ch, i] * q[_PARAM[ch, i]] + _OFFSET[ch, i])
        for c in range(3):
            dirs[2, c] = F[c, 1]
            m[root + 3, c] = m[root + 2, c] + F[c, 1] * (
                PHALANX_LEN[ch, 2] * q[POSE_DIM + 3 * ch + 2])
        for i in range(5):  # a joint below a rotation moves by coef * axis x (joint - pivot)
            o = root + max(i - 2, 0)
            w0, w1, w2, k, col = axes[i, 0], axes[i, 1], axes[i, 2], _COEF[ch, i], _PARAM[ch, i]
            for j in range(o + 1, root + 4):
                x, y, z = m[j, 0] - m[o, 0], m[j, 1] - m[o, 1], m[j, 2] - m[o, 2]
                dm[j, 0, col] += k * (w1 * z - w2 * y)
                dm[j, 1, col] += k * (w2 * x - w0 * z)
                dm[j, 2, col] += k * (w0 * y - w1 * x)
        for b in range(3):  # a bone's length moves the joints below it along the bone
            for j in range(root + 1 + b, root + 4):
                for c in range(3):
                    dm[j, c, POSE_DIM + 3 * ch + b] = dirs[b, c] * PHALANX_LEN[ch, b]
        if ch > 0:  # a long finger's MCP placement, the palm width and cupping move the finger
            f = ch - 1
            for j in range(root, root + 4):
                dm[j, 2, 20] += _FOLDS[f] * lift
                dm[j, 1, POSE_DIM + 15 + f] = MCP_POS[f, 1]
                dm[j, 0, POSE_DIM + 19] = MCP_POS[f, 0]
                dm[j, 2, POSE_DIM + 19] = fold * 0.35 * abs(MCP_POS[f, 0] - MCP_POS[1, 0])


@_jit
def _residual(target, R, t, logs, q, pose0, w_prior, inv_size, m, dm, r, J, n, col_lo,
              col_hi):  # pragma: no cover - numba
    """Residual r (_NR + POSE_DIM,) of parameters (R (3, 3), t (3,), logs, q (_NQ,)) against
    target (21, 3), and its Jacobian J (_N, _NR), transposed, over the joint rows and the first n
    parameters, on the joints col_lo..col_hi each parameter moves (the prior's rows are w_prior
    on the pose's diagonal). m, dm: scratch for _fk_jac. Returns the cost
    0.5 * |r|^2."""
    _fk_jac(q, m, dm)
    s = math.exp(logs)
    cost = 0.0
    for j in range(NUM_JOINTS):
        for c in range(3):
            v = s * (R[c, 0] * m[j, 0] + R[c, 1] * m[j, 1] + R[c, 2] * m[j, 2]) + t[c]
            r[3 * j + c] = (v - target[j, c]) * inv_size
            cost += r[3 * j + c] ** 2
    for k in range(POSE_DIM):
        r[_NR + k] = w_prior * (q[k] - pose0[k])
        cost += r[_NR + k] ** 2
    si = s * inv_size
    for j in range(NUM_JOINTS):
        x, y, z = m[j, 0], m[j, 1], m[j, 2]
        for c in range(3):
            row = 3 * j + c
            # d/d rotation increment e_i: s R (e_i x m)
            J[0, row] = si * (R[c, 1] * -z + R[c, 2] * y)
            J[1, row] = si * (R[c, 0] * z - R[c, 2] * x)
            J[2, row] = si * (-R[c, 0] * y + R[c, 1] * x)
            J[3, row], J[4, row], J[5, row] = 0.0, 0.0, 0.0
            J[3 + c, row] = inv_size
            J[6, row] = si * (R[c, 0] * x + R[c, 1] * y + R[c, 2] * z)
    for col in range(7, n):  # the joints this parameter moves; J is not read elsewhere
        p = col - 7
        for j in range(col_lo[col], col_hi[col]):
            for c in range(3):
                J[col, 3 * j + c] = si * (R[c, 0] * dm[j, 0, p] + R[c, 1] * dm[j, 1, p]
                                          + R[c, 2] * dm[j, 2, p])
    return 0.5 * cost


@_jit
def _normal_equations(J, r, n, w_prior, col_lo, col_hi, A, g):  # pragma: no cover - numba
    """A = J^T J (n, n) and g = J^T r (n,) over the first n parameters, the prior included,
    summing each pair of columns over the joints both can move."""
    for a in range(n):
        for b in range(a, n):
            j0, j1 = max(col_lo[a], col_lo[b]), min(col_hi[a], col_hi[b])
            acc = 0.0
            for row in range(3 * j0, 3 * j1):
                acc += J[a, row] * J[b, row]
            A[a, b] = acc
            A[b, a] = acc
        acc = 0.0
        for row in range(3 * col_lo[a], 3 * col_hi[a]):
            acc += J[a, row] * r[row]
        g[a] = acc
    for k in range(POSE_DIM):
        A[7 + k, 7 + k] += w_prior * w_prior
        g[7 + k] += w_prior * r[_NR + k]


@_jit
def _cholesky_solve(A, g, idx, nf, mu, L, x, first):  # pragma: no cover - numba
    """Solve (A + mu * diag(A)) x = -g over the parameters idx[:nf] (A (n, n), g (n,));
    x (nf,). Returns False if the damped matrix is not positive definite. An envelope
    (skyline) Cholesky: row i of the factor starts where row i of A does (first (n,) scratch),
    which with _ORDER's elimination order (finger by finger, the parameters that couple
    fingers last) leaves the fingers' blocks apart."""
    for i in range(nf):
        first[i] = i
        for k in range(i):
            if A[idx[i], idx[k]] != 0.0:
                first[i] = k
                break
    for i in range(nf):
        for k in range(first[i], i + 1):
            v = A[idx[i], idx[k]]
            if i == k:
                v += mu * max(A[idx[i], idx[i]], 1e-12)
            for p in range(max(first[i], first[k]), k):
                v -= L[i, p] * L[k, p]
            if i == k:
                if v <= 0.0:
                    return False
                L[i, i] = math.sqrt(v)
            else:
                L[i, k] = v / L[k, k]
    for i in range(nf):
        v = -g[idx[i]]
        for p in range(first[i], i):
            v -= L[i, p] * x[p]
        x[i] = v / L[i, i]
    for i in range(nf - 1, -1, -1):
        v = x[i]
        for p in range(i + 1, nf):
            if first[p] <= i:
                v -= L[p, i] * x[p]
        x[i] = v / L[i, i]
    return True


@_jit
def _turn_by(R, d0, d1, d2, out):  # pragma: no cover - numba
    """out (3, 3) <- R @ exp([d]x): R turned by the rotation vector d in its own frame
    (Rodrigues)."""
    th = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    K = np.zeros((3, 3))
    K[0, 1], K[0, 2], K[1, 2] = -d2, d1, -d0
    K[1, 0], K[2, 0], K[2, 1] = d2, -d1, d0
    a, b = (1.0, 0.5) if th < 1e-8 else (math.sin(th) / th, (1.0 - math.cos(th)) / (th * th))
    E = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            E[i, j] = (1.0 if i == j else 0.0) + a * K[i, j] + b * (
                K[i, 0] * K[0, j] + K[i, 1] * K[1, j] + K[i, 2] * K[2, j])
    for i in range(3):
        for j in range(3):
            out[i, j] = R[i, 0] * E[0, j] + R[i, 1] * E[1, j] + R[i, 2] * E[2, j]


@_jit
def _largest_eigenvector(N):  # pragma: no cover - numba
    """Unit eigenvector (4,) of the largest eigenvalue of a symmetric (4, 4) matrix (cyclic
    Jacobi rotations)."""
    A, V = N.copy(), np.eye(4)
    for _ in range(50):
        off, total = 0.0, 1e-300
        for p in range(4):
            for r in range(4):
                total += A[p, r] * A[p, r]
                if r > p:
                    off += A[p, r] * A[p, r]
        if off < 1e-30 * total:
            break
        for p in range(3):
            for r in range(p + 1, 4):
                if A[p, r] == 0.0:
                    continue
                theta = (A[r, r] - A[p, p]) / (2.0 * A[p, r])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(4):  # A <- G^T A G, V <- V G
                    akp, akr = A[k, p], A[k, r]
                    A[k, p], A[k, r] = c * akp - s * akr, s * akp + c * akr
                for k in range(4):
                    apk, ark = A[p, k], A[r, k]
                    A[p, k], A[r, k] = c * apk - s * ark, s * apk + c * ark
                for k in range(4):
                    vkp, vkr = V[k, p], V[k, r]
                    V[k, p], V[k, r] = c * vkp - s * vkr, s * vkp + c * vkr
    best = 0
    for k in range(1, 4):
        if A[k, k] > A[best, best]:
            best = k
    return V[0, best], V[1, best], V[2, best], V[3, best]


@_jit
def _start(target, pose, shape, lo, hi, m, dm):  # pragma: no cover - numba
    """model.anatomy._start, clipped to the bounds: the start hand (pose (POSE_DIM,), shape
    (20,)) placed on the target's palm by the similarity of least squares (Umeyama's: the
    rotation by Horn's quaternion, the same optimum without an SVD). Returns R (3, 3), t (3,),
    log scale and q (_NQ,)."""
    q = np.empty(_NQ)
    for k in range(POSE_DIM):
        q[k] = min(max(pose[k], lo[k]), hi[k])
    for k in range(POSE_DIM, _NQ):
        q[k] = shape[k - POSE_DIM]
    _fk_jac(q, m, dm)
    ma, mb = np.zeros(3), np.zeros(3)
    for i in range(6):
        for c in range(3):
            ma[c] += m[_PALM[i], c] / 6.0
            mb[c] += target[_PALM[i], c] / 6.0
    S = np.zeros((3, 3))  # S[x, y] = sum a_x b_y, model a -> target b
    var = 0.0
    for i in range(6):
        for x in range(3):
            a = m[_PALM[i], x] - ma[x]
            var += a * a
            for y in range(3):
                S[x, y] += a * (target[_PALM[i], y] - mb[y])
    N = np.empty((4, 4))  # Horn's matrix: its top eigenvector is the rotation's quaternion
    N[0, 0] = S[0, 0] + S[1, 1] + S[2, 2]
    N[1, 1] = S[0, 0] - S[1, 1] - S[2, 2]
    N[2, 2] = -S[0, 0] + S[1, 1] - S[2, 2]
    N[3, 3] = -S[0, 0] - S[1, 1] + S[2, 2]
    N[0, 1] = N[1, 0] = S[1, 2] - S[2, 1]
    N[0, 2] = N[2, 0] = S[2, 0] - S[0, 2]
    N[0, 3] = N[3, 0] = S[0, 1] - S[1, 0]
    N[1, 2] = N[2, 1] = S[0, 1] + S[1, 0]
    N[1, 3] = N[3, 1] = S[2, 0] + S[0, 2]
    N[2, 3] = N[3, 2] = S[1, 2] + S[2, 1]
    w, x, y, z = _largest_eigenvector(N)
    R = np.empty((3, 3))
    R[0, 0] = w * w + x * x - y * y - z * z
    R[1, 1] = w * w - x * x + y * y - z * z
    R[2, 2] = w * w - x * x - y * y + z * z
    R[0, 1], R[1, 0] = 2 * (x * y - w * z), 2 * (x * y + w * z)
    R[0, 2], R[2, 0] = 2 * (x * z + w * y), 2 * (x * z - w * y)
    R[1, 2], R[2, 1] = 2 * (y * z - w * x), 2 * (y * z + w * x)
    corr = 0.0  # trace(R^T B^T A): Umeyama's trace(D S)
    for i in range(3):
        for j in range(3):
            corr += R[i, j] * S[j, i]
    s = corr / max(var, 1e-12)
    if not math.isfinite(s) or s <= 0:
        s = 1.0
    t = np.empty(3)
    for c in range(3):
        t[c] = mb[c] - s * (R[c, 0] * ma[0] + R[c, 1] * ma[1] + R[c, 2] * ma[2])
    for k in range(POSE_DIM, _NQ):
        q[k] = min(max(shape[k - POSE_DIM], lo[k]), hi[k])
    return R, t, math.log(s), q


@_jit
def _solve(target, R, t, logs, q, n, w_prior, inv_size, lo, hi, max_nfev, col_lo, col_hi,
           order, mu0):  # pragma: no cover - numba
    """Projected Levenberg-Marquardt from (R, t, logs, q) over the first n parameters (the
    shape, q[POSE_DIM:], is held when n = 7 + POSE_DIM); lo, hi (_NQ,) bound q; at most
    max_nfev residual evaluations. The start pose q[:POSE_DIM] is the prior's. Returns the
    fitted R, t, logs, q and the cost."""
    pose0 = np.empty(POSE_DIM)
    for k in range(POSE_DIM):
        pose0[k] = q[k]
    m, dm = np.empty((NUM_JOINTS, 3)), np.empty((NUM_JOINTS, 3, _NQ))
    r, J = np.empty(_NR + POSE_DIM), np.empty((_N, _NR))
    A, g = np.empty((n, n)), np.empty(n)
    L, step = np.empty((n, n)), np.empty(n)
    idx, first = np.empty(n, np.int64), np.empty(n, np.int64)
    cost = _residual(target, R, t, logs, q, pose0, w_prior, inv_size, m, dm, r, J, n, col_lo,
                     col_hi)
    nfev = 1
    mu, nu = -1.0, 2.0
    d = np.zeros(n)
    R_new, t_new, q_new = R.copy(), t.copy(), q.copy()
    r_new, J_new = r.copy(), J.copy()
    while nfev < max_nfev:
        _normal_equations(J, r, n, w_prior, col_lo, col_hi, A, g)
        if mu < 0.0:
            mu = mu0  # relative to diag(A) (Marquardt's scaling)
        # Active set: a bounded parameter at its bound with the descent pointing outwards.
        nf, gmax = np.int64(0), 0.0
        for i in order:  # the elimination order of _cholesky_solve
            if i >= n:
                continue
            if i >= 7:
                p = i - 7
                if (q[p] <= lo[p] and g[i] > 0.0) or (q[p] >= hi[p] and g[i] < 0.0):
                    continue
            idx[nf] = i
            nf += 1
            gmax = max(gmax, abs(g[i]))
        if gmax < _GTOL:
            break
        done = False
        while nfev < max_nfev:
            if not _cholesky_solve(A, g, idx, nf, mu, L, step, first):
                mu *= nu
                nu *= 2.0
                if mu > 1e30:
                    break
                continue
            for i in range(n):
                d[i] = 0.0
            for i in range(nf):
                d[idx[i]] = step[i]
            # Projected trial point; d becomes the step actually taken.
            for p in range(n - 7):
                v = min(max(q[p] + d[7 + p], lo[p]), hi[p])
                d[7 + p] = v - q[p]
                q_new[p] = v
            _turn_by(R, d[0], d[1], d[2], R_new)
            for c in range(3):
                t_new[c] = t[c] + d[3 + c]
            logs_new = logs + d[6]
            cost_new = _residual(target, R_new, t_new, logs_new, q_new, pose0, w_prior,
                                 inv_size, m, dm, r_new, J_new, n, col_lo, col_hi)
            nfev += 1
            pred = 0.0
            for a in range(n):
                acc = 0.0
                for b in range(n):
                    acc += A[a, b] * d[b]
                pred -= g[a] * d[a] + 0.5 * d[a] * acc
            actual = cost - cost_new
            if actual > 0.0 and pred > 0.0:
                rho = actual / pred
                mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                dn, xn = 0.0, 0.0
                for i in range(n):
                    dn += d[i] * d[i]
                for p in range(_NQ):
                    xn += q[p] * q[p]
                for c in range(3):
                    xn += t[c] * t[c]
                xn += logs * logs
                R, R_new, t, t_new, q, q_new = R_new, R, t_new, t, q_new, q
                r, r_new, J, J_new = r_new, r, J_new, J
                logs = logs_new
                done = actual < _FTOL * cost or math.sqrt(dn) < _XTOL * (_XTOL + math.sqrt(xn))
                cost = cost_new
                break
            mu *= nu
            nu *= 2.0
        if done:
            break
    return R, t, logs, q, cost


@_jit
def _fit(joints, sign_x, pose_starts, shape_starts, free_shape, w_prior, lo, hi, max_nfev,
         col_lo, col_hi, order, mu0):  # pragma: no cover - numba
    """fit_hand_fast's work: joints (21, 3) of a hand, x multiplied by sign_x (-1 for a left
    hand) to fit it as a right one; one fit per start, pose_starts (S, POSE_DIM) and
    shape_starts (S, 20), the lowest cost kept. Returns, in the input's frame: rotation (3, 3)
    and translation (3,) of the mirrored problem (as fit_hand reports them), scale, q (_NQ,)
    (pose, shape), fitted joints (21, 3), displacement (21,), rms, and the fitted skeleton's
    mcp (1, 4, 3) and phalanx lengths (1, 5, 3)."""
    target = joints.copy()
    for j in range(NUM_JOINTS):
        target[j, 0] *= sign_x
    mean = np.zeros(3)  # palm spread: the residual's unit
    for i in range(6):
        for c in range(3):
            mean[c] += target[_PALM[i], c] / 6.0
    size = 0.0
    for i in range(6):
        d2 = 0.0
        for c in range(3):
            d2 += (target[_PALM[i], c] - mean[c]) ** 2
        size += math.sqrt(d2) / 6.0
    size = max(size, 1e-9)
    m, dm = np.empty((NUM_JOINTS, 3)), np.empty((NUM_JOINTS, 3, _NQ))
    n = _N if free_shape else 7 + POSE_DIM
    best_cost = np.inf
    bR, bt, blogs, bq = np.eye(3), np.zeros(3), 0.0, np.zeros(_NQ)
    for k in range(pose_starts.shape[0]):
        R, t, logs, q = _start(target, pose_starts[k], shape_starts[k], lo, hi, m, dm)
        R, t, logs, q, cost = _solve(target, R, t, logs, q, n, w_prior, 1.0 / size, lo, hi,
                                     max_nfev, col_lo, col_hi, order, mu0)
        if cost < best_cost:
            best_cost = cost
            bR, bt, blogs, bq = R.copy(), t.copy(), logs, q.copy()
    _fk_jac(bq, m, dm)
    s = math.exp(blogs)
    fitted, disp = np.empty((NUM_JOINTS, 3)), np.empty(NUM_JOINTS)
    sq = 0.0
    for j in range(NUM_JOINTS):
        d2 = 0.0
        for c in range(3):
            v = s * (bR[c, 0] * m[j, 0] + bR[c, 1] * m[j, 1] + bR[c, 2] * m[j, 2]) + bt[c]
            d2 += (v - target[j, c]) ** 2
            fitted[j, c] = v * sign_x if c == 0 else v
        disp[j] = math.sqrt(d2)
        sq += d2
    bt[0] *= sign_x
    mcp, phal = np.empty((1, 4, 3)), np.empty((1, 5, 3))
    for f in range(4):
        mcp[0, f, 0] = MCP_POS[f, 0] * bq[POSE_DIM + 19]
        mcp[0, f, 1] = MCP_POS[f, 1] * bq[POSE_DIM + 15 + f]
        mcp[0, f, 2] = MCP_POS[f, 2]
    for f in range(5):
        for k in range(3):
            phal[0, f, k] = PHALANX_LEN[f, k] * bq[POSE_DIM + 3 * f + k]
    return bR, bt, s, bq, fitted, disp, math.sqrt(sq / NUM_JOINTS), mcp, phal


@functools.cache
def _box(shape: ShapeRange) -> tuple[np.ndarray, np.ndarray]:
    """(_NQ,) lower and upper bounds of (pose, shape factors): model.anatomy._bounds."""
    lo, hi = (np.ascontiguousarray(b[7:]) for b in _bounds(FitConfig(shape=shape)))
    return lo, hi


@functools.cache
def _start_poses(starts: tuple[float, ...]) -> np.ndarray:
    """(S, POSE_DIM) the start poses of config.starts."""
    return np.stack([_start_pose(f) for f in starts])


def fit_hand_fast(joints: np.ndarray, side: int = RIGHT, config: FitConfig | None = None,
                  init: HandFit | None = None) -> HandFit:
    """model.anatomy.fit_hand by the compiled solver of the module doc: (21, 3) joints of a
    `side` hand (LEFT mirrored) -> HandFit, input units and frame; init a previous fit of the
    same hand (its pose the one start, its shape held). config.max_nfev: residual evaluations
    per start, as fit_hand counts them; config.diff_step is unused."""
    cfg = config or FitConfig()
    target = np.asarray(joints, np.float64)
    if target.shape != (NUM_JOINTS, 3) or not np.isfinite(target).all():
        raise ValueError(f"fit_hand_fast needs finite (21, 3) joints, got shape {target.shape}")
    lo, hi = _box(cfg.shape)
    if init is not None:
        poses = np.asarray(init.pose, np.float64).reshape(1, POSE_DIM)
        shapes = np.asarray(init.shape_factors, np.float64).reshape(1, _N_SHAPE)
    else:
        poses = _start_poses(tuple(cfg.starts))
        shapes = np.ones((len(poses), _N_SHAPE))
    R, t, scale, q, fitted, disp, rms, mcp, phal = _fit(
        np.ascontiguousarray(target), -1.0 if side == LEFT else 1.0,
        np.ascontiguousarray(poses), np.ascontiguousarray(shapes), init is None and cfg.free_shape,
        math.sqrt(cfg.pose_prior), lo, hi, int(cfg.max_nfev), _COL_LO, _COL_HI, _ORDER,
        _MU0)
    return HandFit(joints=fitted, pose=q[:POSE_DIM].copy(),
                   skeleton=Skeleton(mcp, np.broadcast_to(THUMB_CMC_POS, (1, 3)), phal),
                   rotation=R, scale=scale, translation=t, rms=rms, displacement=disp,
                   shape_factors=q[POSE_DIM:].copy())


_compiled = threading.Event()
_warming = threading.Lock()


def compiled() -> bool:
    """True once warm_up() has finished in this process: fit_hand_fast runs at full speed."""
    return _compiled.is_set()


def wait_compiled(timeout_s: float) -> bool:
    """Wait up to timeout_s for a running warm_up_in_background() (once per process: later calls
    return at once); returns compiled(). A cached solver loads in about half a second, so the
    first fit can wait for it instead of loading scipy; a first compilation (~20 s) is not
    waited for."""
    global _waited
    if not _compiled.is_set() and not _waited and _warm_thread is not None:
        _waited = True
        _warm_thread.join(timeout_s)
    return _compiled.is_set()


_waited = False


def warm_up_in_background() -> threading.Thread:
    """warm_up() in a daemon thread (started once per process; compiled() says when it is
    done); returns the thread."""
    global _warm_thread
    with _warming:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=warm_up, name="handtrack-fit-compile",
                                            daemon=True)
            _warm_thread.start()
        return _warm_thread


_warm_thread: threading.Thread | None = None


def _load_numba_arraymath_without_blas_check() -> None:
    """Import numba's array-function registry (the first compiled call does it) without the
    BLAS probe it runs at import: that probe imports scipy.linalg and numpy.testing (about
    0.2-0.35 s, holding the GIL) to decide how np.correlate / np.convolve take inner products,
    which no compiled function here calls. np.dot and np.linalg keep their own probe, made when
    a function using them compiles. No-op when the registry is loaded already."""
    import sys

    if "numba.np.arraymath" in sys.modules:
        return
    import numba.np.linalg as nplinalg

    def no_blas():
        raise ImportError("BLAS probe skipped at start-up")

    real = nplinalg.ensure_blas
    nplinalg.ensure_blas = no_blas
    try:
        import numba.np.arraymath  # noqa: F401 - registers numba's array functions
    finally:
        nplinalg.ensure_blas = real


def warm_up() -> float:
    """Compile the solver, or load it from numba's cache (a cold and a warm-started fit of the
    mean hand, both sides), so that the first real fit runs at full speed; returns the seconds
    it took."""
    import time

    from model.kinematics import forward_kinematics

    t0 = time.perf_counter()
    _load_numba_arraymath_without_blas_check()
    hand, _ = forward_kinematics(_start_pose(0.3), Skeleton.mean())
    for side in (LEFT, RIGHT):
        fit = fit_hand_fast(hand, side)
        fit_hand_fast(hand, side, init=fit)
    _compiled.set()
    return time.perf_counter() - t0
