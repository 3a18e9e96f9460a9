"""handtrack-calibrate --images on synthetic photos; live view collection logic without a
camera; ChArUco detection."""

from __future__ import annotations

import cv2
import numpy as np

from calibration import BoardConfig, BoardDetector, load_intrinsics
from calibration.board import charuco_board
from calibration.cli import main
from calibration.collect import CollectorConfig, ViewCollector, draw_overlay
from tests.calibration.render import K_TRUE, H, W, exact_detection, pose, random_views

BOARD = BoardConfig(9, 6, 0.025)


def test_cli_images_writes_default_file_the_app_finds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HANDTRACK_CALIBRATION_DIR", str(tmp_path / "cal"))
    for i, (_, _, img) in enumerate(random_views(BOARD, 10, seed=2)):
        cv2.imwrite(str(tmp_path / f"shot{i:02d}.png"), img)
    cv2.imwrite(str(tmp_path / "shot99.png"), np.full((H, W), 128, np.uint8))  # no board
    rc = main(["--images", str(tmp_path / "shot*.png"), "--board", "9x6", "--square", "0.025",
               "--camera", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "shot99.png: no board" in out and "RMS reprojection error" in out
    intr = load_intrinsics(3, W, H)
    assert intr.calibrated and abs(intr.K[0, 0] / K_TRUE[0, 0] - 1) < 0.01


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["--images", str(tmp_path / "none*.png")]) == 2
    assert capsys.readouterr().err.startswith("error: --images")
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((H, W), 128, np.uint8))
    assert main(["--images", str(tmp_path / "*.png"), "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no board found in any") and err.count("\n") == 1
    assert main(["--images", "x", "--board", "9by6"]) == 2
    assert "expected WxH" in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()


def test_collector_needs_steady_and_new_views():
    c = ViewCollector((W, H), CollectorConfig(steady_s=0.3, target_views=3))
    a = exact_detection(BOARD, *pose(20, 0, 0, [0, 0, 0.5], BOARD))
    b = exact_detection(BOARD, *pose(-20, 15, 10, [0.05, 0.02, 0.55], BOARD))
    assert c.offer(None, 0.0) == "no board"
    assert c.offer(a, 0.0) == "hold still"
    assert c.offer(a, 0.2) == "hold still"
    assert c.offer(a, 0.35) == "added"
    for t in (0.4, 0.6, 0.8):
        status = c.offer(a, t)
    assert status == "move to a new pose" and len(c.views) == 1  # same pose again: refused
    moving = type(b)(b.corners_px + 5.0, b.object_m, b.ids)
    c.offer(moving, 1.0)
    assert c.offer(b, 1.1) == "hold still"  # it moved 5 px since the last frame
    assert c.offer(b, 1.5) == "added" and len(c.views) == 2
    assert 0 < c.coverage().mean() < 1
    img = draw_overlay(np.zeros((H, W, 3), np.uint8), b, c, "added", (9, 6))
    assert img.shape == (H, W, 3) and img.any()


def test_charuco_detection_matches_known_pose():
    cfg = BoardConfig(7, 5, 0.03, kind="charuco")
    board = charuco_board(cfg)
    px_per_m = 2000
    sheet = board.generateImage((int(7 * 0.03 * px_per_m), int(5 * 0.03 * px_per_m)),
                                marginSize=0)  # (h, w) uint8, 1 px = 0.5 mm
    sheet = cv2.copyMakeBorder(sheet, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    rvec, tvec = pose(15, -20, 5, [0, 0, 0.5], BoardConfig(6, 4, 0.03))  # centre of the corners
    # board metres -> sheet pixels, then the camera homography K [r1 r2 t]
    S = np.array([[px_per_m, 0, 40 + px_per_m * 0.03], [0, px_per_m, 40 + px_per_m * 0.03],
                  [0, 0, 1]])  # charuco corner (0, 0) is one square in from the sheet edge
    R = cv2.Rodrigues(rvec)[0]
    Hcam = K_TRUE @ np.column_stack([R[:, 0], R[:, 1], tvec.reshape(3)])
    img = cv2.warpPerspective(sheet, Hcam @ np.linalg.inv(S), (W, H), flags=cv2.INTER_AREA,
                              borderValue=128)
    det = BoardDetector(cfg).detect(img)
    assert det is not None and len(det.ids) >= 20
    obj = det.object_m - np.array([0.03, 0.03, 0], np.float32)  # charuco origin: sheet corner
    proj = cv2.projectPoints(obj.astype(np.float64), rvec, tvec, K_TRUE, None)[0].reshape(-1, 2)
    assert np.abs(proj - det.corners_px).max() < 1.0
