"""3D errors of one hand against its ground truth, under the protocols of the literature.

- aligned (root-aligned EPE, the RHD/STB protocol): both hands root-relative at the middle MCP,
  the prediction rescaled to the true middle MCP->PIP bone length;
- procrustes (PA-MPJPE): the prediction aligned to the truth by the best rotation, translation
  and scale;
- camera: no alignment at all (where the 3D hand is in the camera frame).

Every function takes (21, 3) metres and a (21,) bool mask of the joints to score and returns
(21,) millimetres, NaN where the mask is off.
"""

from __future__ import annotations

import numpy as np

from model.hand import ROOT, SCALE_BONE
from train import metrics


def _masked(err_mm: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, err_mm, np.nan)


def aligned_errors_mm(pred_m: np.ndarray, gt_m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Root-aligned at the middle MCP, the prediction scaled to the true scale bone."""
    p = np.asarray(pred_m, np.float64) - pred_m[ROOT]
    g = np.asarray(gt_m, np.float64) - gt_m[ROOT]
    bone_p = np.linalg.norm(p[SCALE_BONE[1]] - p[SCALE_BONE[0]])
    bone_g = np.linalg.norm(g[SCALE_BONE[1]] - g[SCALE_BONE[0]])
    p = p * (bone_g / max(bone_p, 1e-9))
    return _masked(np.linalg.norm(p - g, axis=1) * 1000.0, mask)


def procrustes_errors_mm(pred_m: np.ndarray, gt_m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """After the similarity transform (rotation, translation, scale) that best maps the
    prediction's scored joints onto the truth's (Umeyama)."""
    p = np.asarray(pred_m, np.float64)
    g = np.asarray(gt_m, np.float64)
    a, b = p[mask], g[mask]
    ma, mb = a.mean(0), b.mean(0)
    A, B = a - ma, b - mb
    U, S, Vt = np.linalg.svd(B.T @ A)
    d = np.sign(np.linalg.det(U @ Vt)) or 1.0
    D = np.diag([1.0, 1.0, d])
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / max(np.sum(A * A), 1e-18))
    aligned = (p - ma) @ R.T * s + mb
    return _masked(np.linalg.norm(aligned - g, axis=1) * 1000.0, mask)


def camera_errors_mm(pred_m: np.ndarray, gt_m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """No alignment: the error of the 3D hand where it was placed in the camera frame."""
    d = np.asarray(pred_m, np.float64) - np.asarray(gt_m, np.float64)
    return _masked(np.linalg.norm(d, axis=1) * 1000.0, mask)


def summary(aligned: list[np.ndarray], procrustes: list[np.ndarray],
            camera: list[np.ndarray] | None = None) -> dict:
    """{epe_mm, median_mm, pa_mm, auc_20_50, pck_20, pck_50, camera_mm, hands} over hands'
    per-joint errors (each (21,) mm with NaN for joints not scored)."""
    if not aligned:
        return {"hands": 0}
    e = np.concatenate(aligned)
    e = e[np.isfinite(e)]
    pa = np.concatenate(procrustes)
    pa = pa[np.isfinite(pa)]
    curve = metrics.pck(e)
    out = {"epe_mm": float(e.mean()), "median_mm": float(np.median(e)),
           "pa_mm": float(pa.mean()), "auc_20_50": metrics.auc(metrics.PCK_THRESHOLDS_MM, curve),
           "pck_20": float((e <= 20).mean()), "pck_50": float((e <= 50).mean()),
           "hands": len(aligned)}
    if camera:
        c = np.concatenate(camera)
        out["camera_mm"] = float(c[np.isfinite(c)].mean())
    return out
