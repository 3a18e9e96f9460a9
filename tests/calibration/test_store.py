"""Calibration files: OpenCV FileStorage round trip, ROS camera_info, default paths, scaling,
fallback, undistort_points."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration import (
    CalibrationError,
    default_path,
    load_calibration,
    load_intrinsics,
    save_calibration,
    undistort_points,
)
from calibration.solve import CalibrationResult
from model.geometry import intrinsics_from_fov
from tests.calibration.render import DIST_TRUE, K_TRUE

RESULT = CalibrationResult(K=K_TRUE.copy(), dist=DIST_TRUE.copy(), image_size=(640, 480),
                           rms_px=0.123, view_names=["a", "b"], view_rms_px=[0.1, 0.14],
                           rejected=[("c", 3.2)])

ROS = """image_width: 640
image_height: 480
camera_name: webcam
camera_matrix:
  rows: 3
  cols: 3
  data: [600.0, 0.0, 322.5, 0.0, 598.0, 236.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.12, 0.05, 0.0008, -0.0005, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
"""


@pytest.fixture
def cal_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDTRACK_CALIBRATION_DIR", str(tmp_path / "cal"))
    return tmp_path / "cal"


def test_saved_file_reads_back_identically_with_filestorage(tmp_path):
    path = save_calibration(tmp_path / "c.yaml", RESULT, "chessboard 9x6")
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    assert np.array_equal(fs.getNode("camera_matrix").mat(), RESULT.K)
    assert np.array_equal(fs.getNode("distortion_coefficients").mat().reshape(-1), RESULT.dist)
    assert fs.getNode("image_width").real() == 640 and fs.getNode("image_height").real() == 480
    assert fs.getNode("avg_reprojection_error").real() == 0.123
    fs.release()
    cal = load_calibration(path)
    assert np.array_equal(cal.K, RESULT.K) and np.array_equal(cal.dist, RESULT.dist)
    assert (cal.width, cal.height, cal.rms_px) == (640, 480, 0.123)


def test_ros_camera_info(tmp_path):
    (tmp_path / "ros.yaml").write_text(ROS)
    cal = load_calibration(tmp_path / "ros.yaml")
    np.testing.assert_array_equal(cal.K, K_TRUE)
    np.testing.assert_array_equal(cal.dist, DIST_TRUE)
    assert (cal.width, cal.height, cal.rms_px) == (640, 480, None)


@pytest.mark.parametrize("text, words", [
    ("", "not a YAML calibration|no 3x3 camera_matrix"),
    ("just: [text\n", "not a YAML calibration"),
    ("image_width: 640\nimage_height: 480\n", "no 3x3 camera_matrix"),
])
def test_unreadable_files(tmp_path, text, words):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(CalibrationError, match=words):
        load_calibration(tmp_path / "bad.yaml")
    with pytest.raises(CalibrationError, match="no such calibration file"):
        load_calibration(tmp_path / "missing.yaml")


def test_default_file_is_picked_up_and_scaled(cal_dir):
    save_calibration(default_path(1, 640, 480), RESULT)
    exact = load_intrinsics(1, 640, 480)
    assert exact.calibrated and np.array_equal(exact.K, K_TRUE)
    scaled = load_intrinsics(1, 1280, 960)  # same aspect ratio: scaled, and said so
    assert "scaled to the live 1280x960" in scaled.message
    assert scaled.K[0, 0] == pytest.approx(1200.0)
    assert scaled.K[0, 2] == pytest.approx((322.5 + 0.5) * 2 - 0.5)
    assert np.array_equal(scaled.dist, DIST_TRUE)
    other = load_intrinsics(1, 1280, 720)  # 16:9 from a 4:3 calibration: not used
    assert not other.calibrated and "handtrack-calibrate --camera 1 --size 1280x720" in \
        other.message
    np.testing.assert_allclose(other.K, intrinsics_from_fov(1280, 720, 60.0))


def test_fallback_and_broken_default(cal_dir):
    none = load_intrinsics(0, 640, 480, hfov_deg=70)
    assert none.source == "fov:70" and none.dist is None
    np.testing.assert_allclose(none.K, intrinsics_from_fov(640, 480, 70))
    default_path(0, 640, 480).parent.mkdir(parents=True)
    default_path(0, 640, 480).write_text("garbage: [")
    broken = load_intrinsics(0, 640, 480)
    assert not broken.calibrated and "ignored a broken calibration" in broken.message
    with pytest.raises(CalibrationError):  # an explicit path is the user's choice: raise
        load_intrinsics(str(default_path(0, 640, 480)), 640, 480)


def test_explicit_path_with_other_aspect_warns(tmp_path):
    path = save_calibration(tmp_path / "c.yaml", RESULT)
    intr = load_intrinsics(path, 1280, 720)
    assert intr.calibrated and "aspect ratio differs" in intr.message


def test_undistort_points_inverts_distortion():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(-0.5, 0.5, (50, 2)), np.ones((50, 1))], 1)  # z = 1 m
    ideal = (pts @ K_TRUE.T)[:, :2]
    distorted = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K_TRUE, DIST_TRUE)[0]
    got = undistort_points(distorted.reshape(-1, 2), K_TRUE, DIST_TRUE)
    assert np.abs(got - ideal).max() < 1e-3
    assert np.array_equal(undistort_points(ideal, K_TRUE, None), ideal)
