"""app/engine/detect_process.py: MediaPipe in its own process answers as in-process MediaPipe
does, and its failures end in one EngineError, never a hang."""

from __future__ import annotations

import os

import numpy as np
import pytest

from app.engine.detect import DetectorConfig, MediaPipeDetector
from app.engine.detect_process import DetectorProcess
from app.engine.errors import EngineError
from app.engine.sources import SourceConfig
from app.engine.sources.demo import DemoSource
from app.engine.threads import pin_to_last_core


@pytest.fixture(scope="module")
def frames():
    src = DemoSource(SourceConfig(kind="demo", demo_hands=2, demo_frames=6))
    return [src.render(i).rgb for i in range(6)]


def test_same_detections_as_in_process(frames):
    with DetectorProcess(max_hands=2, video=True) as child, \
            MediaPipeDetector(max_hands=2, video=True) as here:
        for mirrored, rgb in zip((False, False, True, False, False, False), frames):
            a, b = child.detect(rgb, mirrored), here.detect(rgb, mirrored)
            assert len(a) == len(b) == 2
            for da, db in zip(a, b):
                assert da.side == db.side
                np.testing.assert_allclose(da.uv_px, db.uv_px, atol=1e-3)
                np.testing.assert_allclose(da.world_m, db.world_m, atol=1e-5)
        assert child.max_hands == 2 and child.video


def test_a_dead_detector_process_is_one_engine_error(frames):
    child = DetectorProcess(max_hands=1, video=True)
    child.detect(frames[0], False)
    child._proc.kill()
    child._proc.wait()
    with pytest.raises(EngineError, match="ended unexpectedly") as e:
        child.detect(frames[1], False)
    assert "\n" not in str(e.value)
    child.close()
    child.close()  # idempotent
    with pytest.raises(EngineError, match="closed"):
        child.detect(frames[1], False)


def test_bad_settings_and_frames_are_refused():
    with pytest.raises(EngineError, match="model_complexity"):
        DetectorProcess(DetectorConfig(model_complexity=3))
    with DetectorProcess(max_hands=1) as child:
        with pytest.raises(EngineError, match=r"\(H, W, 3\)"):
            child.detect(np.zeros((8, 8), np.uint8), False)


def test_two_frames_in_flight_come_back_in_order(frames):
    with DetectorProcess(max_hands=2, video=False) as child, \
            MediaPipeDetector(max_hands=2, video=False) as here:
        child.submit(frames[0], False)
        child.submit(frames[3], False)
        assert child.inflight == 2
        with pytest.raises(EngineError, match="at most 2"):
            child.submit(frames[4], False)
        for rgb in (frames[0], frames[3]):
            got, want = child.collect(), here.detect(rgb, False)
            assert [d.side for d in got] == [d.side for d in want]
            np.testing.assert_allclose(got[0].uv_px, want[0].uv_px, atol=1e-3)
        assert child.inflight == 0
        child.close_when_idle()  # nothing in flight: closes now
        with pytest.raises(EngineError, match="closed"):
            child.submit(frames[0], False)


def _cores_of(pid: int) -> set[int]:
    return set(os.sched_getaffinity(pid))


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="fixing the detector to a core needs Linux and two or more cores")
def test_the_detector_process_runs_on_the_last_core_unless_told_not_to(frames):
    ours = sorted(os.sched_getaffinity(0))
    with DetectorProcess(max_hands=1, video=True) as child:
        child.detect(frames[0], False)  # MediaPipe's threads exist now
        assert child.core == ours[-1]
        tids = [int(t) for t in os.listdir(f"/proc/{child._proc.pid}/task")]
        assert len(tids) > 1 and all(_cores_of(t) == {ours[-1]} for t in tids)
    assert set(os.sched_getaffinity(0)) == set(ours)  # this process keeps every core
    with DetectorProcess(DetectorConfig(own_core=False), max_hands=1, video=True) as child:
        child.detect(frames[0], False)
        assert child.core is None and _cores_of(child._proc.pid) == set(ours)


def test_pinning_is_skipped_where_it_cannot_be_done(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert pin_to_last_core(os.getpid()) is None  # one core: nothing to gain

    def refuse(pid, cores):
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    assert pin_to_last_core(os.getpid()) is None
