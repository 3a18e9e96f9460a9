"""The engine's rig stage: each reported hand gets its joint rotations (model.rig.HandRig).

Every track keeps one rest skeleton, the bone lengths of its first reported frame, for as long as
it lives (ids are never reused), so the rotations of a track animate one constant skeleton (what
BVH and glTF need). The reported joints_m become the rig's forward kinematics: the rotations and
the joints agree exactly, and every recorded track has constant bone lengths, so an export of
the recorded joints reproduces them. This moves each joint only by the bone-length changes the
One Euro filter and the per-frame fit made after the track's first frame (directions are kept).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from app.results import HandResult
from model import rig


class TrackRigs:
    """The rest skeleton of each live track and the rig of each hand (about 0.05 ms a hand)."""

    def __init__(self) -> None:
        self._bones: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        self._bones.clear()

    def apply(self, hands: Iterable[HandResult]) -> None:
        """Set hand.rig and replace hand.joints_m (21, 3) float32 metres by the rig's forward
        kinematics, for every hand; forgets the tracks that are gone."""
        hands = list(hands)
        live = {h.hand_id for h in hands}
        for hand_id in [k for k in self._bones if k not in live]:
            del self._bones[hand_id]
        for hand in hands:
            bones = self._bones.get(hand.hand_id)
            if bones is None:
                bones = rig.bone_lengths_of(hand.joints_m).astype(np.float32)
                self._bones[hand.hand_id] = bones
            hand.rig = rig.solve(hand.joints_m, hand.side, bones)
            hand.joints_m = rig.rig_joints(hand.rig, hand.side).astype(np.float32)
