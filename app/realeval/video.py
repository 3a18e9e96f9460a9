"""The engine on a real video clip, against MediaPipe's own landmarks of the same frames.

MediaPipe Hands in its video mode runs on the clip as the reference. Per frame where it finds a
hand, the engine's hand is matched to it (mean 2D distance under half the hand's extent) and
scored:
- coverage: the share of reference hand-frames where the engine reports the hand;
- 2D error: the mean distance (px) between the engine's reported keypoints and MediaPipe's, per
  frame (mean, median, p95, max over frames: a periodic jump shows in p95);
- jitter: the median frame-to-frame acceleration |x(t+1) - 2 x(t) + x(t-1)| (mm per frame^2)
  of the joints over runs of consecutive frames of one hand: the engine's in the camera frame,
  the engine's relative to its middle MCP, and MediaPipe's world landmarks (hand-centred).

    report = evaluate_video(engine, Path("clip.mp4"), max_frames=0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.engine import Engine
from app.engine.errors import EngineError
from app.realeval.matching import match_2d
from model.hand import ROOT
from model.mediapipe_hands import MediaPipeHands


def _accelerations_mm(track: list[tuple[int, np.ndarray]]) -> list[np.ndarray]:
    """[(frame index, (21, 3) m)] of one hand -> per-joint |second difference| (mm) of every
    three consecutive frames."""
    out = []
    for (f0, a), (f1, b), (f2, c) in zip(track, track[1:], track[2:]):
        if f1 == f0 + 1 and f2 == f1 + 1:
            out.append(np.linalg.norm(c - 2.0 * b + a, axis=1) * 1000.0)
    return out


def _median(parts: list[np.ndarray]) -> float:
    return float(np.median(np.concatenate(parts))) if parts else float("nan")


def evaluate_video(engine: Engine, path: Path, max_frames: int = 0,
                   model_complexity: int = 1, progress: bool = True) -> dict:
    """Run the engine (its source: the clip, every frame processed) and MediaPipe's video mode
    side by side. Returns {frames, reference_hand_frames, covered, unmatched_engine_hands (the
    engine's hands MediaPipe does not find), err_px_mean, err_px_median,
    err_px_p95, err_px_max, jitter_camera_mm, jitter_relative_mm, jitter_mediapipe_world_mm,
    tracks (distinct hand ids the engine used)}."""
    try:
        reference = MediaPipeHands(max_hands=engine.tracker.config.max_hands,
                                   model_complexity=model_complexity, video=True)
    except ImportError as e:
        raise EngineError(f"the video reference needs mediapipe ({e}); run "
                          "`pip install mediapipe==0.10.21`") from None
    frames = ref_hands = covered = engine_hands = 0
    errs: list[float] = []
    ours_cam: dict[int, list] = {}
    ours_rel: dict[int, list] = {}
    ref_world: list[tuple[int, np.ndarray]] = []
    ids: set[int] = set()
    total = getattr(engine.source, "frames_promised", 0) or None
    with reference:
        runs = engine.run(max_frames or None)
        for result, rgb in tqdm(runs, total=max_frames or total, desc=path.name,
                                disable=not progress, leave=False):
            f = frames
            frames += 1
            dets = reference.process(rgb, engine.source.mirrored)
            if dets and dets[0].world_m is not None:
                ref_world.append((f, dets[0].world_m))
            ref_hands += len(dets)
            everywhere = [np.ones(len(d.uv_px), bool) for d in dets]
            for _, _, e in match_2d([d.uv_px for d in dets], everywhere,
                                    [h.uv_px for h in result.hands]):
                covered += 1
                errs.append(e)
            engine_hands += len(result.hands)
            for h in result.hands:
                ids.add(h.hand_id)
                j = np.asarray(h.joints_m, np.float64)
                ours_cam.setdefault(h.hand_id, []).append((f, j))
                ours_rel.setdefault(h.hand_id, []).append((f, j - j[ROOT]))
    e = np.array(errs) if errs else np.array([np.nan])
    acc_cam = [a for t in ours_cam.values() for a in _accelerations_mm(t)]
    acc_rel = [a for t in ours_rel.values() for a in _accelerations_mm(t)]
    return {"frames": frames, "reference_hand_frames": ref_hands, "covered": covered,
            "unmatched_engine_hands": engine_hands - covered,
            "err_px_mean": float(np.mean(e)), "err_px_median": float(np.median(e)),
            "err_px_p95": float(np.percentile(e, 95)), "err_px_max": float(np.max(e)),
            "jitter_camera_mm": _median(acc_cam), "jitter_relative_mm": _median(acc_rel),
            "jitter_mediapipe_world_mm": _median(_accelerations_mm(ref_world)),
            "tracks": len(ids)}
