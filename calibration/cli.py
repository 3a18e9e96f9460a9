"""handtrack-calibrate: calibrate a camera from live views (--camera N) or photos (--images).

    handtrack-calibrate --camera 0 --board 9x6 --square 0.025 [--size 1280x720]
    handtrack-calibrate --images 'shots/*.png' --board 9x6 --square 0.025 --camera 0
    handtrack-calibrate --camera 0 --charuco --board 7x5 --square 0.03 [--marker 0.022]
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import cv2

from calibration.board import BoardConfig, BoardDetector, Detection
from calibration.collect import CollectorConfig, ViewCollector, draw_overlay
from calibration.errors import CalibrationError
from calibration.solve import CalibrationConfig, CalibrationResult, calibrate
from calibration.store import default_path, save_calibration


def _size(text: str, what: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CalibrationError(f"{what} {text!r}: expected WxH, e.g. 9x6") from None
    if a <= 0 or b <= 0:
        raise CalibrationError(f"{what} {text!r}: both numbers must be positive")
    return a, b


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="handtrack-calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--camera", type=int, default=0, help="camera index (default 0); with "
                   "--images it names the camera the photos are from, for the default --out")
    p.add_argument("--images", help="glob of board photos instead of live capture (quote it)")
    p.add_argument("--board", default="9x6", help="chessboard INNER corners COLSxROWS (9x6 "
                   "for 10x7 squares); with --charuco: squares COLSxROWS")
    p.add_argument("--square", type=float, default=0.025, help="square side in metres")
    p.add_argument("--charuco", action="store_true", help="ChArUco board instead of chessboard")
    p.add_argument("--marker", type=float, default=None, help="ChArUco marker side in metres "
                   "(default 0.75 * square)")
    p.add_argument("--dictionary", default="DICT_5X5_100", help="ChArUco ArUco dictionary")
    p.add_argument("--size", default=None, help="camera resolution WxH to request (live)")
    p.add_argument("--views", type=int, default=15, help="views to collect live")
    p.add_argument("--min-views", type=int, default=8, help="fewest usable views")
    p.add_argument("--out", type=Path, default=None, help="output YAML (default: "
                   "$HANDTRACK_CALIBRATION_DIR or ~/.config/handtrack/calibration/"
                   "camera{N}_{W}x{H}.yaml, where the app finds it)")
    return p.parse_args(argv)


def _board(args) -> BoardConfig:
    cols, rows = _size(args.board, "--board")
    return BoardConfig(cols, rows, args.square, "charuco" if args.charuco else "chessboard",
                       args.marker, args.dictionary)


def from_images(pattern: str, detector: BoardDetector):
    """Detect the board in every photo. Returns (detections, names, (w, h))."""
    paths = sorted(glob.glob(str(Path(pattern).expanduser())))
    if not paths:
        raise CalibrationError(f"--images {pattern!r} matches no files; check the pattern and "
                               "quote it so the shell does not expand it")
    dets, names, size = [], [], None
    for path in paths:
        gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if gray is None:
            print(f"  {path}: unreadable image, skipped")
            continue
        if size is None:
            size = (gray.shape[1], gray.shape[0])
        elif (gray.shape[1], gray.shape[0]) != size:
            raise CalibrationError(f"{path} is {gray.shape[1]}x{gray.shape[0]} but the first "
                                   f"photo is {size[0]}x{size[1]}; calibrate one resolution "
                                   "at a time")
        det = detector.detect(gray)
        print(f"  {path}: {'board found' if det else 'no board'}")
        dets.append(det)
        names.append(Path(path).name)
    if size is None:
        raise CalibrationError(f"none of the {len(paths)} files matched by {pattern!r} is a "
                               "readable image")
    return dets, names, size


def from_camera(args, detector: BoardDetector):
    """Collect views live in an OpenCV window. Returns (detections, names, (w, h))."""
    cap = cv2.VideoCapture(args.camera)
    if not cap.isOpened():
        raise CalibrationError(f"cannot open camera {args.camera}; check --camera (0, 1, ...) "
                               "and that no other program uses it, or use --images")
    try:
        if args.size:
            w, h = _size(args.size, "--size")
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        ok, frame = cap.read()
        if not ok:
            raise CalibrationError(f"camera {args.camera} delivers no frames")
        size = (frame.shape[1], frame.shape[0])
        if args.size and size != _size(args.size, "--size"):
            print(f"camera {args.camera} gives {size[0]}x{size[1]}, not {args.size}")
        collector = ViewCollector(size, CollectorConfig(target_views=args.views))
        chess = None if args.charuco else _size(args.board, "--board")
        title = "handtrack-calibrate"
        while not collector.done:
            ok, frame = cap.read()
            if not ok:
                raise CalibrationError(f"camera {args.camera} stopped delivering frames")
            det: Detection | None = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            status = collector.offer(det, time.monotonic())
            cv2.imshow(title, draw_overlay(frame, det, collector, status, chess))
            key = cv2.waitKey(1) & 0xFF
            if key == ord(" ") and det is not None:
                collector.add(det)
            elif key in (ord("c"), 13):
                break
            elif key in (ord("q"), 27):
                raise CalibrationError("cancelled; nothing was saved")
        cv2.destroyWindow(title)
    finally:
        cap.release()
    return collector.views, [f"view {i}" for i in range(len(collector.views))], size


def report(result: CalibrationResult) -> str:
    K = result.K
    lines = [f"calibrated {result.image_size[0]}x{result.image_size[1]} from "
             f"{len(result.view_names)} views: RMS reprojection error {result.rms_px:.3f} px",
             f"  fx {K[0, 0]:.2f}  fy {K[1, 1]:.2f}  cx {K[0, 2]:.2f}  cy {K[1, 2]:.2f} px",
             "  dist k1 k2 p1 p2 k3: " + " ".join(f"{v:.5f}" for v in result.dist),
             f"  board tilt spread {result.tilt_spread_deg:.0f} deg", "  per view:"]
    lines += [f"    {n}: {e:.3f} px" for n, e in zip(result.view_names, result.view_rms_px)]
    lines += [f"  rejected {n}: {e:.2f} px (bad detection)" for n, e in result.rejected]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        board = _board(args)
        detector = BoardDetector(board)
        if args.images:
            dets, names, size = from_images(args.images, detector)
        else:
            dets, names, size = from_camera(args, detector)
        result = calibrate(dets, size, names, CalibrationConfig(min_views=args.min_views))
        out = args.out or default_path(args.camera, *size)
        save_calibration(out, result, board.label)
    except CalibrationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report(result))
    print(f"saved {out}" + ("" if args.out else f" (the app uses it for camera {args.camera} at "
                            f"{size[0]}x{size[1]})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
