"""Shared test data for the sink tests (no tests here): deterministic FrameResults and frames."""

from __future__ import annotations

import numpy as np

from app.results import FrameResult, HandResult

T0 = 1_700_000_000.123456  # a realistic epoch time: float32 could not hold it


def make_result(frame_id: int, n_hands: int | None = None, width: int = 96,
                height: int = 64) -> FrameResult:
    """A FrameResult that depends only on frame_id (so a subprocess can make the same one).
    n_hands defaults to frame_id % 3 (0, 1, 2 hands)."""
    rng = np.random.default_rng(frame_id)
    n = frame_id % 3 if n_hands is None else n_hands
    hands = []
    for k in range(n):
        joints = rng.normal([0.0, 0.0, 0.5], 0.05, size=(21, 3)).astype(np.float32)  # (21, 3) m
        uv = rng.uniform(0, [width, height], size=(21, 2)).astype(np.float32)  # (21, 2) px
        hands.append(HandResult(hand_id=3 * frame_id + k, side=k % 2, joints_m=joints,
                                uv_px=uv, confidence=float(rng.uniform(0.5, 1.0))))
    return FrameResult(frame_id=frame_id, capture_time=T0 + frame_id / 30.0, width=width,
                       height=height, hands=hands, timings_ms={"infer": 1.5 + frame_id})


def make_image(frame_id: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A smooth (H, W, 3) uint8 RGB image that changes with frame_id (compresses well)."""
    y, x = np.mgrid[0:height, 0:width]
    r = 128 + 100 * np.sin(x / 9.0 + frame_id / 5.0)
    g = 128 + 100 * np.cos(y / 7.0 - frame_id / 7.0)
    b = np.full_like(r, (frame_id * 8) % 200 + 20)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def make_interaction(seed: int, gesture: str = "thumbs_up", events=(("thumbs_up", 4),)):
    """A deterministic app.engine.gestures.Interaction (for the sink and recorder tests)."""
    from app.results import GestureEvent, Interaction
    from model.gestures import HandMeasures

    rng = np.random.default_rng(1000 + seed)
    n = rng.normal(size=3)
    m = HandMeasures(pinch=rng.uniform(0, 1, 4), curl=rng.uniform(0, 1, 5),
                     grab=float(rng.uniform(0, 1)), palm_m=rng.normal([0, 0, 0.5], 0.05),
                     palm_normal=n / np.linalg.norm(n), palm_direction=np.array([0.0, -1.0, 0.0]),
                     hand_size_m=float(rng.uniform(0.07, 0.1)))
    return Interaction(m, extended=(True, False, False, False, False),
                       pinching=(False, True, False, False), gesture=gesture,
                       events=[GestureEvent(name, code) for name, code in events])
