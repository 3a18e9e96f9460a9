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


def _one_error_line(err: str) -> str:
    """The single `error: ...` line of a failed run (and no traceback, no argparse usage)."""
    assert "Traceback" not in err and "usage:" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _write_clip(path: Path, n: int = 30, size: tuple[int, int] = (64, 48)) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    rng = np.random.default_rng(0)
    for _ in range(n):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return _write_clip(tmp_path_factory.mktemp("clip") / "clip.avi")


@pytest.mark.parametrize("argv", [
    ["--video", "CLIP", "--hfov", "0"],
    ["--video", "CLIP", "--hfov", "180"],
    ["--video", "CLIP", "--hfov", "200"],
    ["--video", "CLIP", "--hfov", "nan"],
    ["--demo", "--fps", "-5"],
    ["--demo", "--fps", "0"],
    ["--demo", "--fps", "inf"],
    ["--demo", "--beta", "nan", "--json", "JSON"],
    ["--demo", "--beta", "-1"],
    ["--demo", "--min-cutoff", "0"],
    ["--demo", "--min-cutoff", "nan"],
    ["--demo", "--width", "0"],
    ["--demo", "--width", "16"],  # the demo renders nothing under 32 px
    ["--demo", "--height", "-480"],
    ["--demo", "--width", "64.5"],
    ["--demo", "--hand-size-m", "0"],
    ["--demo", "--hand-size-m", "inf"],
    ["--demo", "--threads", "-1"],
    ["--demo", "--frames", "0"],
    ["--demo", "--frames", "-3"],
    ["--demo", "--seed", "-1"],
    ["--demo", "--seed", "x"],
    ["--demo", "--world-weight", "1.5"],
    ["--demo", "--world-weight", "nan"],
    ["--demo", "--rgb-weight", "-1"],
    ["--camera", "-1"],
])
def test_bad_numbers_are_one_error_line_at_parse_time(argv, ckpt, clip, tmp_path, capsys):
    argv = [str(clip) if a == "CLIP" else str(tmp_path / "o.jsonl") if a == "JSON" else a
            for a in argv]
    flag = next(a for a in argv if a.startswith("--") and a not in ("--demo", "--video",
                                                                   "--json"))
    rest = ["--headless", "--checkpoint", str(ckpt), "--backend", "torch"]
    if flag != "--frames":
        rest += ["--frames", "2"]
    rc = main([*argv, *rest])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2
    assert line.startswith(f"error: {flag}: ") and "e.g." in line, line  # names it, and the fix
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--demo", "--hands", "3"], "--hands"),
    (["--demo", "--no-such-option"], "unrecognized"),
    (["--demo", "--video", "x.mp4"], "not allowed"),
    (["--demo", "--fps"], "expected one argument"),
])
def test_argparse_errors_are_one_error_line(argv, needle, capsys):
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert needle in line and "--help" in line, line


def test_help_returns_zero(capsys):
    assert main(["--help"]) == 0
    assert "--hfov" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--osc", "--udp", "--record", "--json", "--video",
                                  "--checkpoint", "--calibration"])
@pytest.mark.parametrize("value", ["", "  "])
def test_empty_values_are_errors(flag, value, ckpt, capsys):
    argv = ["--headless", "--frames", "1", flag, value]
    if flag != "--video":
        argv.append("--demo")
    if flag != "--checkpoint":
        argv += ["--checkpoint", str(ckpt), "--backend", "torch"]
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {flag}: empty value; give "), line


@pytest.fixture
def no_engine(monkeypatch):
    """Fail the test if the engine is opened: the error must come before it."""
    import app.engine

    def refuse(*args, **kwargs):
        raise AssertionError("the engine was opened before the error")

    monkeypatch.setattr(app.engine, "Engine", refuse)


