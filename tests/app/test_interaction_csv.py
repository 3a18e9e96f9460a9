"""interaction.csv: every hand's Interaction is recorded beside frames.csv and read back equal;
sessions without the file (older recordings) still read, with interaction None."""

from __future__ import annotations

import numpy as np
import pytest

from app.session.layout import INTERACTION_COLUMNS, INTERACTION_NAME
from app.sinks import Recorder, RecorderConfig, read_session
from tests.app.test_session_data import make_interaction, make_result

N = 12
EVENTS = [(), (("grab", 2),),
          (("open_palm", 1), ("pinch_index_start", 11), ("pinch_ring_end", 23))]


def results():
    out = []
    for i in range(N):
        r = make_result(i)
        for k, h in enumerate(r.hands):
            if k == 0:  # a second hand stays without an interaction
                h.interaction = make_interaction(i, gesture=("none", "grab", "victory")[i % 3],
                                                 events=EVENTS[i % 3])
        out.append(r)
    return out


def record(path):
    with Recorder(RecorderConfig(path=path, video=False)) as rec:
        for r in results():
            rec.write(r, None)
    assert rec.error is None


def test_round_trip(tmp_path):
    record(tmp_path / "s")
    header = (tmp_path / "s" / INTERACTION_NAME).read_text().splitlines()[0]
    assert header.split(",") == list(INTERACTION_COLUMNS) and len(INTERACTION_COLUMNS) == 34
    s = read_session(tmp_path / "s")
    assert s.warnings == []
    n = 0
    for got, want in zip(s.frames, results()):
        for a, b in zip(got.hands, want.hands):
            if b.interaction is None:
                assert a.interaction is None
                continue
            n += 1
            x, y = a.interaction, b.interaction
            assert (x.gesture, x.gesture_code, x.extended, x.pinching) == (
                y.gesture, y.gesture_code, y.extended, y.pinching)
            assert [(e.name, e.code) for e in x.events] == [(e.name, e.code) for e in y.events]
            for f in ("pinch", "curl", "grab", "palm_m", "palm_normal", "palm_direction",
                      "hand_size_m"):
                np.testing.assert_allclose(getattr(x.measures, f), getattr(y.measures, f),
                                           rtol=1e-8, err_msg=f)
    assert n == sum(i % 3 > 0 for i in range(N))


def test_session_without_interaction_csv_reads(tmp_path):
    record(tmp_path / "s")
    (tmp_path / "s" / INTERACTION_NAME).unlink()
    s = read_session(tmp_path / "s")
    assert len(s.frames) == N
    assert all(h.interaction is None for f in s.frames for h in f.hands)


def test_corrupt_row_names_the_file(tmp_path):
    from app.session.errors import SessionError

    record(tmp_path / "s")
    p = tmp_path / "s" / INTERACTION_NAME
    lines = p.read_text().splitlines()
    lines[1] = lines[1].replace(lines[1].split(",")[2], "x", 1)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(SessionError, match="interaction.csv: line 2"):
        read_session(tmp_path / "s")
