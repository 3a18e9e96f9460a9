"""interaction.csv (columns in app.session.layout): each hand's interaction signals
(app.results.Interaction), one row per frame and hand, written beside frames.csv and read
back onto the session's hands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.results import FrameResult
from app.session.errors import SessionError


def interaction_rows(result: FrameResult) -> list[list[str]]:
    """The interaction.csv rows of one frame (hands without an interaction have none)."""
    rows = []
    for h in result.hands:
        inter = h.interaction
        if inter is None:
            continue
        m = inter.measures
        values = np.concatenate([m.pinch, [m.grab], m.curl, m.palm_m, m.palm_normal,
                                 m.palm_direction, [m.hand_size_m]]).astype(np.float64)  # (20,)
        rows.append([str(int(result.frame_id)), str(int(h.hand_id))]
                    + [f"{v:.9g}" for v in values]
                    + [str(int(bool(e))) for e in inter.extended]
                    + [str(int(bool(p))) for p in inter.pinching]
                    + [inter.gesture, str(int(inter.gesture_code)),
                       ";".join(f"{e.name}:{int(e.code)}" for e in inter.events)])
    return rows


def interactions_from_rows(rows: list[list[str]], path: Path) -> dict[tuple[int, int], object]:
    """interaction.csv rows (without the header) -> {(frame id, hand id): Interaction}."""
    from app.results import GESTURE_CODES, GestureEvent, Interaction
    from model.gestures import HandMeasures

    out = {}
    for n, row in enumerate(rows, start=2):
        try:
            v = np.array(row[2:22], dtype=np.float64)  # (20,)
            flags = [bool(int(x)) for x in row[22:31]]
            gesture, events = row[31], row[33]
            if gesture not in GESTURE_CODES:
                raise ValueError(f"unknown gesture {gesture!r}")
            m = HandMeasures(pinch=v[0:4], grab=float(v[4]), curl=v[5:10], palm_m=v[10:13],
                             palm_normal=v[13:16], palm_direction=v[16:19],
                             hand_size_m=float(v[19]))
            evs = [GestureEvent(name, int(code)) for name, code in
                   (e.rsplit(":", 1) for e in events.split(";") if e)]
            out[(int(row[0]), int(row[1]))] = Interaction(m, tuple(flags[:5]), tuple(flags[5:]),
                                                          gesture, evs)
        except (ValueError, IndexError) as e:
            raise SessionError(
                f"{path}: line {n} cannot be read ({e}); the file is corrupt") from None
    return out
