"""Data sets for training (docs/contracts.md sections 1 and 5).

open_dataset("rhd:PATH" | "stb:PATH" | "synth:PATH", split, SampleConfig) -> Dataset whose items
are the sample dicts of contracts.md section 1. synth: is the RHD layout written by
handtrack-synth.
"""

from __future__ import annotations

from pathlib import Path

from train.data.base import HandDataset, check_split
from train.data.config import SampleConfig

__all__ = ["SampleConfig", "open_dataset", "HandDataset"]

KINDS = ("rhd", "stb", "synth")


def open_dataset(spec: str, split: str, config: SampleConfig | None = None) -> HandDataset:
    """Open a data set from a spec 'kind:PATH' (kind rhd, stb or synth) for split 'training'
    or 'evaluation'. Raises ValueError / FileNotFoundError with the reason and the fix."""
    config = config or SampleConfig()
    check_split(split)
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        raise ValueError(f"data set spec {spec!r} must be 'rhd:PATH', 'stb:PATH' or "
                         f"'synth:PATH' (e.g. synth:data/synth)")
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data set folder {root} (from {spec!r}) does not exist")
    if kind in ("rhd", "synth"):
        from train.data.rhd import RHDDataset

        return RHDDataset(root, split, config)
    from train.data.stb import STBDataset

    return STBDataset(root, split, config)
