"""MediaPipe's 2D landmarks on a data set's full images, carried into the evaluation crops.

handtrack-eval --keypoints2d mediapipe feeds these to the 2D expert instead of the noisy ground
truth, to measure the fused model with a real detector's errors. MediaPipe runs through
model.mediapipe_hands, the engine's detector's wrapper, with the engine's default settings. A
sample counts as detected when one of MediaPipe's hands lies, on average over the 21 keypoints,
within half the hand's 2D extent of the ground truth (the engine's rule for matching tracks to
ground truth).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from model.geometry import box_from_keypoints, crop_camera, transform_points
from model.mediapipe_hands import MediaPipeHands


def mediapipe_crop_keypoints(dataset, indices: list[int], progress: bool = True,
                             model_complexity: int = 1) -> dict[int, np.ndarray]:
    """{index: (21, 2) MediaPipe landmarks in the crop pixels of sample `index`} for the samples
    of an unaugmented HandDataset where MediaPipe finds the hand; the crop is the one
    make_sample builds (box_from_keypoints of the ground truth, crop_camera without roll)."""
    if getattr(dataset, "augment", False):
        raise ValueError("MediaPipe keypoints need the unaugmented evaluation crops")
    try:
        hands = MediaPipeHands(max_hands=2, model_complexity=model_complexity)
    except ImportError as e:
        raise ValueError(f"--keypoints2d mediapipe needs mediapipe ({e}); run "
                         "`pip install mediapipe==0.10.21`") from None
    c = dataset.config
    out: dict[int, np.ndarray] = {}
    with hands:
        for i in tqdm(indices, desc="mediapipe", disable=not progress, leave=False):
            raw = dataset.raw(i)
            found = [d.uv_px for d in hands.process(raw.rgb, mirrored=False)]
            if not found:
                continue
            gt = np.asarray(raw.uv_px, np.float64)
            extent = float(np.ptp(gt, axis=0).max())
            dist = [float(np.linalg.norm(f - gt, axis=1).mean()) for f in found]
            k = int(np.argmin(dist))
            if dist[k] > 0.5 * extent:
                continue
            cam = crop_camera(raw.K, box_from_keypoints(gt, margin=c.crop_margin), c.crop_size)
            out[int(i)] = transform_points(cam.H, found[k])  # (21, 2) crop px
    return out
