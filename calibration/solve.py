"""Camera calibration from board detections (Zhang's method via cv2.calibrateCamera), with
per-view reprojection errors, rejection of bad views and a check for degenerate view sets."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.board import Detection
from calibration.errors import CalibrationError
from model.geometry import intrinsics_from_fov

_CRITERIA = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)


@dataclass
class CalibrationConfig:
    min_views: int = 8  # fewer usable views is an error
    reject_factor: float = 3.0  # a view is bad when its RMS > reject_factor * median RMS ...
    reject_min_px: float = 1.0  # ... and > reject_min_px
    min_tilt_spread_deg: float = 5.0  # board normals must differ at least this much
    max_rel_std: float = 0.02  # largest allowed std / value of fx, fy, cx, cy
    # cv2.calibrateCamera flags; k3 fixed at 0 by default: webcams rarely need it and it
    # overfits with a dozen views (dist stays (5,) k1 k2 p1 p2 k3)
    flags: int = cv2.CALIB_FIX_K3


@dataclass
class CalibrationResult:
    """K (3, 3); dist (5,) k1 k2 p1 p2 k3; image_size (w, h) px; rms_px over all kept corners;
    view_names / view_rms_px: the kept views and their RMS reprojection error (px);
    rejected: (name, rms_px) of views dropped as bad; tilt_spread_deg: largest angle between
    board orientations."""

    K: np.ndarray
    dist: np.ndarray
    image_size: tuple[int, int]
    rms_px: float
    view_names: list[str]
    view_rms_px: list[float]
    rel_std: tuple[float, ...] = ()  # std / value of fx, fy, cx, cy from the solver
    rejected: list[tuple[str, float]] = field(default_factory=list)
    tilt_spread_deg: float = 0.0


def board_normals(views: list[Detection], image_size: tuple[int, int]) -> np.ndarray:
    """Approximate board normals (V, 3) in the camera frame, from each view's homography and a
    60 degree FOV guess of K. Parallel boards give equal normals whatever the true K is."""
    K_inv = np.linalg.inv(intrinsics_from_fov(*image_size, 60.0))
    normals = []
    for v in views:
        H, _ = cv2.findHomography(v.object_m[:, :2].astype(np.float64),
                                  v.corners_px.astype(np.float64))
        if H is None:
            raise CalibrationError("a view's corners are degenerate (all on one line); retake it")
        B = K_inv @ H
        r1, r2 = B[:, 0] / np.linalg.norm(B[:, 0]), B[:, 1] / np.linalg.norm(B[:, 1])
        n = np.cross(r1, r2)
        n /= np.linalg.norm(n)
        normals.append(n if n[2] > 0 else -n)
    return np.array(normals)


def tilt_spread_deg(views: list[Detection], image_size: tuple[int, int]) -> float:
    n = board_normals(views, image_size)
    cos = np.clip(n @ n.T, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos.min())))


def view_errors_px(views, K, dist, rvecs, tvecs) -> list[float]:
    """RMS reprojection error of each view, px."""
    out = []
    for v, r, t in zip(views, rvecs, tvecs):
        proj, _ = cv2.projectPoints(v.object_m.astype(np.float64), r, t, K, dist)
        out.append(float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - v.corners_px) ** 2, 1)))))
    return out


def calibrate(views: list[Detection | None], image_size: tuple[int, int],
              names: list[str] | None = None,
              config: CalibrationConfig | None = None) -> CalibrationResult:
    """Calibrate from detections (None = no board in that image). image_size: (w, h) px.
    Bad views (reprojection RMS far above the others) are rejected one at a time and the
    calibration redone. Raises CalibrationError: no board at all, too few views, degenerate
    set (all boards parallel), or a bad view that cannot be dropped."""
    config = config or CalibrationConfig()
    names = names or [f"view {i}" for i in range(len(views))]
    kept = [(n, v) for n, v in zip(names, views) if v is not None]
    if not kept:
        raise CalibrationError(
            f"no board found in any of the {len(views)} images: check --board (a chessboard's "
            "INNER corners, e.g. 9x6 for 10x7 squares) and that the whole board is visible, "
            "sharp and evenly lit")
    if len(kept) < config.min_views:
        raise CalibrationError(
            f"only {len(kept)} views with a board (of {len(views)}); at least "
            f"{config.min_views} are needed: add views with the board at different places and "
            "tilts")
    spread = tilt_spread_deg([v for _, v in kept], image_size)
    if spread < config.min_tilt_spread_deg:
        raise CalibrationError(
            f"degenerate views: the board has the same orientation in all {len(kept)} views "
            f"(normals within {spread:.1f} deg), so the focal length cannot be found; tilt the "
            "board by 20-40 degrees in different directions between views")
    rejected: list[tuple[str, float]] = []
    while True:
        vs = [v for _, v in kept]
        obj = [v.object_m.astype(np.float32).reshape(-1, 1, 3) for v in vs]
        img = [v.corners_px.astype(np.float32).reshape(-1, 1, 2) for v in vs]
        try:
            rms, K, dist, rvecs, tvecs, std, _, _ = cv2.calibrateCameraExtended(
                obj, img, tuple(image_size), None, None, flags=config.flags, criteria=_CRITERIA)
        except cv2.error as e:
            raise CalibrationError(f"OpenCV could not calibrate from these views ({e}); add "
                                   "more varied views") from None
        errs = view_errors_px(vs, K, dist, rvecs, tvecs)
        worst = int(np.argmax(errs))
        limit = max(config.reject_factor * float(np.median(errs)), config.reject_min_px)
        if errs[worst] <= limit:
            break
        if len(kept) - 1 < config.min_views:
            raise CalibrationError(
                f"{kept[worst][0]} has a reprojection error of {errs[worst]:.2f} px (others: "
                f"median {np.median(errs):.2f} px), a bad detection, but dropping it leaves too "
                f"few views; add more views and retry")
        rejected.append((kept[worst][0], errs[worst]))
        kept.pop(worst)
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise CalibrationError("the calibration diverged (invalid focal length); add more "
                               "varied views")
    rel_std = std.reshape(-1)[:4] / np.abs(K[[0, 1, 0, 1], [0, 1, 2, 2]])  # fx fy cx cy
    if not np.all(rel_std <= config.max_rel_std):
        worst = int(np.nanargmax(np.nan_to_num(rel_std, nan=np.inf)))
        raise CalibrationError(
            f"the views do not pin the camera down ({('fx', 'fy', 'cx', 'cy')[worst]} uncertain "
            f"by {100 * rel_std[worst]:.1f}%): the board orientations are too similar; tilt "
            "the board by 20-40 degrees in different directions and cover the image corners")
    return CalibrationResult(K=K, dist=dist.reshape(-1)[:5].astype(np.float64),
                             image_size=(int(image_size[0]), int(image_size[1])),
                             rms_px=float(rms), view_names=[n for n, _ in kept],
                             view_rms_px=errs, rel_std=tuple(float(v) for v in rel_std),
                             rejected=rejected, tilt_spread_deg=spread)
