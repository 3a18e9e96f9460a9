"""Rendered Hand Pose Dataset (RHD) loader; also reads handtrack-synth output (same layout).

Of the two hand slots, the hand with more mask pixels is used (ties: more visible keypoints).
Its point cloud comes from the depth map under that hand's mask labels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from model.geometry import depth_to_cloud
from model.hand import LEFT, RIGHT, from_rhd
from train.data import rhd_format
from train.data.base import HandDataset
from train.data.config import SampleConfig
from train.data.sample import RawSample


def choose_hand(mask: np.ndarray, uv_vis: np.ndarray, xyz: np.ndarray | None = None) -> int:
    """0 (left) or 1 (right): the hand with more mask pixels; ties go to more visible points.

    A hand slot whose 3D joints are all zero (an absent hand, as handtrack-synth writes the hand
    it did not render) is never chosen while the other slot holds a hand."""
    if xyz is not None:
        present = [bool(np.any(xyz[:21])), bool(np.any(xyz[21:]))]
        if present[0] != present[1]:
            return LEFT if present[0] else RIGHT
    n_left = int(np.count_nonzero((mask >= 2) & (mask <= 17)))
    n_right = int(np.count_nonzero((mask >= 18) & (mask <= 33)))
    if n_left != n_right:
        return LEFT if n_left > n_right else RIGHT
    return LEFT if uv_vis[:21, 2].sum() > uv_vis[21:, 2].sum() else RIGHT


def hand_mask(mask: np.ndarray, side: int) -> np.ndarray:
    """(H, W) bool of one hand's part labels (left 2-17, right 18-33)."""
    lo, hi = rhd_format.LEFT_LABELS if side == LEFT else rhd_format.RIGHT_LABELS
    return (mask >= lo) & (mask <= hi)


class RHDDataset(HandDataset):
    """RHD_published_v2-style folder: ROOT/{split}/{color,depth,mask}/%05d.png and
    ROOT/{split}/anno_{split}.pickle (read by rhd_format.AnnotationUnpickler, which
    builds numpy arrays and plain data only)."""

    has_depth = True

    def __init__(self, root: str | Path, split: str, config: SampleConfig):
        super().__init__(split, config)
        self.root = Path(root)
        d = rhd_format.split_dir(self.root, split)
        if not d.is_dir():
            raise FileNotFoundError(
                f"{d} not found: an RHD root holds training/ and evaluation/ folders "
                f"(e.g. RHD_published_v2/); check the path given after 'rhd:' or 'synth:'")
        for kind in ("color", "depth", "mask"):
            if not (d / kind).is_dir():
                raise FileNotFoundError(f"{d / kind} not found; an RHD split folder holds "
                                        f"color/, depth/ and mask/ with %05d.png images")
        self.annos = rhd_format.load_annotations(rhd_format.anno_path(self.root, split))
        self.ids = sorted(self.annos)
        for kind in ("color", "depth", "mask"):
            present = set(os.listdir(d / kind))
            missing = [i for i in self.ids if f"{i:05d}.png" not in present]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} annotated {kind} images are missing from {d / kind}, e.g. "
                    f"{d / kind / f'{missing[0]:05d}.png'}; the data set is incomplete "
                    f"(re-extract or regenerate it)")

    def __len__(self) -> int:
        return len(self.ids)

    def raw(self, index: int) -> RawSample:
        sid = self.ids[index]
        a = self.annos[sid]
        rgb = rhd_format.read_color_png(rhd_format.image_path(self.root, self.split, "color", sid))
        mask = rhd_format.read_mask_png(rhd_format.image_path(self.root, self.split, "mask", sid))
        depth = rhd_format.read_depth_png(
            rhd_format.image_path(self.root, self.split, "depth", sid))
        if mask.shape != rgb.shape[:2] or depth.shape != rgb.shape[:2]:
            raise ValueError(f"sample {sid:05d} of {self.root / self.split}: colour "
                             f"{rgb.shape[:2]}, depth {depth.shape} and mask {mask.shape} "
                             f"sizes differ; they must match")
        side = choose_hand(mask, a["uv_vis"], a["xyz"])
        sl = slice(21 * side, 21 * side + 21)
        joints = from_rhd(a["xyz"][sl])
        uv_vis = from_rhd(a["uv_vis"][sl])
        cloud = depth_to_cloud(depth, a["K"], hand_mask(mask, side))
        return RawSample(rgb=rgb, joints_m=joints, uv_px=uv_vis[:, :2], vis=uv_vis[:, 2] > 0.5,
                         K=a["K"], side=side, cloud_m=cloud)
