"""Headless recording: offline sources keep every video frame (the pipeline waits for the
encoder), real-time ones drop and say so in the summary; SIGTERM closes the recording like
Ctrl+C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import cv2
import pytest

import app.sinks.recorder as recorder_module
from app.cli import main
from app.sinks import read_session
from tests.app.test_engine import CROP, make_checkpoint
from tests.app.test_recorder import record

N = 40


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("rec") / "m.pt", CROP)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "session"
    record(path, n=N)
    return path


def slow_encoder(monkeypatch, seconds: float) -> None:
    """The recorder's video writer takes `seconds` per frame (a busy CPU)."""
    real = cv2.VideoWriter

    class SlowWriter:
        def __init__(self, *args):
            self._writer = real(*args)

        def isOpened(self):  # noqa: N802 (OpenCV name)
            return self._writer.isOpened()

        def write(self, bgr):
            time.sleep(seconds)
            self._writer.write(bgr)

        def release(self):
            self._writer.release()

    monkeypatch.setattr(recorder_module.cv2, "VideoWriter", SlowWriter)


def test_offline_source_keeps_every_video_frame(ckpt, session, tmp_path, monkeypatch, capsys):
    slow_encoder(monkeypatch, 0.02)
    out = tmp_path / "again"
    assert main(["--replay", str(session), "--headless", "--record", str(out),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    printed = capsys.readouterr().out
    s = read_session(out)
    assert s.complete and len(s.frames) == N
    assert s.meta["video"]["frames"] == N and s.meta["video"]["dropped"] == 0
    assert [v.frame_id for v in s.iter_video()] == list(range(N))
    assert f"frames {N}, dropped 0," in printed and "recorder dropped" not in printed, printed


def test_realtime_drops_are_in_the_summary(ckpt, session, tmp_path, monkeypatch, capsys):
    slow_encoder(monkeypatch, 0.1)  # 10 fps encoder, 30 fps source
    out = tmp_path / "again"
    assert main(["--replay", str(session), "--headless", "--realtime", "--record", str(out),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    printed = capsys.readouterr().out
    s = read_session(out)
    dropped = s.meta["video"]["dropped"]
    assert dropped > 0 and s.meta["video"]["frames"] + dropped == N
    line = printed.splitlines()[0]
    assert re.match(rf"frames {N}, dropped \d+, recorder dropped {dropped} video frames,",
                    line), printed


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32",
                    reason="needs POSIX SIGTERM")
def test_sigterm_closes_the_recording(ckpt, tmp_path):
    path = tmp_path / "s"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--demo", "--headless", "--width", "160", "--height",
         "120", "--record", str(path), "--checkpoint", str(ckpt), "--backend", "torch"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=sys.path[0] or ".",
        env=env)
    try:
        end = time.time() + 120
        csv_path = path / "frames.csv"
        rows = 0  # frames on disk (the CSV's header line aside) when SIGTERM is sent
        while time.time() < end and proc.poll() is None:
            rows = len(csv_path.read_text().splitlines()) - 1 if csv_path.is_file() else 0
            if rows >= 10:
                break  # the run is well under way
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "stopped by SIGTERM" in err, err
    s = read_session(path)
    assert s.complete and s.warnings == [] and len(s.frames) >= rows >= 10  # none lost
    video = list(s.iter_video())
    assert [v.frame_id for v in video] == [f.frame_id for f in s.frames]  # nothing dropped
    assert f"frames {len(s.frames)}, dropped 0," in out, out
