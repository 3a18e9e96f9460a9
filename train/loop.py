"""The training loop shared by every strategy: data order, optimiser, schedules, Ctrl-C and DDP.

`train(TrainConfig, NetConfig, train_set=None, eval_set=None)` is the Python entry point
(handtrack-train and train/experiments call it). Data sets default to
`train.data.open_dataset(config.data, ...)` (docs/contracts.md section 5). One optimisation step
is `train_step`; the run's log is train/runlog.py, its checkpoints train/checkpointing.py.

Resume is exact: last.pt always holds the state as of the end of a completed step (weights, BN
buffers, optimizer, schedules, data position), so a stopped and resumed run ends where an
uninterrupted one would. SIGINT / SIGTERM (Ctrl-C, `kill`, a scheduler's time limit) stop the
run at the next step boundary; see StopRequest. The loader's workers leave both signals to the
main process (_seed_worker), so a signal to the whole process group stops the run the same way.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from model.machine import cpu_flags
from model.net_config import NetConfig
from model.rgb_encoder import load_imagenet_trunk
from train import ddp
from train.checkpointing import LAST, RunState, restore_run, resume_checkpoint, save_run
from train.config import ConfigError, TrainConfig, get_strategy_or_fail
from train.data.config import SampleConfig
from train.evaluate import evaluate, inference_net_from
from train.runlog import RunLog
from train.strategies import (
    CrossModalVAE,
    LossWeights,
    Strategy,
    add_heat_input,
    compute_loss,
    model_inputs,
    shared_assignment,
)

__all__ = ["LAST", "ConfigError", "Plateau", "Run", "RunState", "StopRequest", "TrainConfig",
           "beta_at", "epoch_batches", "train", "train_step"]

HEAT_SIGMA_PX = SampleConfig().heatmap_sigma_px  # heat-map Gaussian sigma (heat-map pixels)


def beta_at(cfg: TrainConfig, step: int) -> float:
    """KL weight, annealed log-linearly from beta_start to beta_end."""
    n = cfg.beta_anneal_steps or cfg.steps
    t = min(1.0, step / max(1, n))
    return math.exp((1 - t) * math.log(cfg.beta_start) + t * math.log(cfg.beta_end))


@dataclass
class Plateau:
    """lr / 10 when the windowed training loss has not improved by 1 % for `patience` windows,
    at most `max_drops` times (the paper: divided by 10 after convergence, twice)."""

    patience: int = 3
    max_drops: int = 2
    best: float = float("inf")
    bad: int = 0
    drops: int = 0
    window: list[float] = field(default_factory=list)  # training losses since the last check

    def step(self, value: float, optimizer: torch.optim.Optimizer) -> bool:
        if value < self.best * 0.99:
            self.best, self.bad = value, 0
            return False
        self.bad += 1
        if self.bad < self.patience or self.drops >= self.max_drops:
            return False
        for g in optimizer.param_groups:
            g["lr"] *= 0.1
        self.drops += 1
        self.bad = 0
        self.best = value
        return True


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world: int = 1) -> list[list[int]]:
    """This rank's batches of one epoch: a permutation fixed by (seed, epoch), cut into global
    batches of batch_size (the last partial one dropped), each split over the ranks."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    per = batch_size // world
    return [perm[b * batch_size + rank * per: b * batch_size + (rank + 1) * per]
            for b in range(n // batch_size)]


def _seed_worker(_: int) -> None:
    """A loader worker's start: SIGINT and SIGTERM are the main process's to act on (Ctrl-C in a
    terminal, `timeout` or `kill -- -PGID` signal the workers too; a worker that died of one
    would end the run with torch's "worker killed" error before its step is saved), then the
    worker's seeds. The main process ends its workers itself when it stops; a worker whose main
    process is gone ends by itself (torch's watchdog)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = torch.initial_seed() % 2**32
    np.random.seed(s)  # noqa: NPY002 - code in data sets may use the legacy global RNG
    random.seed(s)


@dataclass
class Run:
    """One training run as it steps: what train() builds, train_step advances and
    train/checkpointing.py saves and restores."""

    cfg: TrainConfig
    net: NetConfig
    strategy: Strategy
    info: ddp.DistInfo
    model: CrossModalVAE
    optimizer: torch.optim.Optimizer
    plateau: Plateau
    data: dict  # the checkpoint's "data": crop size, data spec, set size, labelled count, ...
    state: RunState = field(default_factory=RunState)
    weights: LossWeights = field(default_factory=LossWeights)
    wrapped: torch.nn.Module | None = None  # the model, or its DistributedDataParallel
    precision: str = "fp32"  # "bf16" or "fp32": cfg.precision resolved for the device

    @property
    def out_dir(self) -> Path:
        return Path(self.cfg.out)



def resolve_precision(precision: str, device: str) -> str:
    """"bf16" or "fp32" for --precision auto|fp32|bf16 on `device`: auto is bf16 on a CPU with
    AVX512-BF16 or AMX (bfloat16 matrix units: oneDNN runs the convolutions and products in
    bf16), fp32 elsewhere (older CPUs emulate bf16 slower than float32; GPUs: pass bf16)."""
    if precision != "auto":
        return precision
    if not device.startswith("cpu"):
        return "fp32"
    flags = cpu_flags()
    return "bf16" if {"avx512_bf16", "amx_bf16"} & flags else "fp32"


def autocast(precision: str, device: str):
    """The forward pass's autocast context: bfloat16 for "bf16", nothing for "fp32"."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)


class BufferSnapshot:
    """BN running statistics change in the forward pass: a step cut short puts them back, so a
    checkpoint never holds half a step."""

    def __init__(self, model: torch.nn.Module):
        self.buffers = list(model.buffers())
        self.saved = [b.detach().clone() for b in self.buffers]
        self.step: int | None = None  # the step the snapshot was taken before

    def take(self, step: int) -> None:
        for saved, b in zip(self.saved, self.buffers):
            saved.copy_(b)
        self.step = step

    def restore_if_cut(self, step: int) -> None:
        """After an interrupt with `step` steps done: undo a step that did not complete."""
        if self.step == step:
            for saved, b in zip(self.saved, self.buffers):
                b.copy_(saved)


def open_sets(cfg: TrainConfig, net: NetConfig) -> tuple[Dataset, Dataset | None]:
    """The training and evaluation sets of cfg.data / cfg.eval_data via train.data."""
    try:
        from train.data import SampleConfig, open_dataset
    except ImportError as e:
        raise ConfigError(f"train.data is not available ({e})") from None
    if not cfg.data:
        raise ConfigError("no training data: pass --data rhd:PATH, stb:PATH or synth:PATH")

    def _open(spec: str, split: str, augment: bool) -> Dataset:
        sc = SampleConfig(crop_size=net.crop_size, cloud_points=net.cloud_points,
                          heatmap_size=net.heatmap_size, augment=augment, seed=cfg.seed)
        try:
            if cfg.cache:
                from train.data.cache import open_cached

                return open_cached(spec, split, sc, progress=cfg.progress)
            return open_dataset(spec, split, sc)
        except (ValueError, FileNotFoundError, NotADirectoryError, OSError, KeyError) as e:
            raise ConfigError(f"cannot open --data {spec} ({split}): {e}") from None

    train_set = _open(cfg.data, "training", cfg.augment)
    if cfg.eval_data.lower() == "none":
        return train_set, None
    return train_set, _open(cfg.eval_data or cfg.data, "evaluation", False)


def _to(batch: dict, device: str) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class StopRequest:
    """SIGINT / SIGTERM handling while training (handlers set in the main thread only).

    Before the first step a signal raises KeyboardInterrupt at once (nothing to save). Inside
    the loop the first signal only sets `signum`; the loop stops at the next step boundary and
    saves that step. A second signal raises KeyboardInterrupt at once (the loop then saves the
    last completed step), except inside a commit (optimizer step and counters, the final save),
    which always finishes. SIGINT too because a shell starts background jobs with SIGINT
    ignored, where Python would never raise KeyboardInterrupt."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferring = False  # in the loop: the first signal waits for the step boundary
        self.committing = False  # a signal never cuts this section

    def handle(self, signum: int, frame) -> None:
        first = self.signum is None
        self.signum = signum
        if self.committing or (self.deferring and first):
            return
        raise KeyboardInterrupt(f"signal {signum}")

    def requested(self, info: ddp.DistInfo) -> bool:
        """A signal arrived: the same answer on every rank (a signal may reach the ranks at
        different steps)."""
        if not info.distributed:
            return self.signum is not None
        flag = torch.tensor(float(self.signum is not None), device=info.device)
        return float(ddp.all_reduce_mean(flag, info)) > 0

    @contextlib.contextmanager
    def commit(self):
        self.committing = True
        try:
            yield
        finally:
            self.committing = False

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self.handle) for s in self.SIGNALS}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def check_out_dir(out_dir: Path) -> None:
    """ConfigError unless out_dir is a folder, or can be made one, that this user can write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file, not a folder; pass a folder for the run's "
                          "checkpoints and logs (new, or an earlier run's to --resume it)")
    base = out_dir
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"--out {out_dir}: {base} is a file, so no folder can be made there; "
                          "choose another --out")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out_dir}: {base} is not writable; choose a writable --out "
                          "or fix the folder's permissions")


