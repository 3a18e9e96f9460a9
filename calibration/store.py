"""Calibration files: save/load (OpenCV FileStorage YAML; ROS camera_info YAML is read too), the
default location per camera and resolution, and `load_intrinsics` used by the app.

Default file: $HANDTRACK_CALIBRATION_DIR/camera{N}_{W}x{H}.yaml, where the directory defaults to
~/.config/handtrack/calibration ($XDG_CONFIG_HOME respected).
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from calibration.errors import CalibrationError
from calibration.solve import CalibrationResult
from model.geometry import check_K, intrinsics_from_fov, scale_intrinsics

log = logging.getLogger(__name__)
ENV_DIR = "HANDTRACK_CALIBRATION_DIR"


def calibration_dir() -> Path:
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "handtrack" / "calibration"


def default_path(camera: int, width: int, height: int) -> Path:
    return calibration_dir() / f"camera{camera}_{width}x{height}.yaml"


def save_calibration(path: str | Path, result: CalibrationResult, board: str = "") -> Path:
    """Write camera_matrix, distortion_coefficients (1x5), image_width, image_height,
    avg_reprojection_error (+ per-view errors and notes) with cv2.FileStorage (YAML)."""
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CalibrationError(f"cannot create {path.parent} ({e}); choose another --out") from None
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    if not fs.isOpened():
        raise CalibrationError(f"cannot write {path}; choose a writable --out path")
    fs.write("calibration_time", datetime.datetime.now().astimezone().isoformat())
    fs.write("board", board)
    fs.write("image_width", int(result.image_size[0]))
    fs.write("image_height", int(result.image_size[1]))
    fs.write("camera_matrix", np.asarray(result.K, np.float64))
    fs.write("distortion_coefficients", np.asarray(result.dist, np.float64).reshape(1, -1))
    fs.write("avg_reprojection_error", float(result.rms_px))
    fs.write("views", len(result.view_names))
    fs.write("per_view_reprojection_errors", np.asarray(result.view_rms_px, np.float64))
    fs.write("rejected_views", "; ".join(f"{n} ({e:.2f} px)" for n, e in result.rejected))
    fs.release()
    return path


@dataclass
class Calibration:
    """K (3, 3); dist (k,) or None; image size (w, h) px; rms_px (None if unknown)."""

    K: np.ndarray
    dist: np.ndarray | None
    width: int
    height: int
    rms_px: float | None
    path: Path


def _matrix(node) -> np.ndarray | None:
    """An OpenCV !!opencv-matrix node, or a ROS {rows, cols, data} map."""
    if node.empty():
        return None
    if node.isMap() and not node.getNode("data").empty() and node.getNode("dt").empty():
        data = node.getNode("data")
        vals = [data.at(i).real() for i in range(data.size())]
        rows, cols = int(node.getNode("rows").real()), int(node.getNode("cols").real())
        return np.array(vals, np.float64).reshape(rows, cols)
    m = node.mat()
    return None if m is None else np.asarray(m, np.float64)


def load_calibration(path: str | Path) -> Calibration:
    """Read an OpenCV calibration YAML (as saved here) or a ROS camera_info YAML.
    Raises CalibrationError naming the file and the problem."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CalibrationError(f"{path}: no such calibration file; run handtrack-calibrate or "
                               "fix the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CalibrationError(f"{path}: cannot read it ({e})") from None
    if not text.lstrip().startswith("%YAML"):
        text = "%YAML:1.0\n---\n" + text  # ROS files have no directive; OpenCV needs one
    try:
        fs = cv2.FileStorage(text, cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_MEMORY)
    except (cv2.error, SystemError) as e:
        raise CalibrationError(f"{path}: not a YAML calibration file ({str(e).strip()[-80:]}); "
                               "recalibrate with handtrack-calibrate") from None
    try:
        K = _matrix(fs.getNode("camera_matrix"))
        dist = _matrix(fs.getNode("distortion_coefficients"))
        w, h = fs.getNode("image_width").real(), fs.getNode("image_height").real()
        rms_node = fs.getNode("avg_reprojection_error")
        rms = None if rms_node.empty() else float(rms_node.real())
    except (cv2.error, ValueError) as e:
        raise CalibrationError(f"{path}: malformed calibration ({e})") from None
    finally:
        fs.release()
    if K is None or K.shape != (3, 3):
        raise CalibrationError(f"{path}: no 3x3 camera_matrix; expected an OpenCV calibration "
                               "YAML (handtrack-calibrate) or a ROS camera_info YAML")
    try:
        K = check_K(K)
    except ValueError as e:
        raise CalibrationError(f"{path}: invalid camera_matrix ({e})") from None
    if not (w > 0 and h > 0):
        raise CalibrationError(f"{path}: image_width/image_height missing; the file must say "
                               "which resolution it was calibrated at")
    if dist is not None:
        dist = dist.reshape(-1)
        if dist.size not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(dist)):
            raise CalibrationError(f"{path}: distortion_coefficients must have 4, 5, 8, 12 or 14 "
                                   f"finite values, got {dist.size}")
    return Calibration(K, dist, int(w), int(h), rms, path)


