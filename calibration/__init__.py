"""Camera calibration: compute (handtrack-calibrate), save/load, defaults for the app.
Imports nothing of ours except model.geometry."""

from calibration.board import BoardConfig, BoardDetector, Detection
from calibration.errors import CalibrationError
from calibration.solve import CalibrationConfig, CalibrationResult, calibrate
from calibration.store import (
    Calibration,
    Intrinsics,
    calibration_dir,
    default_path,
    load_calibration,
    load_intrinsics,
    save_calibration,
    undistort_points,
)

__all__ = [
    "BoardConfig", "BoardDetector", "Calibration", "CalibrationConfig", "CalibrationError",
    "CalibrationResult", "Detection", "Intrinsics", "calibrate", "calibration_dir",
    "default_path", "load_calibration", "load_intrinsics", "save_calibration",
    "undistort_points",
]