def train(cfg: TrainConfig, net: NetConfig, train_set: Dataset | None = None,
          eval_set: Dataset | None = None) -> dict:
    """Train one strategy. Returns {"model": CrossModalVAE (unwrapped), "metrics": dict,
    "checkpoint": Path, "step": int, "new_steps": int (trained by this call),
    "interrupted": bool}.

    Raises ConfigError (one line, with the fix) for user-caused problems, before any step.
    SIGINT / SIGTERM stop the run and save it (see StopRequest); a signal before the first
    step raises KeyboardInterrupt."""
    cfg.check()
    strategy = get_strategy_or_fail(cfg.strategy)
    out_dir = Path(cfg.out)
    check_out_dir(out_dir)
    with StopRequest().installed() as stop:
        info = ddp.setup(cfg.device)
        try:
            return _train(cfg, net, strategy, train_set, eval_set, info, stop)
        finally:
            ddp.cleanup(info)


def _train(cfg, net, strategy, train_set, eval_set, info, stop) -> dict:
    out_dir = Path(cfg.out)
    ckpt = resume_checkpoint(cfg, net, out_dir)
    if ckpt is not None and int(ckpt["step"]) == cfg.steps:
        return _already_done(cfg, net, strategy, ckpt, info)
    if train_set is None:
        train_set, opened_eval = open_sets(cfg, net)
        eval_set = eval_set if eval_set is not None else opened_eval
    check_train_set(cfg, strategy, train_set, info)
    run = start_run(cfg, net, strategy, info, len(train_set))
    sums = restore_run(run, ckpt) if ckpt is not None else {}
    run.wrapped = (DistributedDataParallel(run.model, device_ids=[info.local_rank]
                                           if info.device.startswith("cuda") else None)
                   if info.distributed else run.model)
    start_step = run.state.step
    try:
        log = RunLog.open(out_dir, step=start_step, resumed=ckpt is not None, main=info.is_main,
                          sums=sums, steps=cfg.steps, log_every=cfg.log_every,
                          progress=cfg.progress, desc=f"train {strategy.name}")
    except OSError as e:
        raise ConfigError(f"cannot write the run folder --out {out_dir} ({e.strerror or e}); "
                          "choose a writable --out") from None
    interrupted = run_steps(run, train_set, eval_set, log, stop)
    log.close_bar()
    if not interrupted:
        try:
            evaluate_run(run, eval_set, log)
        except KeyboardInterrupt:
            interrupted = True
    path = out_dir / LAST
    with stop.commit():
        if info.is_main:
            save_run(path, run, log.sums)
            if interrupted:
                print(f"interrupted at step {run.state.step}: checkpoint saved to {path}; "
                      "continue with the same command and --resume")
            log.close()
    ddp.barrier(info)
    return {"model": run.model, "metrics": dict(run.state.metrics), "checkpoint": path,
            "step": run.state.step, "new_steps": run.state.step - start_step,
            "interrupted": interrupted}


