"""Replay of a session whose video covers only part of its results (a crash, encoder drops, or
no video at all): every recorded result replays, the frames without video without a picture,
and the summary counts hands over all of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from app.engine import EngineConfig, SourceConfig
from app.engine.sources import ReplaySource
from app.sinks import Recorder, RecorderConfig
from tests.app.test_engine import CROP, make_checkpoint
from tests.app.test_session_data import make_image, make_result

N = 30
NO_VIDEO = {5, *range(18, N)}  # an encoder drop, then the end of the video cut by a crash


def record_partial(path, video: bool = True):
    """A session of N frames whose video lacks the frames in NO_VIDEO."""
    cfg = RecorderConfig(path=path, segment_s=0.3, video_queue=64, video=video, K=np.eye(3))
    with Recorder(cfg) as rec:
        for i in range(N):
            rec.write(make_result(i), None if i in NO_VIDEO else make_image(i))
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("replay") / "m.pt", CROP)


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    return record_partial(tmp_path_factory.mktemp("replay") / "partial")


def test_replay_source_yields_every_recorded_frame(partial):
    src = ReplaySource(SourceConfig(kind="replay", path=str(partial)))
    assert src.frames_without_video == len(NO_VIDEO) and src.frames_total == N
    assert src.size == (96, 64)
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    assert [f.recorded.frame_id for f in frames] == list(range(N))
    assert {f.recorded.frame_id for f in frames if f.rgb is None} == NO_VIDEO
    for f in frames:
        assert f.capture_time == make_result(f.recorded.frame_id).capture_time
        if f.rgb is not None:
            assert np.abs(f.rgb.astype(int) - make_image(f.recorded.frame_id)).mean() < 8


def test_headless_replay_emits_all_results_and_counts_hands(ckpt, partial, tmp_path, capsys):
    out = tmp_path / "replay.jsonl"
    assert main(["--replay", str(partial), "--headless", "--json", str(out),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(N))
    for x in lines:
        want = make_result(x["frame"])
        assert [h["id"] for h in x["hands"]] == [h.hand_id for h in want.hands]
        for got, h in zip(x["hands"], want.hands):
            np.testing.assert_allclose(got["joints_m"], h.joints_m, atol=2e-6)
    hands = sum(len(make_result(i).hands) for i in range(N))
    summary = captured.out.splitlines()
    assert summary[0].startswith(f"frames {N}, dropped 0,"), captured.out
    assert summary[0].endswith(f"{hands / N:.2f} hands/frame"), captured.out
    assert f"replayed {len(NO_VIDEO)} of {N} frames without a picture" in captured.out
    assert f"{len(NO_VIDEO)} of {N} recorded frames have no video" in captured.err


def test_reprocess_skips_frames_without_video(ckpt, partial, tmp_path, capsys):
    out = tmp_path / "again.jsonl"
    assert main(["--replay", str(partial), "--reprocess", "--headless", "--json", str(out),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    printed = capsys.readouterr().out
    frames = [json.loads(x)["frame"] for x in out.read_text().splitlines()]
    assert len(frames) == N - len(NO_VIDEO)
    assert f"skipped {len(NO_VIDEO)} recorded frames without video" in printed, printed


def test_session_without_video_replays_results_only(ckpt, tmp_path, capsys):
    path = record_partial(tmp_path / "novideo", video=False)
    out = tmp_path / "replay.jsonl"
    assert main(["--replay", str(path), "--headless", "--json", str(out),
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 0
    assert len(out.read_text().splitlines()) == N
    assert f"replayed {N} of {N} frames without a picture" in capsys.readouterr().out
    assert main(["--replay", str(path), "--reprocess", "--headless",
                 "--checkpoint", str(ckpt), "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(line) == 1 and "no video" in line[0] and "without --reprocess" in line[0], err


def test_window_worker_shows_frames_without_video(ckpt, partial):
    pytest.importorskip("PyQt6")
    from app.engine import BackendConfig, Engine
    from app.gui.worker import EngineWorker

    config = EngineConfig(source=SourceConfig(kind="replay", path=str(partial), realtime=False),
                          backend=BackendConfig(kind="torch", checkpoint=str(ckpt)))
    worker = EngineWorker(lambda on_message: Engine(config, on_message=on_message))
    packets, messages, failures = [], [], []
    worker.frame.connect(packets.append)
    worker.message.connect(messages.append)
    worker.failed.connect(failures.append)
    worker.run()  # in this thread: the signals are delivered directly
    assert failures == []
    assert [p.result.frame_id for p in packets] == list(range(N))
    for p in packets:
        assert p.frame_rgb.shape == (64, 96, 3)  # a black picture stands in for missing video
        if p.result.frame_id in NO_VIDEO:
            assert not p.frame_rgb.any()
    assert any(f"{len(NO_VIDEO)} of {N} recorded frames have no video" in str(m) for m in messages)
