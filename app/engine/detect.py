"""Hand detection with MediaPipe Hands (mediapipe 0.10.21, models inside the wheel).

The detector runs palm detection + the landmark model on the whole frame and returns, per hand,
21 keypoints in the canonical joint order (MediaPipe's), the handedness and a score. The engine
calls it only when a track is lost or fewer hands are tracked than asked for.

Handedness: MediaPipe labels hands as if the image were mirrored (selfie view). For a frame that
is mirrored (config `mirror` on) its label is the person's hand; for an unmirrored frame the
label is swapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from app.engine.errors import EngineError
from model.geometry import box_from_keypoints
from model.hand import LEFT, RIGHT


@dataclass
class DetectorConfig:
    """model_complexity: 0 lite, 1 full landmark model. min_detection_confidence: palm detector
    threshold (MediaPipe's min_tracking_confidence is not used: every call is a fresh
    detection). box_margin: crop box side / keypoint extent."""

    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    box_margin: float = 1.4


@dataclass
class Detection:
    """uv_px: (21, 2) float64 pixels in the frame; side: LEFT/RIGHT (the person's hand);
    side_score: handedness probability of `side` in [0.5, 1]."""

    uv_px: np.ndarray
    side: int
    side_score: float


class MediaPipeDetector:
    """Facade over mp.solutions.hands.Hands in static-image mode: detect(rgb) -> [Detection]."""

    def __init__(self, config: DetectorConfig | None = None, max_hands: int = 2):
        self.config = config or DetectorConfig()
        if self.config.model_complexity not in (0, 1):
            raise EngineError(f"detector model_complexity must be 0 or 1, got "
                              f"{self.config.model_complexity}")
        os.environ.setdefault("GLOG_minloglevel", "2")  # quiet MediaPipe's C++ logging
        try:
            import mediapipe as mp
        except ImportError as e:
            raise EngineError(f"mediapipe is not installed ({e}); run "
                              "`pip install mediapipe==0.10.21`") from None
        self.max_hands = int(max_hands)
        self._hands = mp.solutions.hands.Hands(
            static_image_mode=True, max_num_hands=self.max_hands,
            model_complexity=self.config.model_complexity,
            min_detection_confidence=self.config.min_detection_confidence)

    def detect(self, rgb: np.ndarray, mirrored: bool) -> list[Detection]:
        """rgb: (H, W, 3) uint8. mirrored: whether the frame is a mirrored (selfie) view.
        Returns up to max_hands detections, best handedness score first."""
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
                side = 1 - side
            try:
                box_from_keypoints(uv, margin=self.config.box_margin)
            except ValueError:  # degenerate landmarks (all in one point): no usable hand
                continue
            out.append(Detection(uv, side, float(cls.score)))
        return out

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> MediaPipeDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
