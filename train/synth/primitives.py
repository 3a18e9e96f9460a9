"""The hand's surface as a union of smooth primitives: round cones (the convex hull of two
spheres: phalanges, metacarpals, forearm) and ellipsoids (palm, thenar / hypothenar pads, wrist,
nails). One row of a (P, PRIM_COLS) float64 array per primitive, in the camera frame (metres).

Row layout: 0 type (CONE / ELLIPSOID), 1 mask label (RHD value 0..33), 2:5 a or centre,
5:8 b, 8 ra, 9 rb, 10:19 ellipsoid axes as a row-major 3x3 matrix (columns = unit axes),
19:22 semi-axes, 22:25 dorsal RGB, 25:28 palmar RGB, 28:31 palmar direction (unit).
"""

from __future__ import annotations

import numpy as np

from train.synth.shape import HandShape

PRIM_COLS = 32
CONE, ELLIPSOID = 0.0, 1.0

# RHD part numbers within one hand (add 2 for the left hand, 18 for the right).
# thumb 0-2, index 3-5, middle 6-8, ring 9-11, little 12-14 (each tip -> palm), palm 15.
PALM_PART = 15
PERSON_LABEL = 1


def rhd_label(part: int, side: int) -> int:
    """RHD mask value of a hand part (0..15) for side 0 (left, 2..17) or 1 (right, 18..33)."""
    return 2 + part + 16 * side


class _Builder:
    """Collects primitives in the hand frame; finish() moves them all to the camera at once."""

    def __init__(self, rot: np.ndarray, trans: np.ndarray, mirror: bool):
        self.M = np.diag([-1.0 if mirror else 1.0, 1.0, 1.0])
        self.A = rot @ self.M  # hand frame -> camera rotation part (det -1 when mirrored)
        self.t = trans
        self.rows: list[np.ndarray] = []

    def _row(self, kind, label, dorsal, palmar, palm_dir):
        r = np.zeros(PRIM_COLS)
        r[0], r[1] = kind, label
        r[22:25], r[25:28], r[28:31] = dorsal, palmar, palm_dir
        return r

    def cone(self, a, b, ra, rb, label, dorsal, palmar, palm_dir):
        r = self._row(CONE, label, dorsal, palmar, palm_dir)
        r[2:5], r[5:8], r[8], r[9] = a, b, ra, rb
        self.rows.append(r)

    def ellipsoid(self, c, axes, semi, label, dorsal, palmar, palm_dir):
        """axes: (3, 3) columns = unit axes in the hand frame; semi: (3,) semi-axes (metres)."""
        r = self._row(ELLIPSOID, label, dorsal, palmar, palm_dir)
        r[2:5] = c
        r[10:19] = np.asarray(axes, dtype=np.float64).reshape(-1)
        r[19:22] = semi
        self.rows.append(r)

    def finish(self) -> np.ndarray:
        P = np.stack(self.rows)  # (P, PRIM_COLS), hand frame
        A, t = self.A, self.t
        P[:, 2:5] = P[:, 2:5] @ A.T + t
        P[:, 5:8] = P[:, 5:8] @ A.T + t
        ell = P[:, 0] == ELLIPSOID
        axes = P[ell, 10:19].reshape(-1, 3, 3)
        P[ell, 10:19] = (A[None] @ axes).reshape(-1, 9)
        d = P[:, 28:31] @ A.T
        P[:, 28:31] = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        return P


def _frame(y, z_hint) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    y = y / np.linalg.norm(y)
    z = np.asarray(z_hint, dtype=np.float64) - y * (np.dot(z_hint, y))
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


