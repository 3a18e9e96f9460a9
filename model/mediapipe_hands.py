"""MediaPipe Hands (mediapipe 0.10.21, models inside the wheel) behind one small facade, for the
engine's detector (app/engine/detect.py) and for evaluating on MediaPipe's 2D keypoints
(train/mediapipe2d.py).

`MediaPipeHands(...).process(rgb, mirrored)` runs palm detection + the landmark model on the
whole image in static-image mode (every call is a fresh detection) and returns, per hand, the 21
landmarks in the canonical joint order (MediaPipe's) in pixels, the handedness and its score.
Hands whose landmarks all coincide (no crop box can be made from them) are left out.

Handedness: MediaPipe labels hands as if the image were mirrored (selfie view). For a mirrored
image its label is the person's hand; for an unmirrored image the label is swapped.

mediapipe is imported when the first MediaPipeHands is made, so importing this module is cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from model.geometry import box_from_keypoints
from model.hand import LEFT, RIGHT, Side


@dataclass
class Detection:
    """uv_px: (21, 2) float64 pixels in the image; side: LEFT/RIGHT (the person's hand);
    side_score: handedness probability of `side` in [0.5, 1]."""

    uv_px: np.ndarray
    side: int
    side_score: float


class MediaPipeHands:
    """mp.solutions.hands.Hands in static-image mode: process(rgb, mirrored) -> [Detection].
    model_complexity: 0 lite, 1 full landmark model; min_detection_confidence: palm detector
    threshold. Raises ImportError when mediapipe is missing (the caller names the fix)."""

    def __init__(self, max_hands: int = 2, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")  # quiet MediaPipe's C++ logging
        import mediapipe as mp

        self.max_hands = int(max_hands)
        self._hands = mp.solutions.hands.Hands(
            static_image_mode=True, max_num_hands=self.max_hands,
            model_complexity=model_complexity, min_detection_confidence=min_detection_confidence)

    def process(self, rgb: np.ndarray, mirrored: bool) -> list[Detection]:
        """rgb: (H, W, 3) uint8. mirrored: whether the image is a mirrored (selfie) view.
        Returns up to max_hands detections in MediaPipe's order."""
        h, w = rgb.shape[:2]
        res = self._hands.process(np.ascontiguousarray(rgb))
        out: list[Detection] = []
        if not res.multi_hand_landmarks:
            return out
        for lms, hd in zip(res.multi_hand_landmarks, res.multi_handedness):
            uv = np.array([(p.x * w, p.y * h) for p in lms.landmark], dtype=np.float64)
            cls = hd.classification[0]
            side = RIGHT if cls.label == "Right" else LEFT
            if not mirrored:
                side = Side(1 - side)
            try:
                box_from_keypoints(uv)
            except ValueError:  # degenerate landmarks (all in one point): no usable hand
                continue
            out.append(Detection(uv, side, float(cls.score)))
        return out

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> MediaPipeHands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
