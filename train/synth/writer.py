"""Write synthetic frames in the RHD layout (train.data.rhd_format), in parallel.

Every sample i of split s is rendered from the seed (seed, s, i), so the data set does not depend
on the number of workers or on the order in which workers finish.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from model.hand import to_rhd
from train.data import rhd_format
from train.synth.render import SynthConfig, SynthFrame, render_sample

_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1]
SPLIT_IDS = {"training": 0, "evaluation": 1}


def sample_seed(seed: int, split: str, index: int) -> tuple[int, int, int]:
    """The per-sample seed of sample `index` of `split`."""
    return (int(seed), SPLIT_IDS[split], int(index))


def frame_annotation(frame: SynthFrame) -> dict[str, np.ndarray]:
    """RHD annotation entry of a frame (joints converted to RHD order, the hand's side slots)."""
    return rhd_format.make_annotation(to_rhd(frame.joints_m), to_rhd(frame.uv_px),
                                      to_rhd(frame.vis[:, None])[:, 0], frame.K, frame.side)


def write_frame(root: Path, split: str, index: int, frame: SynthFrame) -> None:
    """Write colour, depth and mask PNGs of one frame."""
    paths = [rhd_format.image_path(root, split, k, index) for k in ("color", "depth", "mask")]
    images = [cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR),
              cv2.cvtColor(rhd_format.encode_depth(frame.depth_m), cv2.COLOR_RGB2BGR),
              frame.mask]
    for p, img in zip(paths, images):
        if not cv2.imwrite(str(p), img, _PNG):
            raise OSError(f"cannot write {p}; check that the output folder is writable")


def _job(args) -> tuple[int, dict[str, np.ndarray]]:
    root, split, index, seed, config = args
    frame = render_sample(config, sample_seed(seed, split, index))
    write_frame(root, split, index, frame)
    return index, frame_annotation(frame)


def _map(jobs: list, workers: int) -> Iterator:
    if workers <= 1:
        yield from map(_job, jobs)
        return
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap_unordered(_job, jobs, chunksize=8)


def write_dataset(out: Path, n_train: int, n_eval: int, config: SynthConfig, seed: int = 0,
                  workers: int | None = None, progress: bool = True) -> None:
    """Render n_train + n_eval frames into out/ in the RHD layout (using `workers` processes,
    default all cores) and write anno_{split}.pickle files."""
    out = Path(out)
    workers = workers or os.cpu_count() or 1
    for split, n in (("training", n_train), ("evaluation", n_eval)):
        if n <= 0:
            continue
        for kind in ("color", "depth", "mask"):
            (out / split / kind).mkdir(parents=True, exist_ok=True)
        jobs = [(out, split, i, seed, config) for i in range(n)]
        annos: dict[int, dict[str, np.ndarray]] = {}
        bar = tqdm(total=n, desc=f"{split}", unit="frame", disable=not progress)
        for i, anno in _map(jobs, workers):
            annos[i] = anno
            bar.update(1)
        bar.close()
        rhd_format.write_annotations(rhd_format.anno_path(out, split), dict(sorted(annos.items())))
