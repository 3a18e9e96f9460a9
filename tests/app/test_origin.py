"""Each output names where its frame came from (FrameOrigin): the image file of --images, the
frame index and timestamp of --video, the recorded identity of --replay; kept through a
recording (frames_source.csv) and through real-time drops."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main, result_json
from app.engine import BackendConfig, Engine, EngineConfig, SourceConfig
from app.results import FrameOrigin, FrameResult
from app.session import read_session
from app.session.layout import SOURCE_NAME
from app.sinks.udp import encode_frame
from tests.app.test_cli import _write_clip
from tests.app.test_engine import CROP, SlowBackend, make_checkpoint

FPS = 25.0  # the clip's frame rate (_write_clip)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("origin") / "m.pt", CROP)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return _write_clip(tmp_path_factory.mktemp("clip") / "clip.avi", n=8)


def _run(argv: list[str], ckpt: Path, out: Path) -> list[dict]:
    assert main(argv + ["--headless", "--json", str(out), "--checkpoint", str(ckpt),
                        "--backend", "torch"]) == 0
    return [json.loads(x) for x in out.read_text().splitlines()]


def test_json_from_images_names_the_file(ckpt, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    names = ["b_second.png", "a_first.jpg", "c third.png"]
    for n in names:
        cv2.imwrite(str(folder / n), np.full((40, 56, 3), 90, np.uint8))
    lines = _run(["--images", str(folder)], ckpt, tmp_path / "out.jsonl")
    assert [x["source"] for x in lines] == [
        {"kind": "images", "index": i, "name": n, "time_s": None}
        for i, n in enumerate(sorted(names))]


def test_json_from_video_gives_frame_index_and_time(ckpt, clip, tmp_path):
    lines = _run(["--video", str(clip)], ckpt, tmp_path / "out.jsonl")
    assert len(lines) == 8
    for i, x in enumerate(lines):
        assert x["frame"] == i
        assert x["source"]["kind"] == "video" and x["source"]["name"] == "clip.avi"
        assert x["source"]["index"] == i
        assert x["source"]["time_s"] == pytest.approx(i / FPS, abs=1e-6)


def test_replayed_session_keeps_the_origin(ckpt, clip, tmp_path):
    session = tmp_path / "session"
    live = _run(["--video", str(clip), "--record", str(session)], ckpt, tmp_path / "live.jsonl")
    assert (session / SOURCE_NAME).is_file()
    recorded = read_session(session).frames
    assert [f.origin.index for f in recorded] == list(range(8))
    assert recorded[3].origin == FrameOrigin("video", 3, "clip.avi", pytest.approx(3 / FPS))
    for extra in ([], ["--reprocess"]):
        replayed = _run(["--replay", str(session)] + extra, ckpt, tmp_path / "replay.jsonl")
        assert [x["source"] for x in replayed] == [x["source"] for x in live], extra
    # a session recorded before frames_source.csv existed still reads; replay names its frames
    (session / SOURCE_NAME).unlink()
    assert all(f.origin is None for f in read_session(session).frames)
    old = _run(["--replay", str(session)], ckpt, tmp_path / "old.jsonl")
    for x, y in zip(old, live):
        assert x["source"] == {"kind": "replay", "index": y["frame"], "name": "clip.avi",
                               "time_s": pytest.approx(y["time"], abs=1e-6)}


def test_realtime_drops_keep_the_source_index(ckpt, tmp_path):
    """A real-time video into a slow pipeline: frame ids have gaps and every origin index is
    its frame's position in the file (the same number here, one video pass)."""
    clip = _write_clip(tmp_path / "long.avi", n=40)

    class SlowDetector:
        def detect(self, rgb, mirrored):
            time.sleep(0.09)
            return []

    cfg = EngineConfig(source=SourceConfig(kind="video", path=str(clip), realtime=True),
                       backend=BackendConfig(kind="torch", checkpoint=str(ckpt), device="cpu"))
    with Engine(cfg, backend=SlowBackend(0.0), detector=SlowDetector()) as engine:
        results = [r for r, _ in engine.run()]
    ids = [r.frame_id for r in results]
    assert engine.stats.dropped > 0 and max(np.diff(ids)) >= 2, ids
    assert [r.origin.index for r in results] == ids
    for r in results:
        source = json.loads(result_json(r))["source"]
        assert source["index"] == r.frame_id
        assert source["time_s"] == pytest.approx(r.frame_id / FPS, abs=1e-6)


def test_frame_without_origin_encodes_null():
    assert json.loads(encode_frame(FrameResult(3, 1.5, 8, 8)))["source"] is None
