"""The `annotations.json` layout of real-hand test sets (see ../shared/realhands/README.md),
read into full frames with one camera each.

    n, frames = read_annotated(Path("../shared/realhands/hgc_val"))
    for frame in frames:
        frame.rgb (H, W, 3) uint8, frame.K (3, 3), frame.hands: [AnnotatedHand]

A sample stored as a crop of a larger frame (`orig_K_1280x720` and `crop_bbox_xywh_orig`, as
hgc_val is) is pasted back into a black frame of that size, so the detector sees a full frame
and one camera matrix holds for every sample. Hands without 3D joints or intrinsics are kept
for the detection rate but not scored in 3D.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.hand import LEFT, RIGHT

ANNOTATIONS = "annotations.json"


class AnnotationError(ValueError):
    """A test set that cannot be read: the message names the file and the fix."""


@dataclass
class AnnotatedHand:
    """kp2d_px: (21, 2) pixels of the delivered frame; valid: (21,) bool; kp3d_m: (21, 3)
    metres, camera frame, or None; side: LEFT/RIGHT (the person's hand, from the 3D joints);
    wrist_is_palm: joint 0 is the palm centre (STB), not the wrist (it is not scored)."""

    kp2d_px: np.ndarray
    valid: np.ndarray
    kp3d_m: np.ndarray | None
    side: int
    wrist_is_palm: bool


@dataclass
class AnnotatedFrame:
    """rgb: (H, W, 3) uint8; K: (3, 3) or None; name: the image's relative path."""

    rgb: np.ndarray
    K: np.ndarray | None
    hands: list[AnnotatedHand]
    name: str


def load_annotations(folder: Path) -> dict:
    path = Path(folder) / ANNOTATIONS
    if not path.is_file():
        raise AnnotationError(f"{folder} has no {ANNOTATIONS}; pass a folder in the realhands "
                              "layout (see ../shared/realhands/README.md)")
    try:
        data = json.loads(path.read_text())
        samples = data["samples"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AnnotationError(f"{path} is not a readable annotations file ({e}); restore it "
                              "from its source") from None
    if not isinstance(samples, list):
        raise AnnotationError(f"{path}: 'samples' must be a list")
    return data


def read_annotated(folder: Path, max_samples: int = 0) -> tuple[int, Iterator[AnnotatedFrame]]:
    """(how many frames, the frames of an annotated folder in file order), the first
    max_samples (0 = all); the annotations file is read once, here."""
    folder = Path(folder)
    samples = load_annotations(folder)["samples"]
    if max_samples:
        samples = samples[:max_samples]
    return len(samples), _frames(folder, samples)


def _frames(folder: Path, samples: list[dict]) -> Iterator[AnnotatedFrame]:
    for s in samples:
        try:
            yield _frame(folder, s)
        except (KeyError, TypeError, ValueError) as e:
            raise AnnotationError(f"{folder / ANNOTATIONS}: sample {s.get('image', '?')!r} is "
                                  f"malformed ({e}); restore the file from its source") from None


def _frame(folder: Path, s: dict) -> AnnotatedFrame:
    img = cv2.imread(str(folder / s["image"]), cv2.IMREAD_COLOR)
    if img is None:
        raise AnnotationError(f"{folder / s['image']} cannot be read; restore the image")
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    offset = np.zeros(2)
    hands_raw = s["hands"]
    K = next((np.asarray(h["K"], np.float64) for h in hands_raw if h.get("K")), None)
    if s.get("orig_K_1280x720") and s.get("crop_bbox_xywh_orig"):
        x, y, w, h = (float(v) for v in s["crop_bbox_xywh_orig"])
        frame = np.zeros((720, 1280, 3), np.uint8)
        sx, sy = w / rgb.shape[1], h / rgb.shape[0]
        # crop px -> frame px: u * sx + x; the warp keeps the parts inside the frame
        A = np.array([[sx, 0.0, x], [0.0, sy, y]])
        cv2.warpAffine(rgb, A, (1280, 720), dst=frame, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_TRANSPARENT)
        rgb, K = frame, np.asarray(s["orig_K_1280x720"], np.float64)
        scale_uv, offset = np.array([sx, sy]), np.array([x, y])
    else:
        scale_uv = np.ones(2)
    hands = []
    for h in hands_raw:
        kp3d = h.get("kp3d_cam_mm")
        hands.append(AnnotatedHand(
            kp2d_px=np.asarray(h["kp2d_px"], np.float64) * scale_uv + offset,
            valid=np.asarray(h.get("kp2d_valid") or [True] * 21, bool),
            kp3d_m=None if kp3d is None else np.asarray(kp3d, np.float64) / 1000.0,
            side=LEFT if h.get("handedness_geom") == "left" else RIGHT,
            wrist_is_palm=h.get("joint0") == "palm_center"))
    return AnnotatedFrame(rgb, K, hands, str(s["image"]))
