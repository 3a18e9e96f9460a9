"""MediaPipe Hands (mediapipe 0.10.21, models inside the wheel) behind one small facade, for the
engine's detector (app/engine/detect.py) and for evaluating on MediaPipe's 2D keypoints
(train/mediapipe2d.py).

`MediaPipeHands(...).process(rgb, mirrored)` returns, per hand, the 21 landmarks in the
canonical joint order (MediaPipe's) in pixels, MediaPipe's world landmarks (metres, centred on
the hand), the handedness and its score. In static-image mode (video=False) every call is a
fresh palm detection + landmark model run; in video mode (video=True: consecutive frames of one
stream) the landmark model runs on every frame inside the region the previous frame's landmarks
give, and the palm detector only when a hand was lost (MediaPipe drops a hand whose landmark
model's presence score falls below min_tracking_confidence).
Hands whose landmarks are not finite, all coincide (no crop box can be made from them) or lie
mostly outside the image (more than one hand extent beyond its border) are left out.

Handedness: MediaPipe labels hands as if the image were mirrored (selfie view). For a mirrored
image its label is the person's hand; for an unmirrored image the label is swapped.

mediapipe is imported when the first MediaPipeHands is made, so importing this module is cheap.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from dataclasses import dataclass

import numpy as np

from model.geometry import box_from_keypoints
from model.hand import LEFT, RIGHT, Side


@dataclass
class Detection:
    """uv_px: (21, 2) float64 pixels in the image; side: LEFT/RIGHT (the person's hand);
    side_score: handedness probability of `side` in [0.5, 1]; world_m: (21, 3) float64
    MediaPipe's world landmarks (metres, origin near the hand's centre, axes of the image: x
    right, y down, z away from the camera) or None; inside: the fraction of the 21 landmarks
    inside the image (1 for a hand well within it)."""

    uv_px: np.ndarray
    side: int
    side_score: float
    world_m: np.ndarray | None = None
    inside: float = 1.0


_DRAWING = ("drawing_utils", "drawing_styles")


class _Deferred(types.ModuleType):
    """Stands in sys.modules for a module until one of its attributes is asked for, then
    imports the real one and becomes it."""

    def __getattr__(self, attr: str):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _defer_drawing_modules() -> None:
    """mediapipe's solutions package imports its drawing helpers, and with them matplotlib's
    pyplot (0.8 s and ~50 MB of the detector's start-up, for functions the tracker never
    calls); they are imported when first used instead."""
    if "mediapipe" in sys.modules:
        return
    for short in _DRAWING:
        name = f"mediapipe.python.solutions.{short}"
        sys.modules.setdefault(name, _Deferred(name))


def _bind_deferred() -> None:
    """After `import mediapipe`: the stand-ins as attributes of their package, as real
    submodules are (mp.solutions.drawing_utils)."""
    package = sys.modules.get("mediapipe.python.solutions")
    for short in _DRAWING:
        module = sys.modules.get(f"mediapipe.python.solutions.{short}")
        if package is not None and module is not None and not hasattr(package, short):
            setattr(package, short, module)


def import_mediapipe() -> types.ModuleType:
    """The mediapipe package, imported with its C++ logging quiet and its drawing helpers
    (matplotlib) deferred until used; raises ImportError when it is missing."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # quiet MediaPipe's C++ logging
    _defer_drawing_modules()
    import mediapipe as mp

    _bind_deferred()
    return mp


class MediaPipeHands:
    """mp.solutions.hands.Hands: process(rgb, mirrored) -> [Detection]. model_complexity: 0
    lite, 1 full landmark model; min_detection_confidence: palm detector threshold; video: the
    tracking mode for consecutive frames of one stream (False: every image on its own);
    min_tracking_confidence: in video mode, the landmark model's presence score below which a
    hand counts as lost (the palm detector then runs again). Raises ImportError when mediapipe
    is missing (the caller names the fix)."""

    def __init__(self, max_hands: int = 2, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5, video: bool = False,
                 min_tracking_confidence: float = 0.5):
        mp = import_mediapipe()
        self.max_hands = int(max_hands)
        self.video = bool(video)
        self._hands = mp.solutions.hands.Hands(
            static_image_mode=not self.video, max_num_hands=self.max_hands,
            model_complexity=model_complexity, min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)

    def process(self, rgb: np.ndarray, mirrored: bool) -> list[Detection]:
        """rgb: (H, W, 3) uint8. mirrored: whether the image is a mirrored (selfie) view.
        Returns up to max_hands detections in MediaPipe's order."""
        h, w = rgb.shape[:2]
        res = self._hands.process(np.ascontiguousarray(rgb))
        out: list[Detection] = []
        if not res.multi_hand_landmarks:
            return out
        worlds = getattr(res, "multi_hand_world_landmarks", None) or \
            [None] * len(res.multi_hand_landmarks)
        for lms, hd, wl in zip(res.multi_hand_landmarks, res.multi_handedness, worlds):
            uv = np.array([(p.x * w, p.y * h) for p in lms.landmark], dtype=np.float64)
            inside = usable_fraction(uv, w, h)
            if inside is None:
                continue
            cls = hd.classification[0]
            side = RIGHT if cls.label == "Right" else LEFT
            if not mirrored:
                side = Side(1 - side)
            world = None
            if wl is not None:
                world = np.array([(p.x, p.y, p.z) for p in wl.landmark], dtype=np.float64)
                if world.shape != (21, 3) or not np.all(np.isfinite(world)):
                    world = None
            out.append(Detection(uv, side, float(cls.score), world, inside))
        return out

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> MediaPipeHands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def usable_fraction(uv_px: np.ndarray, width: int, height: int) -> float | None:
    """The fraction of the (21, 2) landmarks inside a width x height image, or None when the
    set is unusable: not finite, degenerate (no crop box can be made from it) or with a point
    more than one hand extent beyond the image's border."""
    if uv_px.shape != (21, 2) or not np.all(np.isfinite(uv_px)):
        return None
    try:
        box = box_from_keypoints(uv_px, margin=1.0)
    except ValueError:  # degenerate landmarks (all in one point): no usable hand
        return None
    reach = box.size
    if (uv_px.min() < -reach or uv_px[:, 0].max() > width + reach
            or uv_px[:, 1].max() > height + reach):
        return None
    inside = ((uv_px[:, 0] >= 0) & (uv_px[:, 0] < width) & (uv_px[:, 1] >= 0)
              & (uv_px[:, 1] < height))
    return float(inside.mean())
