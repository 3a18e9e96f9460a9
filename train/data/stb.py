"""Stereo Hand Pose Benchmark (STB) loader, Intel RealSense (SK) images.

Layout: ROOT/labels/<seq>_SK.mat with 'handPara' (3, 21, N) millimetres and
ROOT/<seq>/SK_color_<i>.png, ROOT/<seq>/SK_depth_<i>.png (depth mm = R + 256 * G), sequences
B1..B6 x {Counting, Random}; B1 is the evaluation split, B2-B6 training.

Frames: STB's readme gives a rotation vector r and a translation t (mm) that take coordinates
relative to the colour camera to those relative to the depth camera: p_depth = R(r) p_colour + t.
handPara is given in the depth camera's frame, so the joints are moved into the colour camera
with p_colour = R^T (p_depth - t) (the convention of the STB literature's loaders), then
reordered with model.hand.from_stb (palm centre -> wrist). The depth image is assumed to be in
the depth camera's own pixel grid (its own intrinsics); set depth_registered=True for copies
whose depth was registered to the colour image.

STB has no segmentation: the hand mask is the set of depth pixels within mask_radius_m of the
skeleton (the 20 bones plus wrist -> MCP segments that span the palm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from model.geometry import backproject, project
from model.hand import BONES, from_stb
from train.data.base import HandDataset
from train.data.config import SampleConfig
from train.data.sample import RawSample

K_COLOR = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])
K_DEPTH = np.array([[475.62768, 0.0, 336.41179], [0.0, 474.77709, 238.77962], [0.0, 0.0, 1.0]])
COLOR_TO_DEPTH_RVEC = np.array([0.00531, -0.01196, 0.00301])
COLOR_TO_DEPTH_T_MM = np.array([-24.0381, -0.4563, -1.2326])
R_COLOR_TO_DEPTH = cv2.Rodrigues(COLOR_TO_DEPTH_RVEC)[0]

TRAIN_SEQUENCES = tuple(f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random"))
EVAL_SEQUENCES = ("B1Counting", "B1Random")
# Segments that span the hand for the depth mask: bones + wrist -> each MCP.
MASK_SEGMENTS = tuple(BONES) + ((0, 5), (0, 9), (0, 13), (0, 17), (5, 9), (9, 13), (13, 17))


def depth_to_color(points_mm: np.ndarray) -> np.ndarray:
    """(..., 3) points in the depth camera (mm) -> colour camera (mm): R^T (p - t)."""
    return (np.asarray(points_mm, np.float64) - COLOR_TO_DEPTH_T_MM) @ R_COLOR_TO_DEPTH


def color_to_depth(points_mm: np.ndarray) -> np.ndarray:
    """(..., 3) points in the colour camera (mm) -> depth camera (mm): R p + t."""
    return np.asarray(points_mm, np.float64) @ R_COLOR_TO_DEPTH.T + COLOR_TO_DEPTH_T_MM


def read_stb_depth(path: Path) -> np.ndarray:
    """SK_depth PNG -> (H, W) float32 metres (mm = R + 256 * G)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read depth image {path}: missing or not a PNG")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"depth image {path} is {img.dtype} with shape {img.shape}; STB depth "
                         f"must be an 8-bit colour PNG with millimetres = R + 256 * G")
    mm = img[..., 2].astype(np.float32) + 256.0 * img[..., 1].astype(np.float32)
    return mm / 1000.0


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of (P, 3) points to each of S segments a (S, 3) -> b (S, 3). Returns (P, S)."""
    ab = b - a
    t = np.einsum("psk,sk->ps", points[:, None, :] - a[None], ab) / np.maximum(
        np.einsum("sk,sk->s", ab, ab), 1e-12)
    t = np.clip(t, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=-1)


def hand_points_from_depth(depth_m: np.ndarray, K: np.ndarray, joints_m: np.ndarray,
                           radius_m: float) -> np.ndarray:
    """Depth pixels within radius_m of the skeleton, back-projected: (M, 3) float32 metres in
    the depth camera's frame. joints_m: (21, 3) canonical order in that frame."""
    h, w = depth_m.shape
    uv = project(joints_m, K)
    z = float(joints_m[:, 2].min())
    pad = radius_m * K[0, 0] / max(z, 0.05) + 2
    u0, v0 = np.floor(uv.min(0) - pad).astype(int)
    u1, v1 = np.ceil(uv.max(0) + pad).astype(int)
    u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, w - 1), min(v1, h - 1)
    if u1 < u0 or v1 < v0:
        return np.zeros((0, 3), np.float32)
    vv, uu = np.mgrid[v0:v1 + 1, u0:u1 + 1]
    d = depth_m[v0:v1 + 1, u0:u1 + 1]
    ok = d > 0
    if not ok.any():
        return np.zeros((0, 3), np.float32)
    pts = backproject(np.stack([uu[ok], vv[ok]], -1).astype(np.float64), d[ok], K)
    a = joints_m[[s[0] for s in MASK_SEGMENTS]]
    b = joints_m[[s[1] for s in MASK_SEGMENTS]]
    near = segment_distance(pts, a, b).min(axis=1) < radius_m
    return pts[near].astype(np.float32)


