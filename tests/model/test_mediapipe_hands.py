"""The MediaPipe facade: landmarks to pixels, the handedness rule, degenerate hands left out
(on a stand-in for MediaPipe's result, so mediapipe itself is not needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from model.hand import LEFT, RIGHT
from model.mediapipe_hands import MediaPipeHands


def _hand(uv01, label, score):
    lms = SimpleNamespace(landmark=[SimpleNamespace(x=u, y=v) for u, v in uv01])
    hd = SimpleNamespace(classification=[SimpleNamespace(label=label, score=score)])
    return lms, hd


class _FakeHands:
    def __init__(self, hands):
        self.hands = hands

    def process(self, rgb):
        assert rgb.flags.c_contiguous
        lms = [h[0] for h in self.hands] or None
        return SimpleNamespace(multi_hand_landmarks=lms, multi_handedness=[h[1] for h in
                                                                           self.hands])

    def close(self):
        pass


def _facade(hands) -> MediaPipeHands:
    mp = MediaPipeHands.__new__(MediaPipeHands)
    mp.max_hands, mp._hands = 2, _FakeHands(hands)
    return mp


def test_landmarks_in_pixels_and_the_mirrored_handedness_rule():
    uv01 = np.random.default_rng(0).uniform(0.2, 0.8, (21, 2))
    rgb = np.zeros((100, 200, 3), np.uint8)[:, ::-1]  # not contiguous: the facade copies
    hands = _facade([_hand(uv01, "Right", 0.9), _hand(uv01[::-1], "Left", 0.7)])
    mirrored = hands.process(rgb, mirrored=True)
    assert [d.side for d in mirrored] == [RIGHT, LEFT]
    assert [d.side_score for d in mirrored] == [0.9, 0.7]
    np.testing.assert_allclose(mirrored[0].uv_px, uv01 * [200, 100])
    assert mirrored[0].uv_px.dtype == np.float64 and mirrored[0].uv_px.shape == (21, 2)
    assert [d.side for d in hands.process(rgb, mirrored=False)] == [LEFT, RIGHT]


def test_no_hands_and_degenerate_hands_give_no_detection():
    rgb = np.zeros((10, 10, 3), np.uint8)
    assert _facade([]).process(rgb, mirrored=True) == []
    point = np.full((21, 2), 0.5)
    assert _facade([_hand(point, "Left", 0.8)]).process(rgb, mirrored=True) == []


def test_importing_the_facade_does_not_import_mediapipe():
    code = "import sys, model.mediapipe_hands; assert 'mediapipe' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _with_world(uv01, label, score, world):
    lms, hd = _hand(uv01, label, score)
    wl = SimpleNamespace(landmark=[SimpleNamespace(x=x, y=y, z=z) for x, y, z in world])
    return lms, hd, wl


class _FakeWorldHands(_FakeHands):
    def process(self, rgb):
        res = super().process(rgb)
        res.multi_hand_world_landmarks = [h[2] for h in self.hands] or None
        return res


def test_world_landmarks_and_unusable_landmark_sets():
    rng = np.random.default_rng(1)
    uv01 = rng.uniform(0.3, 0.7, (21, 2))
    world = rng.normal(0, 0.03, (21, 3))
    bad_world = world.copy()
    bad_world[4, 2] = np.nan
    nan_uv = uv01.copy()
    nan_uv[3, 0] = np.nan
    far = uv01 + [3.0, 0.0]  # the whole hand three image widths to the right
    border = uv01 + [0.45, 0.0]  # partly outside the right border
    mp = MediaPipeHands.__new__(MediaPipeHands)
    mp.max_hands = 2
    mp._hands = _FakeWorldHands([_with_world(uv01, "Right", 0.9, world),
                                 _with_world(uv01, "Left", 0.9, bad_world),
                                 _with_world(nan_uv, "Left", 0.9, world),
                                 _with_world(far, "Left", 0.9, world),
                                 _with_world(border, "Left", 0.9, world)])
    dets = mp.process(np.zeros((100, 200, 3), np.uint8), mirrored=True)
    assert len(dets) == 3  # the NaN and the far-away landmark sets are dropped
    np.testing.assert_allclose(dets[0].world_m, world)
    assert dets[0].inside == 1.0
    assert dets[1].world_m is None  # NaN world landmarks: the 2D ones are still used
    inside = np.mean(border[:, 0] < 1.0)
    assert 0.0 < dets[2].inside == inside < 1.0


def test_mediapipe_loads_without_matplotlib_and_its_drawing_helpers_still_work():
    """MediaPipe's solutions package imports its drawing helpers (and matplotlib, 0.8 s): they
    are deferred until used."""
    code = ("import sys\n"
            "from model.mediapipe_hands import MediaPipeHands\n"
            "h = MediaPipeHands(1, 0)\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
            "import mediapipe as mp\n"
            "assert mp.solutions.drawing_utils.DrawingSpec is not None\n"
            "assert mp.solutions.drawing_styles.get_default_hand_landmarks_style()\n"
            "assert 'matplotlib' in sys.modules\n"
            "h.close()\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[2])
