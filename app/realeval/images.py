"""The engine on annotated real images: each hand the engine reports, matched to its ground
truth, scored with two baselines from the same detections: MediaPipe's world landmarks as
MediaPipe returns them, and our kinematic hand fitted to them (model.anatomy.fit_hand).

    rows, detail = evaluate_images(engine, Path("../shared/realhands/hgc_val"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.engine import Engine
from app.engine.sources.base import Source
from app.realeval.annotations import read_annotated
from app.realeval.matching import match_2d
from app.realeval.scoring import (
    aligned_errors_mm,
    camera_errors_mm,
    procrustes_errors_mm,
    summary,
)
from model.anatomy import FitConfig, fit_hand

OURS = "handtrack"
MP_WORLD = "MediaPipe world landmarks"
MP_FIT = "kinematic fit to MediaPipe world landmarks"


class AnnotatedImages(Source):
    """The engine's source while it is driven frame by frame (Engine.process): independent
    pictures, each with its own camera (set before each frame)."""

    independent_frames = True
    description = "annotated images"

    def __init__(self):
        self.intrinsics = None


@dataclass
class Scores:
    """Per method, per scored hand: (21,) mm errors (NaN = not scored)."""

    aligned: dict[str, list[np.ndarray]] = field(default_factory=dict)
    procrustes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    camera: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, method: str, pred_m: np.ndarray, gt_m: np.ndarray, mask: np.ndarray,
            in_camera_frame: bool) -> None:
        self.aligned.setdefault(method, []).append(aligned_errors_mm(pred_m, gt_m, mask))
        self.procrustes.setdefault(method, []).append(procrustes_errors_mm(pred_m, gt_m, mask))
        if in_camera_frame:
            self.camera.setdefault(method, []).append(camera_errors_mm(pred_m, gt_m, mask))

    def rows(self) -> dict[str, dict]:
        return {m: summary(self.aligned[m], self.procrustes[m], self.camera.get(m))
                for m in self.aligned}


def evaluate_images(engine: Engine, folder: Path, max_samples: int = 0,
                    progress: bool = True) -> tuple[dict[str, dict], dict]:
    """Run engine.process on every annotated frame of folder (the engine's source must be an
    AnnotatedImages). Returns ({method: summary (app/realeval/scoring.py)}, detail: hands
    (with 3D truth), found (matched by the engine), fit (the baseline fit's config))."""
    scores, hands, found = Scores(), 0, 0
    fit_cfg = FitConfig()
    n, frames = read_annotated(folder, max_samples)
    for frame in tqdm(frames, total=n, desc=folder.name, disable=not progress, leave=False):
        if frame.K is None:
            continue
        engine.source.intrinsics = frame.K
        engine.reset_intrinsics()
        result = engine.process(frame.rgb)
        tracks = {t.hand_id: t for t in engine.tracker.tracks}
        scored = [h for h in frame.hands if h.kp3d_m is not None]
        hands += len(scored)
        pairs = match_2d([h.kp2d_px for h in scored], [h.valid for h in scored],
                         [h.uv_px for h in result.hands])
        for j, i, _ in pairs:
            found += 1
            hand, truth = result.hands[i], scored[j]
            mask = truth.valid.copy()
            if truth.wrist_is_palm:
                mask[0] = False
            scores.add(OURS, hand.joints_m, truth.kp3d_m, mask, in_camera_frame=True)
            track = tracks.get(hand.hand_id)
            world = None if track is None else track.world_m
            if world is None:
                continue
            scores.add(MP_WORLD, world, truth.kp3d_m, mask, in_camera_frame=False)
            fitted = fit_hand(world, track.side, fit_cfg).joints
            scores.add(MP_FIT, fitted, truth.kp3d_m, mask, in_camera_frame=False)
    return scores.rows(), {"hands": hands, "found": found}
