"""Calibration boards (chessboard or ChArUco) and their detection in a grey image."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import CalibrationError

_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 1e-3)


@dataclass(frozen=True)
class BoardConfig:
    """A planar calibration target.

    chessboard: cols x rows are the INNER corners (OpenCV convention: a board of 10 x 7 squares
    has 9 x 6 inner corners). charuco: cols x rows are SQUARES; markers from `dictionary`.
    square_m: side of one square in metres (measure it on the print).
    """

    cols: int = 9
    rows: int = 6
    square_m: float = 0.025
    kind: str = "chessboard"  # or "charuco"
    marker_m: float | None = None  # ChArUco marker side; default 0.75 * square_m
    dictionary: str = "DICT_5X5_100"  # a cv2.aruco predefined dictionary name

    def __post_init__(self) -> None:
        if self.kind not in ("chessboard", "charuco"):
            raise CalibrationError(f"board kind {self.kind!r} is unknown; use chessboard or "
                                   "charuco")
        if min(self.cols, self.rows) < (3 if self.kind == "charuco" else 2):
            raise CalibrationError(f"board {self.cols}x{self.rows} is too small; give the "
                                   "inner corners of a chessboard, e.g. --board 9x6")
        if not self.square_m > 0:
            raise CalibrationError(f"--square {self.square_m}: the square size must be > 0 "
                                   "metres, e.g. --square 0.025")
        if self.kind == "charuco" and not hasattr(cv2.aruco, self.dictionary):
            raise CalibrationError(f"--dictionary {self.dictionary}: not an ArUco dictionary; "
                                   "use e.g. DICT_5X5_100 or DICT_4X4_50")

    @property
    def label(self) -> str:
        if self.kind == "charuco":
            return (f"charuco {self.cols}x{self.rows} squares of {self.square_m} m "
                    f"({self.dictionary})")
        return f"chessboard {self.cols}x{self.rows} inner corners, squares of {self.square_m} m"

    def object_points(self) -> np.ndarray:
        """All corner positions on the board plane (z = 0), metres. (N, 3) float32, in the
        order the detector reports them (chessboard: row by row; ChArUco: by corner id)."""
        if self.kind == "charuco":
            return np.asarray(charuco_board(self).getChessboardCorners(), np.float32)
        grid = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2)  # (N, 2) x along cols
        out = np.zeros((len(grid), 3), np.float32)
        out[:, :2] = grid * self.square_m
        return out


def charuco_board(config: BoardConfig):
    marker = config.marker_m or 0.75 * config.square_m
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, config.dictionary))
    return cv2.aruco.CharucoBoard((config.cols, config.rows), config.square_m, marker, dictionary)


@dataclass
class Detection:
    """Board corners found in one image.

    corners_px: (N, 2) float32 sub-pixel corner positions; object_m: (N, 3) float32 matching
    board points (z = 0); ids: (N,) int corner ids (0..N_board-1).
    """

    corners_px: np.ndarray
    object_m: np.ndarray
    ids: np.ndarray


class BoardDetector:
    """detect(gray (H, W) uint8) -> Detection or None. Chessboard corners are refined with
    cv2.cornerSubPix; ChArUco corners are interpolated from the markers by cv2.aruco."""

    def __init__(self, config: BoardConfig, min_charuco_corners: int = 8) -> None:
        self.config = config
        self._obj = config.object_points()
        self._min = min_charuco_corners
        if config.kind == "charuco":
            self._charuco = cv2.aruco.CharucoDetector(charuco_board(config))

    def detect(self, gray: np.ndarray) -> Detection | None:
        gray = np.asarray(gray)
        if gray.ndim == 3:
            gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
        if self.config.kind == "charuco":
            corners, ids, _, _ = self._charuco.detectBoard(gray)
            if ids is None or len(ids) < self._min:
                return None
            ids = ids.reshape(-1).astype(np.int64)
            return Detection(corners.reshape(-1, 2).astype(np.float32), self._obj[ids], ids)
        size = (self.config.cols, self.config.rows)
        flags = (cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
                 | cv2.CALIB_CB_FAST_CHECK)
        found, corners = cv2.findChessboardCorners(gray, size, flags=flags)
        if not found:
            return None
        corners = corners.reshape(-1, 2)
        grid = corners.reshape(self.config.rows, self.config.cols, 2)
        spacing = min(np.linalg.norm(np.diff(grid, axis=1), axis=-1).min(),
                      np.linalg.norm(np.diff(grid, axis=0), axis=-1).min())
        half = int(np.clip(0.4 * spacing, 2, 11))  # window must not reach the next corner
        refined = cv2.cornerSubPix(gray, corners.reshape(-1, 1, 2).copy(), (half, half),
                                   (-1, -1), _SUBPIX_CRITERIA)
        ids = np.arange(len(corners))
        return Detection(refined.reshape(-1, 2).astype(np.float32), self._obj, ids)
