"""Checkpoint save and resume of a training run.

OUT/last.pt always holds the state as of the end of a completed step: weights and BN buffers,
optimizer, plateau schedule (with its window of losses), data position (epoch, batch in epoch),
metrics and the log's loss sums. A run resumed from it ends where an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from model.checkpoint import net_config_of, read_checkpoint, save_checkpoint
from model.net_config import NetConfig
from train.config import ConfigError, TrainConfig

if TYPE_CHECKING:
    from train.loop import Run

LAST = "last.pt"


@dataclass
class RunState:
    """Where a run is: steps done, the data position and the latest metrics."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    metrics: dict = field(default_factory=dict)


def resume_checkpoint(cfg: TrainConfig, net: NetConfig, out_dir: Path) -> dict | None:
    """The checkpoint OUT/last.pt that cfg.resume continues (None for a new run). ConfigError
    when a new run would overwrite one, there is none to resume, it cannot be resumed with
    these options, or it already has more than cfg.steps steps."""
    path = out_dir / LAST
    if path.exists() and not cfg.resume:
        raise ConfigError(f"{path} exists; pass --resume to continue that run or choose "
                          "another --out")
    if not cfg.resume:
        return None
    if not path.exists():
        raise ConfigError(f"--resume: there is no {path} to resume from; run without "
                          "--resume to start")
    ckpt = read_checkpoint(path)
    check_resume(ckpt, path, cfg, net)
    done = int(ckpt["step"])
    if done > cfg.steps:
        raise ConfigError(f"the run in {out_dir} already completed {done} steps; --steps "
                          f"{cfg.steps} asks for fewer; pass --steps N with N > {done} to "
                          "continue it")
    return ckpt


def check_resume(ckpt: dict, path: Path, cfg: TrainConfig, net: NetConfig) -> None:
    """A checkpoint of another strategy, crop size or network cannot be resumed."""
    if ckpt["strategy"] != cfg.strategy:
        raise ConfigError(f"{path} was trained with --strategy {ckpt['strategy']}, not "
                          f"{cfg.strategy}; pass --strategy {ckpt['strategy']} or another --out")
    crop = int(ckpt["data"].get("crop_size", -1))
    if crop != net.crop_size:
        raise ConfigError(f"{path} was trained with --crop-size {crop}, not {net.crop_size}; "
                          f"pass --crop-size {crop} or another --out")
    saved = asdict(net_config_of(ckpt, path))
    diff = {k: (saved[k], v) for k, v in asdict(net).items() if saved[k] != v}
    if diff:
        raise ConfigError(f"{path} has another network config (checkpoint, now): {diff}; "
                          "use the same options or another --out")
    for key in ("optimizer", "step", "train"):
        if key not in ckpt:
            raise ConfigError(f"{path} holds no training state ({key!r} missing); it cannot be "
                              "resumed, start a new run in another --out")


def save_run(path: Path, run: Run, log_sums: dict) -> Path:
    """Write the run's state to `path` (atomically); returns the path."""
    state = run.state
    return save_checkpoint(
        path, strategy=run.strategy.name, config=run.net, data=run.data,
        state_dict=run.model.state_dict(), metrics=state.metrics, train=asdict(run.cfg),
        optimizer=run.optimizer.state_dict(), plateau=asdict(run.plateau), step=state.step,
        epoch=state.epoch, batch_in_epoch=state.batch_in_epoch, log_sums=dict(log_sums))


def restore_run(run: Run, ckpt: dict) -> dict:
    """Put a checkpoint's state into `run` (weights, optimizer, plateau, position; the learning
    rate replaced by cfg.set_lr when that is > 0); returns the log's loss sums."""
    run.model.load_state_dict(ckpt["state_dict"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    if run.cfg.set_lr > 0:
        for group in run.optimizer.param_groups:
            group["lr"] = run.cfg.set_lr
    run.plateau = replace(run.plateau, **ckpt.get("plateau", {}))
    run.state = RunState(step=int(ckpt["step"]), epoch=int(ckpt.get("epoch", 0)),
                         batch_in_epoch=int(ckpt.get("batch_in_epoch", 0)),
                         metrics=dict(ckpt["metrics"]))
    return dict(ckpt.get("log_sums", {}))
