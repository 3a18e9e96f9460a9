"""Small parts of the engine with known answers: queued setting changes, notices, the
ground-truth match."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.notices import Notice, error, info, warning, warning_channel
from app.engine.pending import PendingChanges
from app.engine.sources import TruthHand
from app.engine.truth import match_truth
from app.results import HandResult


def test_pending_changes_apply_in_first_set_order_with_the_last_value():
    applied, pending = [], PendingChanges()

    def mirror(on):
        applied.append(("mirror", on))

    def hands(n):
        applied.append(("hands", n))

    pending.put(mirror, True)
    pending.put(hands, 1)
    pending.put(mirror, False)  # replaces the first, keeps its place
    pending.apply()
    assert applied == [("mirror", False), ("hands", 1)]
    pending.apply()  # nothing left
    assert len(applied) == 2


def test_notices_print_as_the_terminal_shows_them():
    assert str(info("backend: torch", topic="backend")) == "backend: torch"
    assert str(error("camera 0 lost")) == "camera 0 lost"
    assert str(warning("stale file")) == "warning: stale file"
    with pytest.raises(ValueError, match="level"):
        Notice("fatal", "x")
    got = []
    warning_channel(got.append, topic="source")("warning: video x.mp4 ended early")
    assert got == [Notice("warning", "video x.mp4 ended early", "source")]


def _hand(uv_px, joints_m, hand_id=0) -> HandResult:
    return HandResult(hand_id, 1, np.asarray(joints_m, np.float32),
                      np.asarray(uv_px, np.float32), 1.0)


def test_match_truth_pairs_near_hands_and_counts_the_others():
    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.03, (21, 3)) + (0.0, 0.0, 0.5)
    uv = rng.uniform(100, 200, (21, 2))
    far = TruthHand(joints + 0.1, uv + 300.0, 0)
    near = TruthHand(joints, uv, 1)
    shifted = joints + (0.01, 0.0, 0.0)  # 10 mm off in the camera frame, exact after alignment
    match = match_truth([_hand(uv + 1.0, shifted, hand_id=3)], [far, near])
    assert match.missed == 1 and set(match.ground_truth_m) == {-1, 3}
    np.testing.assert_allclose(match.camera_mm, [10.0], atol=1e-3)
    np.testing.assert_allclose(match.root_aligned_mm, [0.0], atol=1e-3)
