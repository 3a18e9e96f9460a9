"""Pairs of reference hands and the engine's hands in one frame, by their 2D keypoints."""

from __future__ import annotations

import numpy as np


def match_2d(ref_uv: list[np.ndarray], ref_valid: list[np.ndarray],
             pred_uv: list[np.ndarray]) -> list[tuple[int, int, float]]:
    """One-to-one (reference index, prediction index, distance px) pairs, greedy by the mean 2D
    distance over the reference's valid keypoints ((21, 2) px, (21,) bool); a pair counts when
    that distance is under half the reference hand's 2D extent."""
    pairs = []
    for i, (ref, valid) in enumerate(zip(ref_uv, ref_valid)):
        extent = float(np.ptp(ref[valid], axis=0).max())
        for j, uv in enumerate(pred_uv):
            d = float(np.linalg.norm(uv[valid] - ref[valid], axis=1).mean())
            if d < 0.5 * extent:
                pairs.append((d, i, j))
    used_i, used_j, out = set(), set(), []
    for d, i, j in sorted(pairs):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out.append((i, j, d))
    return out
