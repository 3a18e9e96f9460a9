"""What the command line and the window share about sinks: the fan-out (a failing sink is dropped
with its reason, the others keep going) and the recorder's config (the same session either way).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.engine import EngineConfig, SourceConfig
from app.results import FrameResult
from app.sinks import SinkFanout, recorder_config


class ListSink:
    """Keeps the frame ids written; raises from write() number `fail_at`; sets `error` from
    write() number `error_at` on."""

    def __init__(self, fail_at: int | None = None, error_at: int | None = None,
                 close_error: Exception | None = None):
        self.fail_at, self.error_at, self.close_error = fail_at, error_at, close_error
        self.written: list[int] = []
        self.error: str | None = None
        self.closed = 0

    def write(self, result: FrameResult, frame_rgb) -> None:
        n = len(self.written) + 1
        if n == self.fail_at:
            raise RuntimeError("disk on fire")
        self.written.append(result.frame_id)
        if self.error_at is not None and n >= self.error_at:
            self.error = "nothing is listening"

    def close(self) -> None:
        self.closed += 1
        if self.close_error is not None:
            raise self.close_error


def _frames(n: int):
    return [(FrameResult(i, float(i), 64, 48), np.zeros((48, 64, 3), np.uint8)) for i in range(n)]


def _fanout(**sinks) -> tuple[SinkFanout, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    fanout = SinkFanout(on_problem=lambda name, reason: problems.append((name, reason)))
    for name, sink in sinks.items():
        fanout.add(name, sink)
    return fanout, problems


def test_a_failing_sink_is_dropped_with_its_reason_and_the_others_keep_going():
    first, bad, last = ListSink(), ListSink(fail_at=3), ListSink()
    fanout, problems = _fanout(first=first, bad=bad, last=last)
    with fanout:
        for result, rgb in _frames(6):
            fanout.write(result, rgb)
    assert problems == [("bad", "disk on fire")]
    assert list(fanout.sinks) == ["first", "last"]
    assert bad.written == [0, 1] and bad.closed == 1  # closed when dropped, not again
    assert first.written == last.written == list(range(6))
    assert first.closed == last.closed == 1


def test_a_sink_error_is_reported_once_and_the_sink_kept():
    udp = ListSink(error_at=2)
    fanout, problems = _fanout(udp=udp)
    for result, rgb in _frames(5):
        fanout.write(result, rgb)
    fanout.close()
    assert problems == [("udp", "nothing is listening")]
    assert udp.written == list(range(5)) and udp.closed == 1


def test_replacing_and_closing():
    old, new = ListSink(), ListSink(close_error=OSError("unmounted"))
    fanout, problems = _fanout(recorder=old)
    fanout.add("recorder", new)  # closes the one there
    assert old.closed == 1 and fanout.sinks == {"recorder": new}
    fanout.close()
    fanout.close()
    assert new.closed == 1 and problems == [("recorder", "closing failed: unmounted")]
    fanout.write(*_frames(1)[0])  # after close: ignored
    assert new.written == []


def test_without_a_handler_drops_are_logged_and_sink_errors_left_to_the_sinks(caplog):
    fanout = SinkFanout()
    fanout.add("osc", ListSink(error_at=1))
    fanout.add("bad", ListSink(fail_at=1))
    with caplog.at_level(logging.WARNING):
        for result, rgb in _frames(3):
            fanout.write(result, rgb)
    assert caplog.messages == ["bad stopped: disk on fire; the other outputs go on"]


def _engine(drops_frames: bool) -> SimpleNamespace:
    """What recorder_config reads of an opened app.engine.Engine."""
    source = SimpleNamespace(size=(64, 48), fps=25.0, description="video clip.mp4",
                             mirrored=True, intrinsics=None)
    engine = SimpleNamespace(
        source=source, config=EngineConfig(source=SourceConfig(kind="video", path="clip.mp4")),
        intrinsics_source="", checkpoint=Path("m.pt"), backend_name="torch (cpu, crop 64 px)",
        drops_frames=drops_frames)

    def intrinsics(size):
        engine.intrinsics_source = "60 deg field-of-view model"
        return np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])

    engine.intrinsics = intrinsics
    return engine


@pytest.mark.parametrize("drops_frames", [False, True])
def test_command_line_and_window_record_the_same_session(tmp_path, drops_frames):
    pytest.importorskip("PyQt6", reason="the window's wiring needs PyQt6")
    from app.cli import build_parser, open_sinks
    from app.gui.settings import PanelSettings
    from app.gui.wiring import EngineServices

    engine = _engine(drops_frames)
    args = build_parser().parse_args(["--video", "clip.mp4", "--record", str(tmp_path / "cli")])
    with open_sinks(args, engine) as sinks:
        cli = sinks.sinks["recorder"]
    gui = EngineServices().make_recorder(tmp_path / "gui", PanelSettings(source="video"), engine)
    gui.close()
    a, b = vars(cli.config), vars(gui.config)
    assert set(a) == set(b)
    for key in a:
        if key != "path":
            np.testing.assert_equal(a[key], b[key], err_msg=key)
    assert a["wait_for_video"] is (not drops_frames)  # offline: wait for the encoder
    assert a["camera"] == {"source": "video", "description": "video clip.mp4", "index": None,
                           "path": "clip.mp4", "width": 64, "height": 48, "fps": 25.0,
                           "mirror": True}
    metas = [json.loads((tmp_path / d / "meta.json").read_text()) for d in ("cli", "gui")]
    for key in ("camera", "intrinsics", "model", "backend", "video"):
        assert metas[0][key] == metas[1][key], key
    assert recorder_config(engine, "x").camera == a["camera"]
