"""rig.csv (columns in app.session.layout): each hand's joint rotations (model.rig.HandRig), one
row per frame and hand, written beside frames.csv and read back onto the session's hands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.results import FrameResult
from app.session.errors import SessionError


def rig_rows(result: FrameResult) -> list[list[str]]:
    """The rig.csv rows of one frame (hands without a rig have none)."""
    rows = []
    for h in result.hands:
        r = h.rig
        if r is None:
            continue
        values = np.concatenate([r.wrist_wxyz, r.wrist_m, r.local_wxyz.reshape(-1), r.bone_m])
        rows.append([str(int(result.frame_id)), str(int(h.hand_id))]
                    + [f"{v:.9g}" for v in values.astype(np.float64)])
    return rows


def rigs_from_rows(rows: list[list[str]], path: Path) -> dict[tuple[int, int], object]:
    """rig.csv rows (without the header) -> {(frame id, hand id): model.rig.HandRig}."""
    from model.rig import HandRig  # numba-compiled module: only where rigs are read

    rigs = {}
    for n, row in enumerate(rows, start=2):
        try:
            v = np.array(row[2:], dtype=np.float64)
            rigs[(int(row[0]), int(row[1]))] = HandRig(v[0:4], v[4:7], v[7:87].reshape(20, 4),
                                                       v[87:107])
        except ValueError as e:
            raise SessionError(
                f"{path}: line {n} cannot be read ({e}); the file is corrupt") from None
    return rigs
