"""frames_source.csv (columns in app.session.layout): each frame's FrameOrigin, one row per
frame, written beside frames.csv and read back onto the session's FrameResults."""

from __future__ import annotations

from pathlib import Path

from app.results import FrameOrigin, FrameResult
from app.session.errors import SessionError


def origin_row(result: FrameResult) -> list[str] | None:
    """The frames_source.csv row of one frame, None when its origin is unknown."""
    o = result.origin
    if o is None:
        return None
    return [str(int(result.frame_id)), str(o.kind), str(int(o.index)),
            "" if o.name is None else str(o.name),
            "" if o.time_s is None else repr(float(o.time_s))]


def origins_from_rows(rows: list[list[str]], path: Path) -> dict[int, FrameOrigin]:
    """frames_source.csv rows (without the header) -> {frame id: FrameOrigin}."""
    origins = {}
    for n, (fid, kind, index, name, time_s) in enumerate(rows, start=2):
        try:
            origins[int(fid)] = FrameOrigin(kind, int(index), name or None,
                                            float(time_s) if time_s else None)
        except ValueError as e:
            raise SessionError(
                f"{path}: line {n} cannot be read ({e}); the file is corrupt") from None
    return origins
