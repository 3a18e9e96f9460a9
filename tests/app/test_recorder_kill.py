"""A recorder killed with SIGKILL leaves a session that reads without repair, holding every frame
up to the last flush it reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from app.sinks import read_session
from tests.app.test_recorder import assert_same_frame
from tests.app.test_session_data import make_image, make_result

_RECORD_FOREVER = r"""
import sys, time
from app.sinks import Recorder, RecorderConfig
from tests.app.test_session_data import make_image, make_result
rec = Recorder(RecorderConfig(path=sys.argv[1], flush_interval_s=0.1, segment_s=0.25))
last = (None, 0)
i = 0
while True:
    rec.write(make_result(i), make_image(i))
    i += 1
    now = (rec.flushed_frame_id, rec.video_frames)
    if now != last:
        print("flushed", now[0], "video", now[1], flush=True)
        last = now
    time.sleep(1 / 100)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_leaves_a_readable_session(tmp_path):
    path = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-u", "-c", _RECORD_FOREVER, str(path)],
                            stdout=subprocess.PIPE, text=True, cwd=sys.path[0] or ".")
    flushed, video = -1, 0
    try:
        end = time.time() + 30
        for line in proc.stdout:
            _, f, _, v = line.split()
            flushed, video = (int(f) if f != "None" else -1), int(v)
            if (flushed >= 40 and video > 0) or time.time() > end:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert flushed >= 40 and video > 0, "the recorder never reported a flush"
    s = read_session(path)
    assert not s.complete
    ids = [f.frame_id for f in s.frames]
    assert ids == list(range(len(ids))) and ids[-1] >= flushed  # nothing lost up to the flush
    for f in s.frames:
        assert_same_frame(f, make_result(f.frame_id))
    frames = list(s.iter_video())
    assert len(frames) >= video
    vids = [v.frame_id for v in frames]  # the encoder may drop frames when the CPU is busy
    assert vids == sorted(set(vids)) and set(vids) <= set(ids)
    assert max(np.abs(v.rgb.astype(int) - make_image(v.frame_id)).mean() for v in frames) < 8
    print(f"killed after flush of frame {flushed}: read {len(ids)} frames, {len(frames)} video "
          f"frames; warnings: {s.warnings}")
    # a replay gives every recorded result, with its picture where the video has one
    from app.engine.sources import ReplaySource, SourceConfig

    src = ReplaySource(SourceConfig(kind="replay", path=str(path)))
    replayed = []
    while (fr := src.read()) is not None:
        replayed.append(fr)
    assert [fr.recorded.frame_id for fr in replayed if fr.recorded is not None] == ids
    with_picture = {fr.recorded.frame_id for fr in replayed if fr.rgb is not None}
    assert with_picture == set(vids) and src.frames_without_video == len(ids) - len(vids)
    assert sum(len(fr.recorded.hands) for fr in replayed) == sum(len(f.hands) for f in s.frames)
