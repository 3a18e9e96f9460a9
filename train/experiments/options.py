"""Command-line options the experiments share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def add_network_size_options(p: argparse.ArgumentParser, defaults) -> None:
    """--crop-size, --cloud-points and --heatmap-size (the NetConfig sizes of every run), their
    defaults from `defaults` (a config with crop_size, cloud_points, heatmap_size)."""
    p.add_argument("--crop-size", type=int, default=defaults.crop_size, help="crop side (px)")
    p.add_argument("--cloud-points", type=int, default=defaults.cloud_points,
                   help="points per cloud")
    p.add_argument("--heatmap-size", type=int, default=defaults.heatmap_size,
                   help="heat-map side (px)")


def run_finished(ckpt: Path, steps: int) -> bool:
    """True when the run's checkpoint exists and has reached `steps`."""
    from model.checkpoint import read_checkpoint

    return ckpt.exists() and int(read_checkpoint(ckpt).get("step", 0)) >= steps


def run_experiment(fn: Callable[[], T]) -> tuple[int, T | None]:
    """(0, fn()) or, for a user-caused failure, (2, None) after one `error:` line; (130, None)
    after Ctrl+C, saying that the same command resumes (finished runs are kept)."""
    from train.loop import ConfigError

    try:
        return 0, fn()
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        return 130, None
