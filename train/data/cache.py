"""A crop cache: each data-set frame cut down to a small frame around its hand, stored as raw
memory-mapped arrays, so that a loader does almost no work per sample.

Cutting an axis-aligned square out of a frame and resizing it only changes the camera
intrinsics: with A (2, 3) the affine map from frame pixels to cache pixels, the small frame has
K' = A K and keypoints A uv, while the 3D joints (camera metres) stay as they are. The square is
centred on the un-augmented crop box and CONTEXT times its side, enough for the augmentation
(scale, shift, roll) and the viewpoint warp, so train.data.sample.make_sample makes the same
sample from the small frame as from the full one, up to the resampling of the image.

Folder layout (written to FOLDER.tmp-PID, then renamed): manifest.json; rgb.u8 (N, C, C, 3)
uint8; cloud.f16 (N, P, 3) float16 hand points minus cloud_origin_m (metres, camera frame);
meta.npz with K (N, 3, 3) cache intrinsics, K_source (N, 3, 3) the frame's intrinsics, affine
(N, 2, 3), uv_px (N, 21, 2) cache pixels, joints_m (N, 21, 3), vis (N, 21) bool, side (N,) int8,
cloud_count (N,) int32, cloud_origin_m (N, 3).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from model.geometry import box_from_keypoints
from model.hand import ROOT
from train.data import open_dataset, rhd_format
from train.data.base import HandDataset
from train.data.config import SampleConfig
from train.data.rhd import RHDDataset
from train.data.sample import RawSample

VERSION = 1
MIN_BOX_PX = 16.0  # box_from_keypoints' default min_size_px, which make_sample uses
MAX_SUPERSAMPLE = 8  # most source pixels averaged per cache pixel and axis when shrinking
META_KEYS = ("K", "K_source", "affine", "uv_px", "joints_m", "vis", "side", "cloud_count",
             "cloud_origin_m")


@dataclass(frozen=True)
class CacheConfig:
    """context: side of the cached square / side of the un-augmented crop box; side_factor:
    cache side C = side_factor * crop_size px; cloud_factor: points kept per frame
    P = cloud_factor * cloud_points; seed: seed of the choice of kept points."""

    context: float = 2.0
    side_factor: int = 2
    cloud_factor: int = 4
    seed: int = 0

    def side_px(self, config: SampleConfig) -> int:
        return self.side_factor * config.crop_size

    def points(self, config: SampleConfig) -> int:
        return self.cloud_factor * config.cloud_points


# ----------------------------------------------------------------------------- one frame
def cache_affine(uv_px: np.ndarray, config: SampleConfig, cache: CacheConfig) -> np.ndarray:
    """A (2, 3): frame pixels -> cache pixels, for a frame with keypoints uv_px (21, 2).

    The box's square of side context * box.size maps onto the C x C cache image, pixel edges on
    pixel edges (as virtual_intrinsics maps a box onto a crop). A box clamped to MIN_BOX_PX is
    kept at scale 1: box_from_keypoints on the mapped keypoints then clamps to the same box."""
    C = cache.side_px(config)
    if C / cache.context < MIN_BOX_PX:
        raise ValueError(f"cache side {C} px / context {cache.context} is below {MIN_BOX_PX} px; "
                         f"raise side_factor or lower context")
    box = box_from_keypoints(uv_px, margin=config.crop_margin)
    s = 1.0 if box.size <= MIN_BOX_PX else C / (cache.context * box.size)
    c = (C - 1) / 2.0
    return np.array([[s, 0.0, c - s * box.cx], [0.0, s, c - s * box.cy]])


def cut_square(image: np.ndarray, A: np.ndarray, C: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (C, C, 3) uint8 under the affine A (2, 3) with uniform scale A[0, 0];
    0 outside the image. Shrinking is area-averaged: a linear warp to k C px, then k x k means."""
    s = float(A[0, 0])
    k = 1 if s >= 1.0 else min(math.ceil(1.0 / s - 1e-9), MAX_SUPERSAMPLE)
    if k == 1:
        return cv2.warpAffine(image, A, (C, C), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    Ak = A * k
    Ak[:, 2] = k * (A[:, 2] + 0.5) - 0.5  # cache px (x + 0.5) k - 0.5 in the k-times image
    big = cv2.warpAffine(image, Ak, (k * C, k * C), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.resize(big, (C, C), interpolation=cv2.INTER_AREA)


def shrink_raw(raw: RawSample, index: int, config: SampleConfig,
               cache: CacheConfig) -> tuple[RawSample, np.ndarray]:
    """The small frame of `raw` (data-set index `index`) and its affine A (2, 3).

    The cloud keeps at most P points, chosen without replacement by a generator seeded with
    (cache.seed, index); the small frame's cloud is float32 like the original (None stays None).
    """
    A = cache_affine(raw.uv_px, config, cache)
    A3 = np.vstack([A, [0.0, 0.0, 1.0]])
    uv = np.asarray(raw.uv_px, np.float64) @ A[:, :2].T + A[:, 2]
    cloud = raw.cloud_m
    P = cache.points(config)
    if cloud is not None and len(cloud) > P:
        rng = np.random.default_rng((cache.seed, int(index)))
        cloud = cloud[np.sort(rng.choice(len(cloud), size=P, replace=False))]
    small = RawSample(rgb=cut_square(raw.rgb, A, cache.side_px(config)),
                      joints_m=np.asarray(raw.joints_m, np.float64), uv_px=uv,
                      vis=np.asarray(raw.vis, bool), K=A3 @ np.asarray(raw.K, np.float64),
                      side=int(raw.side), cloud_m=cloud)
    return small, A


# ----------------------------------------------------------------------------- location, staleness
def fingerprint(dataset: HandDataset) -> dict:
    """Cheap staleness check of the source: class, length and, for RHD-layout sets, the
    annotation file's size and mtime_ns."""
    out = {"class": type(dataset).__name__, "n": len(dataset)}
    if isinstance(dataset, RHDDataset):
        st = rhd_format.anno_path(dataset.root, dataset.split).stat()
        out.update(anno_size=st.st_size, anno_mtime_ns=st.st_mtime_ns)
    return out


def _folder_name(split: str, config: SampleConfig) -> str:
    return f"crops-{split}-{config.crop_size}-m{config.crop_margin:g}-p{config.cloud_points}"


def _writable(folder: Path) -> bool:
    """Whether folder (or, if it does not exist yet, its nearest existing parent) is writable."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


def home_cache_folder(spec_root: Path, split: str, config: SampleConfig) -> Path:
    """The fallback location ~/.cache/handtrack/<sha1 of the resolved root>-crops-..."""
    digest = hashlib.sha1(str(Path(spec_root).expanduser().resolve()).encode()).hexdigest()
    return Path.home() / ".cache" / "handtrack" / f"{digest}-{_folder_name(split, config)}"


def cache_folder(spec_root: Path, split: str, config: SampleConfig) -> Path:
    """<data root>/.cache/crops-{split}-{crop}-m{margin}-p{points} where the data root is
    writable, else home_cache_folder."""
    folder = Path(spec_root).expanduser() / ".cache" / _folder_name(split, config)
    return folder if _writable(folder) else home_cache_folder(spec_root, split, config)


def expected_manifest(dataset: HandDataset, config: SampleConfig, cache: CacheConfig) -> dict:
    return {"version": VERSION, "n": len(dataset), "C": cache.side_px(config),
            "P": cache.points(config), "split": dataset.split, "crop_size": config.crop_size,
            "crop_margin": config.crop_margin, "cloud_points": config.cloud_points,
            "has_depth": bool(dataset.has_depth), "cache": asdict(cache),
            "source": fingerprint(dataset)}


def read_manifest(folder: Path) -> dict:
    with open(Path(folder) / "manifest.json") as fh:
        return json.load(fh)


def check_cache(folder: Path, expected: dict | None = None) -> str | None:
    """None if folder holds a complete cache (matching `expected` when given), else the reason."""
    folder = Path(folder)
    if not folder.is_dir():
        return "absent"
    try:
        m = read_manifest(folder)
    except (OSError, ValueError) as exc:
        return f"its manifest is unreadable ({type(exc).__name__})"
    if expected is not None:
        if m.get("source") != expected["source"]:
            return "the source data set changed"
        diff = sorted(k for k in expected if m.get(k) != expected[k])
        if diff:
            return f"it was made with other settings ({', '.join(diff)})"
    try:
        n, C, P = int(m["n"]), int(m["C"]), int(m["P"])
    except (KeyError, TypeError, ValueError):
        return "its manifest lacks n, C or P"
    for name, size in (("rgb.u8", n * C * C * 3), ("cloud.f16", n * P * 3 * 2)):
        p = folder / name
        got = p.stat().st_size if p.is_file() else -1
        if got != size:
            return f"{name} holds {max(got, 0)} bytes, expected {size}"
    try:
        meta = load_meta(folder, n)
    except (OSError, ValueError, KeyError) as exc:
        return f"meta.npz is unreadable ({exc})"
    if int(meta["cloud_count"].max(initial=0)) > P:
        return "meta.npz cloud counts exceed the stored points"
    return None


def load_meta(folder: Path, n: int) -> dict[str, np.ndarray]:
    """meta.npz as arrays, checked for its keys and length n."""
    with np.load(Path(folder) / "meta.npz", allow_pickle=False) as z:
        meta = {k: z[k] for k in META_KEYS}
    bad = [k for k, v in meta.items() if len(v) != n]
    if bad:
        raise ValueError(f"{', '.join(bad)} do not have {n} rows")
    return meta


# ----------------------------------------------------------------------------- building
_worker: tuple | None = None  # (dataset, config, cache) in a build worker process


def _init_worker(dataset, config, cache) -> None:
    """A crop-cutting worker. It is forked from a process that may hold its own SIGTERM / SIGINT
    handlers (handtrack-train's stop request): inherited, they would turn the pool's terminate()
    into a flag that a worker blocked on the task queue never reads, and the pool's exit would
    wait for ever. So SIGTERM ends a worker again and Ctrl+C is left to the parent."""
    global _worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (dataset, config, cache)


def _cut(dataset: HandDataset, config: SampleConfig, cache: CacheConfig, i: int) -> tuple:
    """(i, small frame, A, K of the source frame, cloud origin (3,), cloud (k, 3) float16
    relative to the origin or None)."""
    try:
        raw = dataset.raw(i)
        small, A = shrink_raw(raw, i, config, cache)
    except ValueError as exc:
        raise ValueError(f"sample {i} of {type(dataset).__name__}: {exc}") from None
    origin = small.joints_m[ROOT]  # float16 near the hand keeps ~1e-5 m, not ~5e-4 m at 1 m
    cloud = None
    if small.cloud_m is not None:
        cloud = (np.asarray(small.cloud_m, np.float64) - origin).astype(np.float16)
    return i, small, A, np.asarray(raw.K, np.float64), origin, cloud


def _cut_job(i: int) -> tuple:
    return _cut(*_worker, i)


def _remove_stale_tmp(folder: Path) -> None:
    """Delete FOLDER.tmp-PID / FOLDER.old-PID left by builds whose process is gone."""
    for p in folder.parent.glob(f"{folder.name}.*-*"):
        kind, _, pid = p.name[len(folder.name) + 1:].partition("-")
        if kind in ("tmp", "old") and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(p, ignore_errors=True)
            except PermissionError:
                pass


def build_cache(dataset: HandDataset, folder: Path, config: SampleConfig, progress: bool = True,
                workers: int | None = 1, cache: CacheConfig | None = None) -> Path:
    """Write the crop cache of every sample of `dataset` into `folder` (replacing what is there;
    written to folder.tmp-PID first, then renamed). workers: processes cutting frames
    (None = os.cpu_count()). Returns folder."""
    cache = cache or CacheConfig()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(folder)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    manifest = expected_manifest(dataset, config, cache)
    n, C, P = manifest["n"], manifest["C"], manifest["P"]
    try:
        rgb = np.memmap(tmp / "rgb.u8", np.uint8, "w+", shape=(n, C, C, 3))
        cloud = np.memmap(tmp / "cloud.f16", np.float16, "w+", shape=(n, P, 3))
        meta = {"K": np.zeros((n, 3, 3)), "K_source": np.zeros((n, 3, 3)),
                "affine": np.zeros((n, 2, 3)), "uv_px": np.zeros((n, 21, 2)),
                "joints_m": np.zeros((n, 21, 3)), "vis": np.zeros((n, 21), bool),
                "side": np.zeros(n, np.int8), "cloud_count": np.zeros(n, np.int32),
                "cloud_origin_m": np.zeros((n, 3))}
        workers = workers or os.cpu_count() or 1
        with contextlib.ExitStack() as stack:
            if workers > 1 and n > 1:
                pool = stack.enter_context(mp.get_context("fork").Pool(
                    min(workers, n), _init_worker, (dataset, config, cache)))
                results = pool.imap_unordered(_cut_job, range(n), chunksize=4)
            else:
                results = (_cut(dataset, config, cache, i) for i in range(n))
            for i, small, A, K_source, origin, pts in tqdm(results, total=n, desc="caching crops",
                                                 unit="frame", disable=not progress):
                rgb[i] = small.rgb
                meta["K"][i], meta["K_source"][i] = small.K, K_source
                meta["affine"][i], meta["uv_px"][i] = A, small.uv_px
                meta["joints_m"][i], meta["vis"][i], meta["side"][i] = (
                    small.joints_m, small.vis, small.side)
                meta["cloud_origin_m"][i] = origin
                if pts is not None:
                    cloud[i, :len(pts)] = pts
                    meta["cloud_count"][i] = len(pts)
        rgb.flush()
        cloud.flush()
        del rgb, cloud
        np.savez(tmp / "meta.npz", **meta)
        with open(tmp / "manifest.json", "w") as fh:
            json.dump(manifest, fh, indent=1)
        if folder.exists():
            old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on FOLDER.lock, so that processes (DDP ranks) build a cache once."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _note(text: str) -> None:
    print(f"crop cache: {text}", file=sys.stderr, flush=True)


def ensure_cache(spec: str, split: str, config: SampleConfig, progress: bool = True,
                 workers: int | None = None, cache: CacheConfig | None = None) -> Path:
    """The folder of an up-to-date crop cache of data set `spec` ('kind:PATH', as
    train.data.open_dataset), built if absent, stale or corrupt (with a printed note).

    The cache lives in cache_folder(PATH, ...); a complete cache in the fallback folder under
    ~/.cache/handtrack is used too. workers: build processes (None = os.cpu_count())."""
    cache = cache or CacheConfig()
    dataset = open_dataset(spec, split, config)
    root = Path(spec.partition(":")[2]).expanduser()
    expected = expected_manifest(dataset, config, cache)
    primary = root / ".cache" / _folder_name(split, config)
    fallback = home_cache_folder(root, split, config)
    for folder in (primary, fallback):
        if check_cache(folder, expected) is None:
            return folder
    folder = cache_folder(root, split, config)
    try:
        return _build_checked(dataset, folder, config, expected, progress, workers, cache)
    except OSError as exc:
        if folder == fallback or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        _note(f"cannot write {folder} ({exc.strerror}); using {fallback}")
        return _build_checked(dataset, fallback, config, expected, progress, workers, cache)


def _build_checked(dataset, folder, config, expected, progress, workers, cache) -> Path:
    with _locked(folder):
        reason = check_cache(folder, expected)  # another process may have built it meanwhile
        if reason is None:
            return folder
        if reason == "absent":
            _note(f"building {folder} ({expected['n']} frames)")
        else:
            _note(f"{folder} is stale or corrupt: {reason}; rebuilding")
        return build_cache(dataset, folder, config, progress, workers, cache)


# ----------------------------------------------------------------------------- reading
class CachedDataset(HandDataset):
    """The samples of a data set made from its crop cache: raw(i) is the small frame and
    __getitem__ is HandDataset's (augmentation seeded with (config.seed, epoch, i), as the
    uncached set), with sample["K"] the source frame's intrinsics.

    The memory maps open on first use in each process and are not pickled (DataLoader workers)."""

    def __init__(self, folder: str | Path, split: str, config: SampleConfig,
                 has_depth: bool | None = None):
        super().__init__(split, config)
        self.folder = Path(folder)
        reason = check_cache(self.folder)
        if reason is not None:
            raise FileNotFoundError(f"{self.folder} is not a usable crop cache: {reason}; "
                                    f"build it with train.data.cache.ensure_cache")
        m = read_manifest(self.folder)
        for key in ("crop_size", "crop_margin", "cloud_points"):
            if m[key] != getattr(config, key):
                raise ValueError(f"{self.folder} was made for {key}={m[key]}, the config has "
                                 f"{getattr(config, key)}; use the cache made for this config")
        if m["split"] != split:
            raise ValueError(f"{self.folder} holds split {m['split']!r}, not {split!r}")
        self.n, self.C, self.P = int(m["n"]), int(m["C"]), int(m["P"])
        self.has_depth = bool(m["has_depth"]) if has_depth is None else bool(has_depth)
        self.meta = load_meta(self.folder, self.n)
        self._rgb: np.memmap | None = None
        self._cloud: np.memmap | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_rgb"] = state["_cloud"] = None
        return state

    def _open(self) -> None:
        self._rgb = np.memmap(self.folder / "rgb.u8", np.uint8, "r",
                              shape=(self.n, self.C, self.C, 3))
        self._cloud = np.memmap(self.folder / "cloud.f16", np.float16, "r",
                                shape=(self.n, self.P, 3))

    def __len__(self) -> int:
        return self.n

    def raw(self, index: int) -> RawSample:
        """The small frame of sample `index`: rgb (C, C, 3), K the cache intrinsics, uv_px in
        cache pixels; joints, visibility, side and (a subset of) the cloud as the source's."""
        if self._rgb is None:
            self._open()
        m = self.meta
        cloud = None
        if self.has_depth:
            n = int(m["cloud_count"][index])
            origin = m["cloud_origin_m"][index].astype(np.float32)
            cloud = self._cloud[index, :n].astype(np.float32) + origin
        return RawSample(rgb=np.array(self._rgb[index]), joints_m=m["joints_m"][index],
                         uv_px=m["uv_px"][index], vis=m["vis"][index], K=m["K"][index],
                         side=int(m["side"][index]), cloud_m=cloud)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = super().__getitem__(index)
        sample["K"] = torch.from_numpy(self.meta["K_source"][index].astype(np.float32))
        return sample


def open_cached(spec: str, split: str, config: SampleConfig, progress: bool = True,
                workers: int | None = None, cache: CacheConfig | None = None) -> CachedDataset:
    """ensure_cache, then the CachedDataset of the folder."""
    folder = ensure_cache(spec, split, config, progress, workers, cache)
    return CachedDataset(folder, split, config)