def run_steps(run: Run, train_set: Dataset, eval_set: Dataset | None, log: RunLog,
              stop: StopRequest) -> bool:
    """Step until cfg.steps (evaluating every eval_every steps, saving every ckpt_every), a
    signal (at the next step boundary) or a KeyboardInterrupt; returns whether it stopped
    before the end (a signal in the last step counts: no evaluation then)."""
    cfg, state, info = run.cfg, run.state, run.info
    bn = BufferSnapshot(run.model)
    stop.deferring = True
    try:
        while state.step < cfg.steps:
            for batch in epoch_loader(run, train_set):
                if stop.requested(info):
                    return True
                bn.take(state.step)
                train_step(run, batch, log, stop)
                if cfg.eval_every and state.step % cfg.eval_every == 0 and state.step < cfg.steps:
                    evaluate_run(run, eval_set, log)
                    ddp.barrier(info)
                if state.step % cfg.ckpt_every == 0 and info.is_main:
                    save_run(run.out_dir / LAST, run, log.sums)
                if state.step >= cfg.steps:
                    break
            else:
                state.epoch += 1
                state.batch_in_epoch = 0
    except KeyboardInterrupt:
        bn.restore_if_cut(state.step)
        return True
    finally:
        stop.deferring = False
    return stop.signum is not None


