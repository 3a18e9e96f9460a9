"""3D pose metrics with the RHD/STB literature's protocol.

Predictions are normalised poses (root-relative, divided by the middle MCP->PIP bone). For the
evaluation the prediction is root-aligned (its own root subtracted) and rescaled by the
ground-truth bone length, then compared with the ground truth in millimetres.
"""

from __future__ import annotations

import numpy as np

from model.hand import ROOT

PCK_THRESHOLDS_MM = np.linspace(20.0, 50.0, 31)  # 1 mm steps


def to_mm(pose_norm: np.ndarray, scale_m: np.ndarray) -> np.ndarray:
    """Root-align a normalised pose and rescale it by the (ground-truth) bone length.
    pose_norm (N, 21, 3), scale_m (N,) -> (N, 21, 3) millimetres, root at the origin."""
    pose_norm = np.asarray(pose_norm, dtype=np.float64)
    scale_m = np.asarray(scale_m, dtype=np.float64)
    if pose_norm.ndim != 3 or pose_norm.shape[1:] != (21, 3):
        raise ValueError(f"poses must have shape (N, 21, 3), got {pose_norm.shape}")
    if scale_m.shape != pose_norm.shape[:1]:
        raise ValueError(f"scale_m must have shape ({len(pose_norm)},), got {scale_m.shape}")
    aligned = pose_norm - pose_norm[:, ROOT : ROOT + 1]
    return aligned * scale_m[:, None, None] * 1000.0


def joint_errors_mm(pred_norm: np.ndarray, gt_norm: np.ndarray, scale_m: np.ndarray) -> np.ndarray:
    """Per-joint Euclidean errors (N, 21) in mm under the literature's protocol."""
    return np.linalg.norm(to_mm(pred_norm, scale_m) - to_mm(gt_norm, scale_m), axis=-1)


def pck(errors_mm: np.ndarray, thresholds_mm: np.ndarray = PCK_THRESHOLDS_MM) -> np.ndarray:
    """Fraction of joints with an error below each threshold. errors (N, 21) -> (T,)."""
    e = np.asarray(errors_mm, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise ValueError("no errors to compute a PCK curve from (empty evaluation set)")
    return np.array([(e <= t).mean() for t in np.asarray(thresholds_mm)])


def auc(thresholds_mm: np.ndarray, pck_values: np.ndarray) -> float:
    """Area under the PCK curve, normalised by the threshold range, so in [0, 1]."""
    t = np.asarray(thresholds_mm, dtype=np.float64)
    p = np.asarray(pck_values, dtype=np.float64)
    if len(t) < 2:
        raise ValueError("AUC needs at least two thresholds")
    area = np.sum((p[1:] + p[:-1]) * np.diff(t)) / 2.0
    return float(area / (t[-1] - t[0]))


def summarize(errors_mm: np.ndarray, thresholds_mm: np.ndarray = PCK_THRESHOLDS_MM) -> dict:
    """{epe_mm, median_mm, auc_20_50, pck_20, pck_30, pck_40, pck_50, n} from errors (N, 21)."""
    p = pck(errors_mm, thresholds_mm)
    e = np.asarray(errors_mm)
    out = {"epe_mm": float(e.mean()), "median_mm": float(np.median(e)),
           "auc_20_50": auc(thresholds_mm, p), "n": int(e.shape[0])}
    for t in (20, 30, 40, 50):
        out[f"pck_{t}"] = float((e <= t).mean())
    return out