@dataclass
class Intrinsics:
    """K (3, 3) for the live resolution; dist (5,) (or as calibrated) or None; source: where
    it came from ("file:PATH" or "fov:60"); message: one line for the user."""

    K: np.ndarray
    dist: np.ndarray | None
    source: str
    message: str

    @property
    def calibrated(self) -> bool:
        return self.source.startswith("file:")


def _fallback(width: int, height: int, hfov_deg: float, why: str) -> Intrinsics:
    K = intrinsics_from_fov(width, height, hfov_deg)
    return Intrinsics(K, None, f"fov:{hfov_deg:g}",
                      f"{why}: using a {hfov_deg:g} deg horizontal field of view guess "
                      f"(f = {K[0, 0]:.0f} px)")


def _from_file(cal: Calibration, width: int, height: int) -> Intrinsics:
    if (cal.width, cal.height) == (width, height):
        return Intrinsics(cal.K, cal.dist, f"file:{cal.path}",
                          f"calibration {cal.path} ({width}x{height})")
    K = scale_intrinsics(cal.K, (cal.width, cal.height), (width, height))
    msg = (f"calibration {cal.path} was made at {cal.width}x{cal.height}; scaled to the live "
           f"{width}x{height}")
    if abs(cal.width / cal.height - width / height) > 0.01:
        msg += (" although the aspect ratio differs (the camera may crop: recalibrate at "
                f"{width}x{height} for accurate depth)")
    return Intrinsics(K, cal.dist, f"file:{cal.path}", msg)


def _size_of(path: Path) -> tuple[int, int] | None:
    m = re.fullmatch(r"camera\d+_(\d+)x(\d+)\.yaml", path.name)
    return (int(m[1]), int(m[2])) if m else None


def load_intrinsics(camera_or_path: int | str | Path | None, width: int, height: int,
                    hfov_deg: float = 60.0) -> Intrinsics:
    """Intrinsics for a live image of width x height px.

    camera index: its default file at this resolution, else one at another resolution with the
    same aspect ratio (scaled; said in the message), else the FOV guess (a broken default file
    is reported in the message, not raised). path: that file (errors raise CalibrationError),
    scaled when the resolution differs. None: the FOV guess (model.geometry.intrinsics_from_fov).
    """
    if width <= 0 or height <= 0:
        raise CalibrationError(f"image size must be positive, got {width}x{height}")
    if camera_or_path is None:
        return _fallback(width, height, hfov_deg, "no calibration given")
    if isinstance(camera_or_path, (str, Path)) and not str(camera_or_path).isdigit():
        return _from_file(load_calibration(camera_or_path), width, height)
    cam = int(camera_or_path)
    exact = default_path(cam, width, height)
    candidates = [exact] if exact.is_file() else []
    aspect = width / height
    others = [(p, s) for p in calibration_dir().glob(f"camera{cam}_*x*.yaml")
              if (s := _size_of(p)) and s != (width, height) and abs(s[0] / s[1] - aspect) < 0.01]
    candidates += [p for p, s in sorted(others, key=lambda ps: -ps[1][0])]
    problems = []
    for p in candidates:
        try:
            return _from_file(load_calibration(p), width, height)
        except CalibrationError as e:
            problems.append(str(e))
            log.warning("ignoring broken calibration: %s", e)
    why = (f"no calibration for camera {cam} at {width}x{height} in {calibration_dir()} (run "
           f"handtrack-calibrate --camera {cam} --size {width}x{height})")
    if problems:
        why = f"ignored a broken calibration ({problems[0]})"
    return _fallback(width, height, hfov_deg, why)


def undistort_points(uv_px, K, dist) -> np.ndarray:
    """Remove lens distortion from pixel positions: (N, 2) px -> (N, 2) px of the ideal pinhole
    camera with the same K (cv2.undistortPointsIter with P = K). dist None or zeros: a copy."""
    uv = np.asarray(uv_px, np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"uv_px must have shape (N, 2), got {uv.shape}")
    if dist is None or not np.any(dist) or len(uv) == 0:
        return uv.copy()
    K = check_K(K)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
    out = cv2.undistortPointsIter(uv.reshape(-1, 1, 2), K, np.asarray(dist, np.float64), None, K,
                                  criteria)
    return out.reshape(-1, 2)
