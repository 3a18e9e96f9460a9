"""app/engine/prefetch.py: the detector one frame ahead keeps the frames' order, hands on what
it does not detect, and raises the detector's errors in the caller's thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.engine.capture import Grabbed
from app.engine.prefetch import DetectAhead
from app.engine.sources import SourceFrame


class ListGrabber:
    def __init__(self, n: int, without_picture: int | None = None):
        self.items = [Grabbed(i, SourceFrame(None if i == without_picture else
                                             np.full((4, 4, 3), i, np.uint8), float(i)))
                      for i in range(n)]

    def get(self, timeout=None):
        return self.items.pop(0) if self.items else None

    @property
    def finished(self):
        return not self.items


def now(detect):
    """A Submit from a function: detects at once, collect returns the result."""
    def submit(rgb):
        dets = detect(rgb)
        return lambda: dets
    return submit


def test_frames_come_in_order_with_their_own_detections():
    seen = []

    def detect(rgb):
        seen.append(int(rgb[0, 0, 0]))
        return [int(rgb[0, 0, 0])]

    ahead = DetectAhead(ListGrabber(6, without_picture=3), now(detect), threading.Event(),
                        depth=2).start()
    got = []
    while (item := ahead.get()) is not None:
        got.append((item[0].frame_id, item[1]))
        assert item[2] >= 0.0
    ahead.close()
    assert got == [(0, [0]), (1, [1]), (2, [2]), (3, None), (4, [4]), (5, [5])]
    assert seen == [0, 1, 2, 4, 5]  # the frame without a picture is not detected


def test_depth_two_submits_the_next_frame_before_collecting():
    log = []

    def submit(rgb):
        i = int(rgb[0, 0, 0])
        log.append(f"submit {i}")

        def collect():
            log.append(f"collect {i}")
            return [i]
        return collect

    ahead = DetectAhead(ListGrabber(3), submit, threading.Event(), depth=2).start()
    assert [ahead.get()[1] for _ in range(3)] == [[0], [1], [2]]
    assert ahead.get() is None
    ahead.close()
    assert log[:3] == ["submit 0", "submit 1", "collect 0"]


def test_a_detector_error_is_raised_by_get():
    def detect(rgb):
        if rgb[0, 0, 0] == 2:
            raise RuntimeError("detector broke")
        return []

    ahead = DetectAhead(ListGrabber(5), now(detect), threading.Event()).start()
    assert ahead.get()[0].frame_id == 0 and ahead.get()[0].frame_id == 1
    with pytest.raises(RuntimeError, match="detector broke"):
        ahead.get()
    ahead.close()


def test_stop_ends_get_while_the_detector_waits():
    stop, release = threading.Event(), threading.Event()

    def detect(rgb):
        release.wait(5.0)
        return []

    ahead = DetectAhead(ListGrabber(3), now(detect), stop).start()
    stop.set()
    assert ahead.get() is None
    release.set()
    ahead.close()
