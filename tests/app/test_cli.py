"""`handtrack` command line: headless runs, JSON lines, sinks, replay, user errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.app.test_engine import CROP, make_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("cli") / "m.pt", CROP)


def test_headless_demo_writes_json_and_summary(ckpt, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    rc = main(["--demo", "--headless", "--frames", "12", "--json", str(out),
               "--checkpoint", str(ckpt), "--backend", "torch"])
    assert rc == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 12
    assert [x["frame"] for x in lines] == list(range(12))  # offline: no frame dropped
    assert {"hands", "timings_ms", "width", "height", "time"} <= set(lines[0])
    assert lines[0]["width"] == 640 and lines[0]["height"] == 480
    printed = capsys.readouterr().out
    assert "frames 12" in printed and "p50 / p95" in printed and "fps" in printed
    assert "3D error vs ground truth" in printed or "not tracked" in printed


def test_record_then_replay(ckpt, tmp_path, capsys):
    session = tmp_path / "session"
    live_out = tmp_path / "live.jsonl"
    assert main(["--demo", "--headless", "--frames", "6", "--record", str(session),
                 "--json", str(live_out), "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    out = tmp_path / "replay.jsonl"
    assert main(["--replay", str(session), "--headless", "--json", str(out),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    live = [json.loads(x) for x in live_out.read_text().splitlines()]
    replayed = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(replayed) == len(live) == 6
    assert sum(len(a["hands"]) for a in live) >= 3  # the comparison below is not vacuous
    # replay gives the live run's results: same frames, hands, joints and pixels
    for a, b in zip(live, replayed):
        assert a["frame"] == b["frame"] and a["time"] == pytest.approx(b["time"], abs=1e-6)
        assert [h["id"] for h in a["hands"]] == [h["id"] for h in b["hands"]]
        for ha, hb in zip(a["hands"], b["hands"]):
            assert ha["side"] == hb["side"]
            np.testing.assert_allclose(ha["joints_m"], hb["joints_m"], atol=2e-6)
            np.testing.assert_allclose(ha["uv_px"], hb["uv_px"], atol=2e-3)
    out2 = tmp_path / "reprocessed.jsonl"
    assert main(["--replay", str(session), "--reprocess", "--headless", "--json", str(out2),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    assert len(out2.read_text().splitlines()) == 6


@pytest.mark.parametrize("argv, needle", [
    (["--video", "/no/such/clip.mp4"], "does not exist"),
    (["--demo", "--checkpoint", "/no/such/model.pt"], "--checkpoint"),
    (["--demo", "--reprocess"], "--replay"),
    (["--camera", "97"], "--camera"),
    (["--demo", "--hand-size-m", "43"], "metres"),
    (["--demo", "--osc", "127.0.0.1:notaport"], "port"),
    (["--demo", "--fuse", "2d"], "--strategy s4-2d"),
    (["--demo", "--fuse", "rgb+2d"], "heat-map encoder"),
])
def test_user_errors_are_one_line(argv, needle, ckpt, capsys):
    if "--checkpoint" not in argv:
        argv = [*argv, "--checkpoint", str(ckpt)]
    assert main([*argv, "--headless", "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(line) == 1 and needle in line[0], err


def test_window_mode_says_when_the_gui_is_missing(ckpt, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_gui(name, *args, **kwargs):
        if name.startswith("app.gui"):
            raise ImportError("No module named 'PyQt6'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gui)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["--demo", "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "error: the window is not available" in err and "--headless" in err


def test_bad_calibration_file_is_a_clear_error(ckpt, tmp_path, capsys):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((48, 64, 3), np.uint8))
    bad = tmp_path / "cam.yaml"
    bad.write_text("not: [a calibration")
    rc = main(["--images", str(tmp_path), "--calibration", str(bad), "--headless",
               "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert [x for x in err.splitlines() if x.startswith("error: calibration")], err


def test_window_without_a_display_is_a_clear_error(ckpt, monkeypatch, capsys):
    import cv2

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    # what the OpenCV wheel sets on import, which would break PyQt6
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", str(Path(cv2.__file__).parent / "qt"))
    assert main(["--demo", "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert "error: there is no display" in err and "--headless" in err
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ
