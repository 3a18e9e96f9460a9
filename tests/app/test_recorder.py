"""Recorder: write a session, read it back equal; failures stop recording, never tracking."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from app.sinks import Recorder, RecorderConfig, SinkConfigError, read_session
from tests.app.test_session_data import make_image, make_result

N = 30


def assert_same_frame(got, want) -> None:
    assert (got.frame_id, got.capture_time, got.width, got.height) == (
        want.frame_id, want.capture_time, want.width, want.height)
    assert [h.hand_id for h in got.hands] == [h.hand_id for h in want.hands]
    for a, b in zip(got.hands, want.hands):
        assert (a.side, a.confidence) == (b.side, b.confidence)
        np.testing.assert_array_equal(a.joints_m, b.joints_m)  # float32 written exactly
        np.testing.assert_array_equal(a.uv_px, b.uv_px)


def record(path, n=N, **kw):
    cfg = RecorderConfig(path=path, segment_s=0.3, video_queue=64, K=np.eye(3), model="test",
                         backend="none", camera={"index": 0, "fps": 30}, **kw)
    with Recorder(cfg) as rec:
        for i in range(n):
            rec.write(make_result(i), make_image(i))
    return rec


def test_round_trip(tmp_path):
    rec = record(tmp_path / "s")
    assert rec.error is None and rec.video_dropped == 0
    s = read_session(tmp_path / "s")
    assert s.complete and s.warnings == []
    assert s.meta["frames"] == N and s.meta["video"]["frames"] == N
    assert s.meta["joints"]["names"][0] == "wrist" and s.meta["camera"]["index"] == 0
    assert len(s.frames) == N
    for i, f in enumerate(s.frames):
        assert_same_frame(f, make_result(i))
    assert sum(not f.hands for f in s.frames) == N // 3  # frames without hands keep their time
    assert len(s.video_segments) >= 3  # 1 s of frames in 0.3 s segments
    video = list(s.iter_video())
    assert [v.frame_id for v in video] == list(range(N))
    assert [v.capture_time for v in video] == [make_result(i).capture_time for i in range(N)]
    err = [np.abs(v.rgb.astype(int) - make_image(v.frame_id)).mean() for v in video]
    assert max(err) < 8.0, err  # lossy mp4v, but the same picture


def test_refuses_to_overwrite(tmp_path):
    record(tmp_path / "s", n=2)
    with pytest.raises(SinkConfigError, match="already holds a recording"):
        Recorder(RecorderConfig(path=tmp_path / "s"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinkConfigError, match="not a folder"):
        Recorder(RecorderConfig(path=tmp_path / "file"))


@pytest.mark.parametrize("video, wait", [(True, False), (True, True), (False, False)])
def test_vanished_folder_stops_recording_not_tracking(tmp_path, video, wait):
    rec = Recorder(RecorderConfig(path=tmp_path / "s", flush_interval_s=0.05, segment_s=0.1,
                                  video=video, video_queue=1, wait_for_video=wait))
    for i in range(5):
        rec.write(make_result(i), make_image(i))
    while (tmp_path / "s").exists():  # the encoder may add a segment while we delete
        shutil.rmtree(tmp_path / "s", ignore_errors=True)
    end = time.time() + 3.0
    i = 5
    while rec.error is None and time.time() < end:
        rec.write(make_result(i), make_image(i))  # must not raise
        i += 1
        time.sleep(0.01)
    rec.close()  # must not raise either
    assert rec.error is not None and "vanished" in rec.error


_FULL_DISK = r"""
import resource, signal, sys
from app.sinks import Recorder, RecorderConfig
from tests.app.test_session_data import make_result
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (60000, resource.RLIM_INFINITY))
rec = Recorder(RecorderConfig(path=sys.argv[1], video=False, flush_interval_s=0.01))
for i in range(200):
    rec.write(make_result(i, n_hands=2), None)
rec.close()
print("error:", rec.error)
"""


def test_full_disk_stops_recording_with_message(tmp_path):
    """A per-file size limit (RLIMIT_FSIZE) makes writes fail like a full disk."""
    out = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=60, cwd=sys.path[0] or ".")
    assert out.returncode == 0, out.stderr
    assert "cannot write" in out.stdout and "frames.csv" in out.stdout, out.stdout
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["complete"] is False and meta["frames"] is None and "cannot write" in meta["error"]
    s = read_session(tmp_path / "s")  # what reached the disk is readable
    assert not s.complete and 0 < len(s.frames) < 200
    assert any("not closed cleanly" in w for w in s.warnings)
    for f in s.frames:
        assert_same_frame(f, make_result(f.frame_id, n_hands=2))
