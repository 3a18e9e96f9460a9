"""Measure a 2D detector's errors on annotated real hands, for DetectorNoiseConfig (noise.py).

MediaPipe Hands (model.mediapipe_hands, static images) runs on every image of an annotations.json
set (layout: ../shared/realhands/README.md). A crop with `crop_bbox_xywh_orig` is pasted back
(resized to the box) into a black frame of its source size (1280x720 for hgc_val), so MediaPipe
sees a full frame as in the engine; ground truth is carried into that frame the same way. The
detection nearest the ground truth counts when its mean error is below half the hand's extent.

Per matched hand, with side = 1.4 x the ground truth's larger extent (the engine's box side):
- swap: a pair of neighbouring long fingers whose swapped labels fit the ground truth better;
- offset: the mean error vector (whole-hand shift) / side;
- scale: log of the detection's RMS spread about its centre over the ground truth's;
- per-joint residual: the error after the offset and scale are removed, / side; per joint the
  sigma per axis is the RMS over hands and axes of the inliers (residual < outlier_frac);
- outliers: the share of joints with a residual above outlier_frac.
Only calibration: these images are never training images.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from model.hand import NUM_JOINTS
from train.data.noise2d import NEIGHBOUR_FINGERS
from train.procedural.noise import swap_fingers

OUTLIER_FRAC = 0.1  # residual / box side above which a joint counts as a gross error


def full_frame(image: np.ndarray, bbox_xywh, frame_wh: tuple[int, int]) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """Paste a crop (h, w, 3) back into a black frame (H, W, 3) at bbox_xywh (resized to the
    box). Returns (frame, A (2, 3) affine crop px -> frame px)."""
    x, y, bw, bh = (float(v) for v in bbox_xywh)
    W, H = frame_wh
    h, w = image.shape[:2]
    sx, sy = bw / w, bh / h
    # pixel centres: crop u -> frame x + (u + 0.5) * sx - 0.5
    A = np.array([[sx, 0.0, x + 0.5 * sx - 0.5], [0.0, sy, y + 0.5 * sy - 0.5]])
    frame = cv2.warpAffine(image, A, (W, H), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
    return frame, A


def hand_errors(det: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict:
    """The error terms of one detection det (21, 2) against gt (21, 2) px, valid (21,) bool:
    side, swapped pair index (-1 none), offset (2,), log_scale, residual (21, 2) / side."""
    side = 1.4 * float(np.ptp(gt[valid], axis=0).max())
    err0 = np.linalg.norm(det - gt, axis=1)[valid].mean()
    swapped = -1
    for k in range(len(NEIGHBOUR_FINGERS)):
        alt = swap_fingers(det[None], np.array([k]))[0]
        if np.linalg.norm(alt - gt, axis=1)[valid].mean() < 0.8 * err0:
            swapped, err0 = k, np.linalg.norm(alt - gt, axis=1)[valid].mean()
            det = alt
    d, g = det[valid], gt[valid]
    cd, cg = d.mean(0), g.mean(0)
    log_scale = float(np.log(np.sqrt(((d - cd) ** 2).sum(1).mean())
                             / np.sqrt(((g - cg) ** 2).sum(1).mean())))
    aligned = cg + (det - cd) * np.exp(-log_scale)  # scale and shift taken out
    return {"side": side, "swap": swapped, "offset": (cd - cg) / side, "log_scale": log_scale,
            "residual": (aligned - gt) / side, "err_px": np.linalg.norm(det - gt, axis=1)}


def measure(annotations: str | Path, frame_wh: tuple[int, int] = (1280, 720),
            model_complexity: int = 1, progress: bool = True) -> dict:
    """Run MediaPipe over an annotations.json set and summarise its errors (module doc).
    Returns plain data: n_images, n_hands, detected, swap_prob, offset, scale, joint_sigma
    (21,), outlier_prob, mean_err_frac, per-joint mean error / side, median error px."""
    from tqdm import tqdm

    from model.mediapipe_hands import MediaPipeHands

    path = Path(annotations)
    ann = json.loads(path.read_text())
    rows, n_hands = [], 0
    with MediaPipeHands(max_hands=2, model_complexity=model_complexity) as mp:
        for s in tqdm(ann["samples"], desc="mediapipe", disable=not progress):
            img = cv2.cvtColor(cv2.imread(str(path.parent / s["image"])), cv2.COLOR_BGR2RGB)
            A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            if "crop_bbox_xywh_orig" in s:
                img, A = full_frame(img, s["crop_bbox_xywh_orig"], frame_wh)
            found = [d.uv_px for d in mp.process(img, mirrored=False)]
            for h in s["hands"]:
                n_hands += 1
                gt = np.asarray(h["kp2d_px"], np.float64) @ A[:, :2].T + A[:, 2]
                valid = np.asarray(h["kp2d_valid"], bool)
                if not found or valid.sum() < 5:
                    continue
                extent = float(np.ptp(gt[valid], axis=0).max())
                dist = [np.linalg.norm(f - gt, axis=1)[valid].mean() for f in found]
                k = int(np.argmin(dist))
                if dist[k] > 0.5 * extent:
                    continue
                rows.append(hand_errors(found[k], gt, valid) | {"valid": valid})
    if not rows:
        raise ValueError(f"MediaPipe found no hand in {path}; check the images")
    res = np.stack([r["residual"] for r in rows])  # (N, 21, 2)
    valid = np.stack([r["valid"] for r in rows])  # (N, 21)
    rnorm = np.linalg.norm(res, axis=-1)  # (N, 21)
    inlier = valid & (rnorm < OUTLIER_FRAC)
    sigma = [float(np.sqrt((res[inlier[:, j], j] ** 2).mean())) if inlier[:, j].any() else 0.0
             for j in range(NUM_JOINTS)]
    offsets = np.stack([r["offset"] for r in rows])
    err = np.stack([r["err_px"] / r["side"] for r in rows])  # (N, 21)
    return {
        "source": str(path), "n_images": len(ann["samples"]), "n_hands": n_hands,
        "detected": len(rows) / n_hands,
        "swap_prob": float(np.mean([r["swap"] >= 0 for r in rows])),
        "offset": float(np.sqrt((offsets ** 2).mean())),
        "offset_mean": offsets.mean(0).tolist(),
        "scale": float(np.std([r["log_scale"] for r in rows])),
        "scale_mean": float(np.mean([r["log_scale"] for r in rows])),
        "joint_sigma": sigma,
        "outlier_prob": float((valid & ~inlier).sum() / valid.sum()),
        "mean_err_frac": float(err[valid].mean()),
        "joint_err_frac": [float(err[valid[:, j], j].mean()) for j in range(NUM_JOINTS)],
        "median_err_px": float(np.median(np.concatenate([r["err_px"] for r in rows]))),
        "mean_side_px": float(np.mean([r["side"] for r in rows])),
    }