@pytest.mark.parametrize("target, fix", [
    ("DIR", "is a folder; give a file path, e.g. --json"),
    ("DIR/missing/out.jsonl", "does not exist; create it first (mkdir -p"),
    ("FILE/out.jsonl", "is a file, not a folder"),
])
def test_json_target_is_checked_before_the_engine(target, fix, ckpt, tmp_path, no_engine,
                                                  capsys):
    (tmp_path / "f.txt").write_text("x")
    target = target.replace("DIR", str(tmp_path)).replace("FILE", str(tmp_path / "f.txt"))
    rc = main(["--demo", "--headless", "--frames", "1", "--json", target,
               "--checkpoint", str(ckpt)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and fix in line, line


def test_json_target_without_write_permission(ckpt, tmp_path, no_engine, monkeypatch, capsys):
    import app.cli

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(app.cli, "open", denied, raising=False)
    rc = main(["--demo", "--headless", "--json", str(tmp_path / "out.jsonl"),
               "--checkpoint", str(ckpt)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "Permission denied" in line and "write access" in line, line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_json_into_a_read_only_folder(ckpt, tmp_path, no_engine, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc = main(["--demo", "--headless", "--json", str(ro / "out.jsonl"),
                   "--checkpoint", str(ckpt)])
    finally:
        ro.chmod(0o755)
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "write access" in line, line


def test_json_probe_leaves_no_file_and_keeps_existing_ones(tmp_path):
    from app.cli import check_output_file

    check_output_file(str(tmp_path / "new.jsonl"), "--json")
    assert not (tmp_path / "new.jsonl").exists()
    old = tmp_path / "old.jsonl"
    old.write_text("kept\n")
    check_output_file(str(old), "--json")
    assert old.read_text() == "kept\n"


def test_demo_runs_as_many_frames_as_asked():
    from app.cli import build_parser, config_from_args

    def demo_frames(*argv):
        return config_from_args(build_parser().parse_args(["--demo", *argv])).source.demo_frames

    assert demo_frames("--frames", "3000") == 3000
    assert demo_frames() == 600  # without --frames, one 20 s sequence


def test_demo_frames_beyond_the_default_sequence_are_rendered():
    from app.engine.sources import DemoSource, SourceConfig

    src = DemoSource(SourceConfig(kind="demo", width=64, height=48, demo_frames=602))
    src._i = 600
    assert src.read() is not None and src.read() is not None and src.read() is None


@pytest.mark.parametrize("source", [["--demo"], ["--video", "CLIP"]])
def test_missing_calibration_file_is_an_error(source, ckpt, clip, tmp_path, no_engine, capsys):
    source = [str(clip) if a == "CLIP" else a for a in source]
    rc = main([*source, "--headless", "--calibration", str(tmp_path / "nope.yaml"),
               "--checkpoint", str(ckpt)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "does not exist" in line and "--calibration" in line, line


def test_options_the_demo_does_not_use_are_named(ckpt, tmp_path, capsys):
    calib = tmp_path / "cam.yaml"
    calib.write_text("any: file\n")
    rc = main(["--demo", "--headless", "--frames", "2", "--calibration", str(calib),
               "--hfov", "70", "--checkpoint", str(ckpt), "--backend", "torch"])
    err = capsys.readouterr().err
    assert rc == 0
    warnings = [x for x in err.splitlines() if x.startswith("warning: ")]
    assert len(warnings) == 2, err
    assert "--calibration is not used with --demo" in warnings[0]
    assert "--hfov is not used with --demo" in warnings[1]


def test_hfov_with_a_calibration_file_is_named(tmp_path):
    from app.cli import build_parser, unused_options

    calib = tmp_path / "cam.yaml"
    calib.write_text("any: file\n")
    args = build_parser().parse_args(["--video", "x.mp4", "--calibration", str(calib),
                                      "--hfov", "70"])
    assert [x.split(" is not used")[0] for x in unused_options(args)] == ["warning: --hfov"]
    assert unused_options(build_parser().parse_args(["--video", "x.mp4", "--hfov", "70"])) == []


def test_truncated_video_warns_once(ckpt, tmp_path, capsys):
    full = _write_clip(tmp_path / "full.avi")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out.jsonl"
    rc = main(["--video", str(cut), "--headless", "--json", str(out), "--checkpoint", str(ckpt),
               "--backend", "torch"])
    err = capsys.readouterr().err
    assert rc == 0
    n = len(out.read_text().splitlines())
    assert 0 < n < 30
    warnings = [x for x in err.splitlines() if x.startswith("warning: ")]
    assert warnings == [f"warning: video {cut} ended after {n} of the 30 frames its header "
                        "promises (truncated or damaged file); the rest is missing: copy or "
                        "export the video again"], err


def test_generated_options_map_onto_their_config_fields():
    """The options generated from SourceConfig, BackendConfig, TrackerConfig, DetectorConfig,
    MetricConfig and FilterConfig (model/config_flags.py) set those fields: config -> options ->
    config."""
    from app.cli import build_parser, config_from_args
    from app.engine import (
        BackendConfig,
        DetectorConfig,
        FilterConfig,
        MetricConfig,
        SourceConfig,
        TrackerConfig,
    )
    from model.config_flags import to_argv

    source = SourceConfig(kind="demo", width=320, height=240, fps=15.0, mirror=True,
                          realtime=False, loop=True, demo_hands=2, seed=3)
    backend = BackendConfig(checkpoint="m.pt", kind="torch", device="cpu", threads=2,
                            max_batch=1, with_cloud=True)
    parts = (TrackerConfig(max_hands=1), DetectorConfig(model_complexity=0),
             MetricConfig(hand_size_m=0.05), FilterConfig(enabled=False, min_cutoff_hz=2.0,
                                                          beta=10.0))
    argv = ["--demo", *to_argv(source), *to_argv(backend), *(a for c in parts for a in to_argv(c))]
    config = config_from_args(build_parser().parse_args(argv))
    assert (config.source, config.backend) == (source, backend)
    assert (config.tracker, config.detector, config.metric, config.filter) == parts
    default = config_from_args(build_parser().parse_args([]))
    assert (default.source, default.backend.kind, default.filter) == (
        SourceConfig(realtime=True), "auto", FilterConfig())