def build_primitives(joints_h: np.ndarray, frames_h: np.ndarray, shape: HandShape, side: int,
                     rot: np.ndarray, trans: np.ndarray, forearm_dir_h=(0.0, -1.0, 0.0)):
    """Primitives of one hand.

    joints_h: (21, 3) right-hand joints in the hand frame (metres); frames_h: (21, 3, 3) bone
    frames from forward_kinematics; side: 0 left (mirrored) / 1 right; rot (3, 3), trans (3,):
    hand frame -> camera. Returns (prims (P, PRIM_COLS) float64, joints_cam (21, 3) metres).
    """
    b = _Builder(np.asarray(rot, float), np.asarray(trans, float), mirror=(side == 0))
    s = shape.scale
    R = shape.radius
    dor, pal, nail = shape.skin_dorsal, shape.skin_palmar, shape.nail
    lab = lambda part: rhd_label(part, side)  # noqa: E731
    Z = np.array([0.0, 0.0, 1.0])
    J = joints_h

    # Fingers: 3 phalanges each, tapering; the tip keypoint lies on the surface.
    for f in range(5):
        base = 1 + 4 * f
        chain = [J[base + k] for k in range(4)]
        radii = [R[f] * 1.0, R[f] * 0.9, R[f] * 0.83, R[f] * 0.76]
        if f == 0:
            radii = [R[0] * 1.35, R[0] * 1.0, R[0] * 0.92, R[0] * 0.8]
        for k in range(3):
            a, c = chain[k], chain[k + 1]
            ra, rb = radii[k], radii[k + 1]
            if k == 2:  # pull the end sphere back so the surface ends at the tip keypoint
                d = (c - a) / max(np.linalg.norm(c - a), 1e-9)
                c = c - d * rb
            part = 3 * f + (2 - k)
            b.cone(a, c, ra, rb, lab(part), dor, pal, frames_h[base + k + 1][:, 2])
        # Nail: a thin ellipsoid on the dorsal side of the distal phalanx.
        F = frames_h[base + 3]
        L = np.linalg.norm(chain[3] - chain[2])
        c = chain[2] + F[:, 1] * 0.62 * L - F[:, 2] * radii[3] * 0.72
        b.ellipsoid(c, F, (radii[3] * 0.72, L * 0.33, radii[3] * 0.32), lab(3 * f),
                    nail, nail, -F[:, 2])

    # Palm: metacarpals fanning from the carpus to the knuckles, a flat body, pads.
    pw = shape.palm_width
    carpus = [np.array([x * pw, 0.02 * s, 0.0]) for x in (0.011, 0.002, -0.008, -0.016)]
    for f in range(4):
        mcp = J[5 + 4 * f]
        b.cone(carpus[f], mcp, 0.0125 * s, R[f + 1] * 1.12, lab(PALM_PART), dor, pal, Z)
    mid = 0.5 * (J[5] + J[17])
    y_axis = J[9] - J[0]
    palm_axes = _frame(y_axis, Z)
    centre = 0.55 * mid + 0.45 * np.array([0.0, 0.03 * s, 0.0])
    b.ellipsoid(centre, palm_axes, (0.037 * s * pw, 0.042 * s, 0.0115 * s), lab(PALM_PART),
                dor, pal, Z)
    # Thenar eminence (thumb ball) and hypothenar pad.
    thenar_c = 0.5 * (J[1] + J[2]) + np.array([-0.012, -0.004, 0.006]) * s
    b.ellipsoid(thenar_c, _frame(J[2] - J[1], Z), (0.015 * s, 0.026 * s, 0.012 * s),
                lab(PALM_PART), dor, pal, Z)
    b.cone(J[0] + np.array([0.012, 0.01, 0.0]) * s, J[1], 0.015 * s, 0.0135 * s,
           lab(PALM_PART), dor, pal, Z)
    hyp_c = np.array([-0.024 * pw, 0.036, 0.004]) * s
    b.ellipsoid(hyp_c, palm_axes, (0.012 * s, 0.028 * s, 0.011 * s), lab(PALM_PART), dor, pal, Z)
    # Wrist: an elliptic cross-section, wider than thick.
    b.ellipsoid(np.array([0.0, 0.006, 0.0]) * s, np.eye(3),
                (0.027 * s * pw, 0.024 * s, 0.0165 * s), lab(PALM_PART), dor, pal, Z)

    # Forearm (mask label 1 = person, as in RHD), bare or in a sleeve.
    if shape.forearm:
        d = np.asarray(forearm_dir_h, float)
        d = d / np.linalg.norm(d)
        start = np.array([0.0, -0.01, 0.0]) * s
        length = 0.30 * s
        cs = min(shape.sleeve_start_m, length) if shape.sleeve is not None else length
        r0, r1 = 0.022 * s, 0.030 * s
        rc = r0 + (r1 - r0) * cs / length
        b.cone(start, start + d * cs, r0, rc, PERSON_LABEL, dor, dor, Z)
        if shape.sleeve is not None:
            sl = shape.sleeve
            b.cone(start + d * cs, start + d * length, rc * 1.25, r1 * 1.25, PERSON_LABEL,
                   sl, sl, Z)
    prims = b.finish()
    joints_cam = (b.A @ joints_h.T).T + b.t
    return prims, joints_cam


def joint_radii(shape: HandShape) -> np.ndarray:
    """Approximate surface radius around each joint (21,), metres (for visibility tests)."""
    r = np.empty(21)
    r[0] = 0.028 * shape.scale
    for f in range(5):
        for k in range(4):
            r[1 + 4 * f + k] = shape.radius[f] * (1.0, 0.9, 0.83, 0.3)[k]
    return r
