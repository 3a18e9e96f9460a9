"""Hand detection with MediaPipe Hands: the engine's detector over model.mediapipe_hands.

The detector returns, per hand, 21 keypoints in the canonical joint order (MediaPipe's),
MediaPipe's world landmarks, the handedness and a score (model.mediapipe_hands.Detection). In
video mode (the engine's default "landmarks" tracking on a stream) it runs on every frame and
MediaPipe tracks the hands itself; in static-image mode (independent images, or "flow"
tracking, where the engine calls it only when a track is lost or fewer hands are tracked than
asked for) every call is a fresh palm detection. A frame is mirrored when the config's `mirror`
is on; the side is then MediaPipe's label, else the label swapped (model.mediapipe_hands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.engine.errors import EngineError
from model.config_flags import option
from model.mediapipe_hands import Detection, MediaPipeHands


@dataclass
class DetectorConfig:
    """model_complexity: 0 lite, 1 full landmark model. min_detection_confidence: palm detector
    threshold. min_tracking_confidence: in video mode, the landmark model's hand-presence score
    below which MediaPipe counts a hand as lost and runs the palm detector again. box_margin:
    crop box side / keypoint extent. own_core: MediaPipe's own process (when it works ahead of
    the network) is fixed to one core, the last (app/engine/threads.py)."""

    model_complexity: int = option(1, "MediaPipe model complexity (0 lite, 1 full)",
                                   flag="detector", choices=(0, 1))
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    box_margin: float = 1.4
    own_core: bool = option(True, "let the system move MediaPipe's own process between the "
                                  "cores (default: fixed to the last core, which costs it "
                                  "nothing, so that it and the network do not take each "
                                  "other's core; pass this to every handtrack but one when "
                                  "several run on one machine, or their detectors share a "
                                  "core)",
                            flag="detector-core")


class MediaPipeDetector:
    """model.mediapipe_hands.MediaPipeHands with a DetectorConfig: detect(rgb, mirrored) ->
    [Detection]; video: MediaPipe's tracking mode for the consecutive frames of one stream
    (False: every image on its own). A bad setting or a missing mediapipe is an EngineError
    with the fix."""

    def __init__(self, config: DetectorConfig | None = None, max_hands: int = 2,
                 video: bool = False):
        self.config = config or DetectorConfig()
        if self.config.model_complexity not in (0, 1):
            raise EngineError(f"detector model_complexity must be 0 or 1, got "
                              f"{self.config.model_complexity}")
        try:
            self._hands = MediaPipeHands(max_hands, self.config.model_complexity,
                                         self.config.min_detection_confidence, video=video,
                                         min_tracking_confidence=self.config
                                         .min_tracking_confidence)
        except ImportError as e:
            raise EngineError(f"mediapipe is not installed ({e}); run "
                              "`pip install mediapipe==0.10.21`") from None
        self.max_hands = self._hands.max_hands
        self.video = self._hands.video

    def detect(self, rgb: np.ndarray, mirrored: bool) -> list[Detection]:
        """rgb: (H, W, 3) uint8. mirrored: whether the frame is a mirrored (selfie) view.
        Returns up to max_hands detections."""
        return self._hands.process(rgb, mirrored)

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> MediaPipeDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
