"""app/detector_prestart.py and app/launch.py: the detector process started before handtrack's
imports is adopted by the engine's first DetectorProcess (same detections as one started with
its options), ends when nobody takes it, and is started only where one will run."""

from __future__ import annotations

import numpy as np
import pytest

from app import detector_prestart
from app.engine.detect_process import DetectorProcess
from app.engine.sources import SourceConfig
from app.engine.sources.demo import DemoSource
from app.launch import uses_detector_process


@pytest.fixture(autouse=True)
def nothing_held():
    detector_prestart.discard()
    yield
    detector_prestart.discard()


def test_a_prestarted_child_is_adopted_and_answers_like_a_fresh_one():
    pytest.importorskip("mediapipe")
    src = DemoSource(SourceConfig(kind="demo", demo_hands=2, demo_frames=3))
    frames = [src.render(i).rgb for i in range(3)]
    assert detector_prestart.prestart()
    ahead = detector_prestart._started[0]
    with DetectorProcess(max_hands=2, video=True) as adopted:
        assert adopted._proc is ahead  # taken, not a second child
        assert detector_prestart.take() is None
        with DetectorProcess(max_hands=2, video=True) as fresh:
            assert fresh._proc is not ahead
            for rgb in frames:
                a, b = adopted.detect(rgb, False), fresh.detect(rgb, False)
                assert len(a) == len(b) == 2
                for da, db in zip(a, b):
                    assert da.side == db.side
                    np.testing.assert_allclose(da.uv_px, db.uv_px, atol=1e-3)
    assert ahead.wait(timeout=10) == 0


def test_a_child_nobody_takes_ends_when_discarded():
    assert detector_prestart.prestart()
    assert detector_prestart.prestart()  # once: the same child
    proc = detector_prestart._started[0]
    detector_prestart.discard()
    assert proc.poll() is not None  # ended (it would otherwise wait for its options for ever)
    assert detector_prestart.take() is None


def test_the_options_in_the_prestarted_child_are_the_engines():
    """A prestarted child gets the DetectorProcess's settings (here: one hand, image mode)."""
    pytest.importorskip("mediapipe")
    detector_prestart.prestart()
    with DetectorProcess(max_hands=1, video=False) as child:
        src = DemoSource(SourceConfig(kind="demo", demo_hands=2, demo_frames=1))
        assert len(child.detect(src.render(0).rgb, False)) == 1
        assert child.max_hands == 1 and not child.video


@pytest.mark.parametrize("argv, expected", [
    ([], True),
    (["--demo", "--headless"], True),
    (["--video", "clip.mp4", "--hands", "1"], True),
    (["--replay", "session", "--reprocess"], True),
    (["--help"], False),
    (["-h"], False),
    (["--demo", "--no-overlap"], False),
    (["--camera", "0", "--tracking", "flow"], False),
    (["--tracking=flow"], False),
    (["--tracking", "landmarks"], True),
    (["--replay", "session"], False),
])
def test_which_command_lines_start_the_child_ahead(argv, expected):
    assert uses_detector_process(argv) is expected
