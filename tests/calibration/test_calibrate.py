"""Calibration on synthetic board photos from a known camera (render.py): K recovered within 1%,
RMS under 0.5 px, bad views rejected, bad inputs explained."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import BoardConfig, BoardDetector, CalibrationError, calibrate
from calibration.solve import CalibrationConfig
from tests.calibration.render import DIST_TRUE, K_TRUE, H, W, exact_detection, pose, random_views

BOARD = BoardConfig(9, 6, 0.025)


@pytest.fixture(scope="module")
def detections():
    views = random_views(BOARD, 13, seed=1)
    det = BoardDetector(BOARD)
    found = [det.detect(img) for _, _, img in views]
    assert all(d is not None for d in found), "the detector missed a rendered board"
    return found


def test_recovers_known_camera(detections):
    r = calibrate(detections, (W, H))
    rel = np.abs(np.array([r.K[0, 0], r.K[1, 1], r.K[0, 2], r.K[1, 2]])
                 / K_TRUE[[0, 1, 0, 1], [0, 1, 2, 2]] - 1)
    print(f"fx fy cx cy relative error {np.round(100 * rel, 3)} %, RMS {r.rms_px:.3f} px, "
          f"k1 {r.dist[0]:.4f} (true {DIST_TRUE[0]})")
    assert rel.max() < 0.01
    assert r.rms_px < 0.5
    assert len(r.view_rms_px) == 13 and max(r.view_rms_px) < 0.5 and r.rejected == []


def test_corrupted_view_is_rejected(detections):
    bad = list(detections)
    rng = np.random.default_rng(5)
    d = bad[4]
    bad[4] = type(d)(d.corners_px + rng.normal(0, 4.0, d.corners_px.shape).astype(np.float32),
                     d.object_m, d.ids)
    names = [f"img{i:02d}.png" for i in range(len(bad))]
    r = calibrate(bad, (W, H), names)
    assert [n for n, _ in r.rejected] == ["img04.png"]
    assert r.rejected[0][1] > 2.0 and "img04.png" not in r.view_names
    assert abs(r.K[0, 0] / K_TRUE[0, 0] - 1) < 0.01


def test_no_board_anywhere():
    with pytest.raises(CalibrationError, match="no board found in any of the 3 images"):
        calibrate([None, None, None], (W, H))


def test_too_few_views(detections):
    with pytest.raises(CalibrationError, match="only 3 views with a board.*at least 8"):
        calibrate(detections[:3] + [None], (W, H))


def test_parallel_views_are_degenerate():
    """Same tilt, different places and distances: Zhang's method cannot find f."""
    views = [exact_detection(BOARD, *pose(20, -10, 5, [x, y, z], BOARD))
             for x, y, z in [(-0.05, 0, 0.5), (0.05, 0, 0.5), (0, -0.04, 0.6), (0, 0.04, 0.45),
                             (0.03, 0.03, 0.55), (-0.03, -0.03, 0.65), (0, 0, 0.5), (0.02, 0, 0.7)]]
    with pytest.raises(CalibrationError, match="degenerate views.*tilt the board"):
        calibrate(views, (W, H), config=CalibrationConfig(min_views=8))


def test_exact_corners_give_exact_camera():
    """With perfect corners (no rendering) the solver returns the true camera."""
    rng = np.random.default_rng(3)
    views = [exact_detection(BOARD, *pose(*rng.uniform(-30, 30, 3),
                                          [0, 0, rng.uniform(0.45, 0.7)], BOARD))
             for _ in range(10)]
    r = calibrate(views, (W, H))
    np.testing.assert_allclose(r.K, K_TRUE, rtol=1e-4, atol=1e-2)
    assert r.rms_px < 1e-3


def test_nearly_parallel_views_are_rejected():
    """Tilts within +-2 deg: with the quick parallel check off, the solver's uncertainty check
    still refuses (cy uncertain by about 4%)."""
    rng = np.random.default_rng(0)
    views = []
    for _ in range(10):
        d = exact_detection(BOARD, *pose(20 + rng.uniform(-2, 2), -10 + rng.uniform(-2, 2), 5,
                                         [rng.uniform(-0.05, 0.05), 0, rng.uniform(0.45, 0.7)],
                                         BOARD))
        d.corners_px += rng.normal(0, 0.1, d.corners_px.shape).astype(np.float32)
        views.append(d)
    with pytest.raises(CalibrationError, match="do not pin the camera down.*tilt the board"):
        calibrate(views, (W, H), config=CalibrationConfig(min_tilt_spread_deg=0.0))
