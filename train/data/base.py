"""The common part of every data set: raw frame -> training sample (train.data.sample)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from train.data.config import SampleConfig
from train.data.sample import Augmentation, RawSample, make_sample

SPLITS = ("training", "evaluation")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
    return split


class HandDataset(Dataset):
    """Base class: subclasses implement __len__ and raw(i) -> RawSample and set has_depth.

    Augmentation and cloud sampling draw from a generator seeded with (config.seed, epoch, i),
    so a sample is reproducible; call set_epoch(e) at each epoch for fresh augmentations."""

    has_depth: bool = False

    def __init__(self, split: str, config: SampleConfig):
        self.split = check_split(split)
        self.config = config
        self.augment = config.augment_for(split)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def raw(self, index: int) -> RawSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} samples")
        rng = np.random.default_rng((self.config.seed, self.epoch, int(index)))
        aug = Augmentation.sample(rng) if self.augment else None
        return make_sample(self.raw(index), self.config, index, aug, rng)