def train_step(run: Run, batch: dict, log: RunLog, stop: StopRequest) -> None:
    """One optimisation step on `batch` and its bookkeeping (log row, plateau check), which a
    signal never cuts in half (stop.commit). The sampling noise and the 2D-input noise are fixed
    by (seed, step, rank): a resumed run repeats them exactly."""
    cfg, state, info = run.cfg, run.state, run.info
    batch = _to(batch, info.device)
    run.weights.beta = beta_at(cfg, state.step)
    torch.manual_seed((cfg.seed * 1_000_003 + state.step) * 64 + info.rank)
    if run.strategy.heat_expert:
        rng = np.random.default_rng((cfg.seed, state.step, info.rank))
        add_heat_input(batch, run.net.crop_size, HEAT_SIGMA_PX, cfg.noise2d, rng)
    run.wrapped.train()
    inputs = list(model_inputs(run.strategy, batch))
    if run.precision == "bf16":
        inputs[0] = inputs[0].contiguous(memory_format=torch.channels_last)
    assign = (shared_assignment(run.strategy, len(batch["rgb"]), info.device)
              if cfg.decode == "shared" else None)
    with autocast(run.precision, info.device):
        out = run.wrapped(*inputs, assign=assign)
    labelled = batch["index"] < run.data["labelled"]
    terms = compute_loss(run.strategy, batch, out, run.weights, labelled)
    total = terms["total"]
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"the loss became {total.item()} at step {state.step}; lower --lr "
            f"(now {run.optimizer.param_groups[0]['lr']:g}) or check the data")
    run.optimizer.zero_grad(set_to_none=True)
    total.backward()
    with stop.commit():
        run.optimizer.step()
        state.step += 1
        state.batch_in_epoch += 1
        _after_step(run, terms, log)


def _after_step(run: Run, terms: dict, log: RunLog) -> None:
    """The bookkeeping of a completed step: the log row, the plateau check."""
    state, optimizer, plateau = run.state, run.optimizer, run.plateau
    plateau.window.append(float(terms["total"].detach()))
    row = log.step(state.step, terms, optimizer.param_groups[0]["lr"], run.weights.beta)
    if row is not None:
        state.metrics["train_total"] = row["total"]
    if state.step % run.cfg.plateau_every == 0:
        mean = ddp.all_reduce_mean(
            torch.tensor(float(np.mean(plateau.window)), device=run.info.device), run.info)
        plateau.window.clear()
        if plateau.step(float(mean), optimizer) and run.info.is_main:
            log.write(f"step {state.step}: loss plateau, lr -> "
                      f"{optimizer.param_groups[0]['lr']:.1e}")