@dataclass(frozen=True)
class STBOptions:
    """sequences: override the split's sequence names; depth_registered: depth PNGs already in
    the colour camera's pixel grid; mask_radius_m: distance from the skeleton that counts as
    hand when making the mask from depth."""

    sequences: tuple[str, ...] | None = None
    depth_registered: bool = False
    mask_radius_m: float = 0.02


class STBDataset(HandDataset):
    """STB SK (RealSense) frames with depth; the hand is a left hand (side 0)."""

    has_depth = True

    def __init__(self, root: str | Path, split: str, config: SampleConfig,
                 options: STBOptions = STBOptions()):
        super().__init__(split, config)
        self.root = Path(root)
        self.options = options
        if not self.root.is_dir():
            raise FileNotFoundError(f"STB root {self.root} not found; it should hold labels/ "
                                    f"and the sequence folders B1Counting, B1Random, ...")
        seqs = options.sequences or (TRAIN_SEQUENCES if split == "training" else EVAL_SEQUENCES)
        self.items: list[tuple[str, int]] = []
        self.labels: dict[str, np.ndarray] = {}
        for seq in seqs:
            self.labels[seq] = self._load_labels(seq)
            folder = self.root / seq
            if not folder.is_dir():
                raise FileNotFoundError(f"STB sequence folder {folder} not found; expected "
                                        f"{folder}/SK_color_<i>.png and SK_depth_<i>.png")
            present = set(os.listdir(folder))
            n = self.labels[seq].shape[0]
            for kind in ("color", "depth"):
                miss = [i for i in range(n) if f"SK_{kind}_{i}.png" not in present]
                if miss:
                    raise FileNotFoundError(
                        f"{len(miss)} of {n} labelled frames lack {folder}/SK_{kind}_<i>.png, "
                        f"e.g. {folder / f'SK_{kind}_{miss[0]}.png'}; the sequence is incomplete")
            self.items += [(seq, i) for i in range(n)]

    def _load_labels(self, seq: str) -> np.ndarray:
        path = self.root / "labels" / f"{seq}_SK.mat"
        if not path.is_file():
            raise FileNotFoundError(f"STB label file {path} not found; expected "
                                    f"ROOT/labels/<sequence>_SK.mat")
        try:
            mat = scipy.io.loadmat(str(path))
        except Exception as exc:
            raise ValueError(f"cannot read {path} as a MATLAB file ({exc})") from exc
        if "handPara" not in mat:
            raise ValueError(f"{path} has no 'handPara' variable (found "
                             f"{sorted(k for k in mat if not k.startswith('__'))})")
        hp = np.asarray(mat["handPara"], np.float64)
        if hp.ndim != 3 or hp.shape[:2] != (3, 21):
            raise ValueError(f"{path}: 'handPara' has shape {hp.shape}, expected (3, 21, N) "
                             f"millimetres")
        return hp.transpose(2, 1, 0)  # (N, 21, 3) mm, STB order, depth camera

    def __len__(self) -> int:
        return len(self.items)

    def joints_color_m(self, index: int) -> np.ndarray:
        """(21, 3) canonical joints in the colour camera, metres."""
        seq, i = self.items[index]
        return from_stb(depth_to_color(self.labels[seq][i])) / 1000.0

    def raw(self, index: int) -> RawSample:
        seq, i = self.items[index]
        folder = self.root / seq
        img = cv2.imread(str(folder / f"SK_color_{i}.png"), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read {folder / f'SK_color_{i}.png'}")
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        depth = read_stb_depth(folder / f"SK_depth_{i}.png")
        joints_c = self.joints_color_m(index)
        uv = project(joints_c, K_COLOR)
        h, w = rgb.shape[:2]
        vis = (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
        if self.options.depth_registered:
            cloud = hand_points_from_depth(depth, K_COLOR, joints_c, self.options.mask_radius_m)
        else:
            joints_d = from_stb(self.labels[seq][i]) / 1000.0
            pts_d = hand_points_from_depth(depth, K_DEPTH, joints_d, self.options.mask_radius_m)
            cloud = (depth_to_color(pts_d * 1000.0) / 1000.0).astype(np.float32)
        return RawSample(rgb=rgb, joints_m=joints_c, uv_px=uv, vis=vis, K=K_COLOR, side=0,
                         cloud_m=cloud)
