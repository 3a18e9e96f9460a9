"""The demo's ground truth: tracked hands scored against it, and an oracle estimator that takes
it in place of the network (tests and benchmarks: they test tracking and the metric fit, not a
trained model).

    match = match_truth(result.hands, frame.truth)   # TruthMatch: per-hand 3D errors, misses
    engine = Engine(config, estimator=OracleEstimator)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from app.engine.backends import BackendOutput
from app.engine.estimate import CropBatch, HandEstimate, HandEstimator
from app.engine.sources import SourceFrame, TruthHand
from app.results import HandResult
from model.geometry import CropCamera, normalise_pose, transform_points
from model.hand import ROOT


@dataclass
class TruthMatch:
    """ground_truth_m: hand_id -> (21, 3) float32 metres, camera frame, for each tracked hand
    paired with a ground-truth hand, and -1, -2... for ground-truth hands no track matched;
    camera_mm / root_aligned_mm: per paired hand, the mean joint error (mm) in the camera frame
    and after aligning the roots; missed: ground-truth hands no track matched."""

    ground_truth_m: dict[int, np.ndarray] = field(default_factory=dict)
    camera_mm: list[float] = field(default_factory=list)
    root_aligned_mm: list[float] = field(default_factory=list)
    missed: int = 0


def match_truth(hands: list[HandResult], truth: list[TruthHand]) -> TruthMatch:
    """Pair ground-truth hands with tracked hands (nearest mean 2D keypoint distance, under half
    the hand's extent) and measure the 3D errors of the pairs."""
    match = TruthMatch()
    free = {h.hand_id: h for h in hands}
    for k, gt in enumerate(truth):
        best, best_d = None, math.inf
        extent = float(np.ptp(gt.uv_px, axis=0).max())
        for h in free.values():
            d = float(np.linalg.norm(h.uv_px - gt.uv_px, axis=1).mean())
            if d < best_d:
                best, best_d = h, d
        if best is None or best_d > 0.5 * extent:
            match.ground_truth_m[-1 - k] = np.asarray(gt.joints_m, dtype=np.float32)
            match.missed += 1
            continue
        del free[best.hand_id]
        gt_j = np.asarray(gt.joints_m, dtype=np.float64)
        match.ground_truth_m[best.hand_id] = gt_j.astype(np.float32)
        err = np.linalg.norm(best.joints_m - gt_j, axis=1).mean() * 1e3
        rel = np.linalg.norm((best.joints_m - best.joints_m[ROOT]) - (gt_j - gt_j[ROOT]),
                             axis=1).mean() * 1e3
        match.camera_mm.append(float(err))
        match.root_aligned_mm.append(float(rel))
    return match


def truth_poses(truth: list[TruthHand], cams: list[CropCamera]) -> np.ndarray:
    """What a perfect network would decode: for each crop camera the ground-truth hand nearest
    to the crop's centre (by its root keypoint), normalised in that crop's camera. (B, 21, 3)
    float32."""
    poses = []
    for cam in cams:
        c = transform_points(cam.H_inv, np.full((1, 2), (cam.size - 1) / 2.0))[0]
        gt = min(truth, key=lambda g: np.linalg.norm(g.uv_px[ROOT] - c))
        poses.append(normalise_pose(gt.joints_m @ cam.R)[0])
    return np.asarray(poses, np.float32)


class OracleEstimator(HandEstimator):
    """HandEstimator with a perfect network: each crop's pose is truth_poses' (the frames must
    carry ground truth: the demo source). run_backend: run the backend too (its cost stays in
    the "infer" timing, its cloud is kept; benchmarks), else it is not called."""

    run_backend = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._truth: list[TruthHand] = []

    def estimate(self, frame: SourceFrame, *args, **kwargs) -> list[HandEstimate]:
        if frame.truth is None:
            raise ValueError("the oracle estimator needs frames with ground truth (the demo)")
        self._truth = frame.truth
        return super().estimate(frame, *args, **kwargs)

    def infer_canonical(self, batch: CropBatch, tracks, mirrored: bool) -> BackendOutput:
        """infer(batch) as it is: the oracle's poses are in the crops' own cameras, so nothing is
        mirrored for a right-handed backend (its cost, with run_backend, is the same)."""
        return self.infer(batch)

    def infer(self, batch: CropBatch) -> BackendOutput:
        cloud = super().infer(batch).cloud if self.run_backend else None
        return BackendOutput(truth_poses(self._truth, batch.cams), cloud)
