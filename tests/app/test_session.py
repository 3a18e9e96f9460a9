"""read_session on damaged folders: clear errors naming the file; interruptions read with
warnings; a partial write is never presented as complete."""

from __future__ import annotations

import json
import shutil

import pytest

from app.sinks import SessionError, read_session
from tests.app.test_recorder import record


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    path = tmp_path_factory.mktemp("sessions") / "clean"
    record(path, n=12)
    return path


@pytest.fixture
def copy(clean, tmp_path):
    dst = tmp_path / "s"
    shutil.copytree(clean, dst)
    return dst


def _mark_incomplete(path):
    meta = json.loads((path / "meta.json").read_text())
    meta["complete"] = False
    (path / "meta.json").write_text(json.dumps(meta))


def test_missing_folder_and_files(tmp_path, copy):
    with pytest.raises(SessionError, match="no such folder"):
        read_session(tmp_path / "nope")
    with pytest.raises(SessionError, match="meta.json is missing"):
        read_session(tmp_path)
    (copy / "frames.csv").unlink()
    with pytest.raises(SessionError, match="frames.csv is missing"):
        read_session(copy)


def test_corrupt_meta(copy):
    (copy / "meta.json").write_text("{not json")
    with pytest.raises(SessionError, match="meta.json cannot be read"):
        read_session(copy)


def test_partial_last_line_is_dropped_and_reported(copy):
    _mark_incomplete(copy)  # as after a crash
    csv_path = copy / "frames.csv"
    data = csv_path.read_bytes()
    csv_path.write_bytes(data[: len(data) - 100])  # cut inside the last row
    s = read_session(copy)
    assert not s.complete and len(s.frames) == 11
    assert any("partial last line" in w for w in s.warnings)


def test_truncated_csv_of_a_complete_session_is_an_error(copy):
    csv_path = copy / "frames.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text("".join(lines[:-3]))  # whole rows gone: only the count can tell
    with pytest.raises(SessionError, match="holds 1[01] frames but meta.json records 12"):
        read_session(copy)


def test_corrupt_row_names_the_line(copy):
    csv_path = copy / "frames.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace(",", ",x", 1)
    csv_path.write_text("".join(lines))
    with pytest.raises(SessionError, match="line 4"):
        read_session(copy)


def test_truncated_video_segment(copy):
    seg = copy / "video" / "segment_00000.mp4"
    seg.write_bytes(seg.read_bytes()[:2000])
    with pytest.raises(SessionError, match="segment_00000.mp4.*truncated or corrupt"):
        read_session(copy)


def test_missing_video_segment(copy):
    (copy / "video" / "segment_00001.mp4").unlink()
    with pytest.raises(SessionError, match="segment_00001.mp4 is missing"):
        read_session(copy)


def test_unclosed_segment_is_skipped_with_warning(copy):
    _mark_incomplete(copy)
    (copy / "video" / "segment_00099.mp4").write_bytes(b"\x00" * 100)  # never released
    s = read_session(copy)
    assert any("segment_00099.mp4 was never closed" in w for w in s.warnings)
    assert len(list(s.iter_video())) == 12