def start_run(cfg: TrainConfig, net: NetConfig, strategy: Strategy, info: ddp.DistInfo,
              n: int) -> Run:
    """A new run on `n` training samples: the model (seeded; --init's trunk), optimizer and
    schedules, on info.device."""
    n_labelled = labelled_subset_size(n, cfg.labelled_fraction)
    torch.manual_seed(cfg.seed)
    model = CrossModalVAE(net, strategy)
    if cfg.init and not cfg.resume:
        try:
            load_imagenet_trunk(model.rgb_encoder, cfg.init)
        except (FileNotFoundError, ValueError) as e:
            raise ConfigError(str(e)) from None
    model.to(info.device)
    precision = resolve_precision(cfg.precision, info.device)
    if precision == "bf16":
        model.to(memory_format=torch.channels_last)  # oneDNN's bf16 convolutions want NHWC
    data = {"crop_size": net.crop_size, "cloud_points": net.cloud_points,
            "heatmap_size": net.heatmap_size, "spec": cfg.data, "n_train": n,
            "labelled": n_labelled, "heatmap_sigma_px": HEAT_SIGMA_PX,
            "normalisation": "(p - middle MCP) / |middle MCP - middle PIP|"}
    return Run(cfg, net, strategy, info, model, adam(model, cfg.lr),
               Plateau(patience=cfg.plateau_patience, max_drops=cfg.lr_drops), data,
               weights=LossWeights(beta_prime=cfg.beta_prime, lambda_heat=cfg.lambda_heat,
                                   lambda_cloud=cfg.lambda_cloud), precision=precision)


def adam(model: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam over the model's parameters with torch's fused kernel (CPU and CUDA): the same
    update as the per-tensor loop in fewer passes over memory."""
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True)


def _already_done(cfg, net, strategy, ckpt, info) -> dict:
    """A resumed run that has its cfg.steps already: its model, nothing written."""
    done, out_dir = int(ckpt["step"]), Path(cfg.out)
    if info.is_main:
        print(f"nothing to do: the run in {out_dir} already completed {done} steps "
              f"(--steps {cfg.steps}); pass --steps N with N > {done} to continue it")
    torch.manual_seed(cfg.seed)
    model = CrossModalVAE(net, strategy)
    model.load_state_dict(ckpt["state_dict"])
    return {"model": model, "metrics": dict(ckpt["metrics"]), "checkpoint": out_dir / LAST,
            "step": done, "new_steps": 0, "interrupted": False}


def check_train_set(cfg: TrainConfig, strategy: Strategy, train_set: Dataset,
                    info: ddp.DistInfo) -> None:
    """ConfigError when the data cannot train this strategy at this batch size."""
    if strategy.needs_depth and not getattr(train_set, "has_depth", True):
        raise ConfigError(f"strategy {strategy.name} needs depth (point clouds) but the data "
                          f"set {cfg.data or type(train_set).__name__} has none; use s1 or s2-h")
    n = len(train_set)
    if cfg.batch_size % info.world_size:
        raise ConfigError(f"--batch-size {cfg.batch_size} is not divisible by the "
                          f"{info.world_size} DDP processes")
    if n < cfg.batch_size:
        raise ConfigError(f"the training set has {n} samples, fewer than --batch-size "
                          f"{cfg.batch_size}; lower --batch-size or use more data")


def epoch_loader(run: Run, train_set: Dataset) -> DataLoader:
    """The rest of the current epoch (from state.batch_in_epoch) of this rank's batches."""
    cfg, state, info = run.cfg, run.state, run.info
    batches = epoch_batches(len(train_set), cfg.batch_size, cfg.seed, state.epoch, info.rank,
                            info.world_size)
    if not batches:
        raise ConfigError("no full batch per epoch; lower --batch-size")
    g = torch.Generator().manual_seed(cfg.seed * 31 + state.epoch * 1009 + info.rank)
    return DataLoader(train_set, batch_sampler=batches[state.batch_in_epoch:],
                      num_workers=cfg.workers, worker_init_fn=_seed_worker, generator=g,
                      pin_memory=info.device.startswith("cuda"))


def evaluate_run(run: Run, eval_set: Dataset | None, log: RunLog) -> None:
    """Evaluate the model now (main process): metrics eval_*, eval.csv, TensorBoard."""
    if eval_set is None or not run.info.is_main:
        return
    summary, _ = evaluate(inference_net_from(run.model), eval_set,
                          batch_size=run.cfg.batch_size, device=run.info.device,
                          max_samples=run.cfg.eval_samples, progress=False)
    run.state.metrics.update({f"eval_{k}": v for k, v in summary.items()})
    run.state.metrics["eval_step"] = run.state.step
    log.eval(run.state.step, summary)


def labelled_subset_size(n: int, labelled_fraction: float) -> int:
    """How many samples (the lowest indices) keep their pose label."""
    return math.ceil(labelled_fraction / 100.0 * n)
