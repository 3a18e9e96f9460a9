"""The CSV files of a session (columns in app.session.layout): FrameResult -> frames.csv rows and
back, and reading a CSV that an interrupted recording may have cut mid-line."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from app.results import FrameResult, HandResult
from app.session.errors import SessionError
from app.session.layout import CSV_COLUMNS

log = logging.getLogger(__name__)
_J0 = CSV_COLUMNS.index("wrist_x_m")


def warn(warnings: list[str], msg: str) -> None:
    """Keep a reading problem in the session's warnings and log it."""
    warnings.append(msg)
    log.warning(msg)


def _fmt(values) -> list[str]:
    """float32 values -> shortest-safe text ('%.9g' round-trips float32 exactly)."""
    return list(map("{:.9g}".format, values))


def csv_rows(result: FrameResult) -> list[list[str]]:
    """The frames.csv rows of one frame (one per hand, or one with empty hand fields)."""
    head = [str(int(result.frame_id)), repr(float(result.capture_time)), str(int(result.width)),
            str(int(result.height)), str(len(result.hands))]
    if not result.hands:
        return [head + [""] * (len(CSV_COLUMNS) - len(head))]
    rows = []
    for h in result.hands:
        joints = np.asarray(h.joints_m, np.float32).reshape(-1).tolist()  # (63,)
        uv = np.asarray(h.uv_px, np.float32).reshape(-1).tolist()  # (42,)
        rows.append(head + [str(int(h.hand_id)), str(int(h.side)), repr(float(h.confidence))]
                    + _fmt(joints) + _fmt(uv))
    return rows


def read_csv(path: Path, columns: tuple[str, ...], warnings: list[str]) -> list[list[str]]:
    """Rows of a CSV written by the recorder; a partial last line is dropped and reported."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SessionError(f"{path}: cannot read it ({e})") from None
    if text and not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        warn(warnings, f"{path.name}: dropped a partial last line ({len(text) - cut} bytes); "
                       "the recording was interrupted while writing it")
        text = text[:cut]
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise SessionError(f"{path}: the file is empty (no header); the recording did not start")
    if tuple(rows[0]) != columns:
        bad = next((i for i, (a, b) in enumerate(zip(rows[0], columns)) if a != b),
                   min(len(rows[0]), len(columns)))
        raise SessionError(f"{path}: unexpected header at column {bad + 1} (expected "
                           f"{columns[bad] if bad < len(columns) else 'end of line'!r}); "
                           "this is not a handtrack recording or it was edited")
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise SessionError(f"{path}: line {n} has {len(row)} fields instead of "
                               f"{len(columns)}; the file is corrupt")
    return rows[1:]


def frames_from_rows(rows: list[list[str]], path: Path, warnings: list[str]) -> list[FrameResult]:
    """frames.csv rows (without the header) -> FrameResults, hands in hand_id order. An
    unfinished last frame (fewer hand rows than its 'hands' count) is dropped and reported."""
    frames: list[FrameResult] = []
    expected = 0  # hand rows still missing for frames[-1]
    for n, row in enumerate(rows, start=2):
        try:
            fid, t, w, h, nh = int(row[0]), float(row[1]), int(row[2]), int(row[3]), int(row[4])
            if expected == 0:
                frames.append(FrameResult(fid, t, w, h))
                expected = nh
                if nh == 0:
                    continue
            elif fid != frames[-1].frame_id:
                raise ValueError(f"frame {frames[-1].frame_id} has fewer hand rows than its "
                                 "'hands' count")
            vals = np.array(row[_J0:], dtype=np.float32)  # (63 + 42,)
            frames[-1].hands.append(HandResult(
                hand_id=int(row[5]), side=int(row[6]), confidence=float(row[7]),
                joints_m=vals[:63].reshape(21, 3), uv_px=vals[63:].reshape(21, 2)))
            expected -= 1
        except ValueError as e:
            raise SessionError(
                f"{path}: line {n} cannot be read ({e}); the file is corrupt") from None
    if expected:
        dropped = frames.pop()
        warn(warnings, f"{path.name}: dropped the last frame {dropped.frame_id}, which has only "
                       f"{len(dropped.hands)} of {len(dropped.hands) + expected} hand rows "
                       "(recording interrupted)")
    for f in frames:
        f.hands.sort(key=lambda hand: hand.hand_id)
    return frames
