"""The training loop shared by every strategy: data order, optimiser, schedules, logging,
checkpoints, resume, Ctrl-C and DDP.

`train(TrainConfig, NetConfig, train_set=None, eval_set=None)` is the Python entry point
(handtrack-train and train/experiments call it). Data sets default to
`train.data.open_dataset(config.data, ...)` (docs/contracts.md section 5).

Resume is exact: last.pt always holds the state as of the end of a completed step (weights, BN
buffers, optimizer, schedules, data position), so a stopped and resumed run ends where an
uninterrupted one would. SIGINT / SIGTERM (Ctrl-C, `kill`, a scheduler's time limit) stop the
run at the next step boundary; see StopRequest.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import signal
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from model.checkpoint import net_config_of, read_checkpoint, save_checkpoint
from model.net_config import NetConfig
from model.rgb_encoder import load_imagenet_trunk
from train import ddp
from train.data.config import SampleConfig
from train.data.noise2d import Noise2DConfig
from train.evaluate import evaluate, inference_net_from
from train.strategies import (
    CrossModalVAE,
    LossWeights,
    add_heat_input,
    compute_loss,
    get_strategy,
    model_inputs,
)

LAST = "last.pt"
HEAT_SIGMA_PX = SampleConfig().heatmap_sigma_px  # heat-map Gaussian sigma (heat-map pixels)


class ConfigError(ValueError):
    """A user-caused problem found before (or while starting) training; one-line message."""


@dataclass
class TrainConfig:
    strategy: str = "s1"  # s1 | s2-h | s2-c | s2-ch | s3 | s4 | s4-2d
    data: str = ""  # rhd:PATH | stb:PATH | synth:PATH
    eval_data: str = ""  # "" = the evaluation split of `data`; "none" = no evaluation
    out: str = "runs/run"
    steps: int = 20_000
    batch_size: int = 32  # global: split over DDP ranks
    lr: float = 1e-4
    lr_drops: int = 2  # divide the lr by 10 on plateau, at most this many times
    plateau_every: int = 500  # steps per plateau check (mean training loss of the window)
    plateau_patience: int = 3  # windows without a 1 % improvement before a drop
    beta_start: float = 1e-5
    beta_end: float = 1e-3
    beta_anneal_steps: int = 0  # log-linear annealing over this many steps; 0 = all steps
    beta_prime: float = 1.0
    lambda_heat: float = 0.01
    lambda_cloud: float = 1.0
    labelled_fraction: float = 100.0  # percent of samples (lowest indices) with a pose label
    seed: int = 0
    workers: int = 2
    augment: bool = True
    init: str = ""  # local torchvision ResNet-18 ImageNet weights for the trunk
    resume: bool = False
    set_lr: float = 0.0  # > 0: with resume, replace the checkpoint's learning rate (a manual drop)
    log_every: int = 10
    eval_every: int = 0  # 0 = evaluate at the end only
    eval_samples: int = 0  # 0 = the whole evaluation set
    ckpt_every: int = 500
    device: str = "auto"
    progress: bool = True
    noise2d: Noise2DConfig = field(default_factory=Noise2DConfig)  # s4-2d: 2D input noise

    def check(self) -> None:
        """Every option in range (ConfigError naming the option and a valid value), before
        anything is opened or written."""
        get_strategy_or_fail(self.strategy)
        if not str(self.out).strip():
            raise ConfigError("--out is empty; pass a run folder, e.g. --out runs/s4")
        check_numbers({name: (getattr(self.noise2d, NOISE_FIELDS[name])
                              if name in NOISE_FIELDS else getattr(self, name))
                       for name, *_ in NUMERIC_OPTIONS})
        if self.set_lr and not self.resume:
            raise ConfigError("--set-lr changes the learning rate of a resumed run: give a "
                              "positive value together with --resume (a new run uses --lr)")


# (TrainConfig field, low, high, whole number): low / high as (bound, inclusive), None = open.
NUMERIC_OPTIONS = (
    ("steps", (1, True), None, True),
    ("batch_size", (1, True), None, True),
    ("lr", (0.0, False), None, False),
    ("lr_drops", (0, True), None, True),
    ("plateau_every", (1, True), None, True),
    ("plateau_patience", (1, True), None, True),
    ("beta_start", (0.0, False), None, False),
    ("beta_end", (0.0, False), None, False),
    ("beta_anneal_steps", (0, True), None, True),
    ("beta_prime", (0.0, True), None, False),
    ("lambda_heat", (0.0, True), None, False),
    ("lambda_cloud", (0.0, True), None, False),
    ("labelled_fraction", (0.0, False), (100.0, True), False),
    ("seed", (0, True), (2**32 - 1, True), True),
    ("workers", (0, True), None, True),
    ("set_lr", (0.0, True), None, False),
    ("log_every", (1, True), None, True),
    ("eval_every", (0, True), None, True),
    ("eval_samples", (0, True), None, True),
    ("ckpt_every", (1, True), None, True),
    ("noise_jitter", (0.0, True), None, False),
    ("noise_drop", (0.0, True), (1.0, True), False),
    ("noise_swap", (0.0, True), (1.0, True), False),
    ("noise_offset", (0.0, True), None, False),
    ("noise_scale", (0.0, True), None, False),
)
NOISE_FIELDS = {"noise_jitter": "jitter", "noise_drop": "drop_prob", "noise_swap": "swap_prob",
                "noise_offset": "offset", "noise_scale": "scale"}


def check_numbers(values: dict) -> None:
    """ConfigError naming the option (`--lr`) unless each value {NUMERIC_OPTIONS name: value}
    is in range; the message suggests the default."""
    d, z = TrainConfig(), Noise2DConfig()
    for name, low, high, whole in NUMERIC_OPTIONS:
        if name in values:
            default = getattr(z, NOISE_FIELDS[name]) if name in NOISE_FIELDS else getattr(d, name)
            check_number("--" + name.replace("_", "-"), values[name], low, high, whole, default)


def check_number(flag: str, value, low: tuple | None, high: tuple | None, whole: bool,
                 default) -> None:
    """ConfigError unless value is a finite number (an int when `whole`) within the bounds."""
    def num(x) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    lo = "" if low is None else f"{'>=' if low[1] else '>'} {num(low[0])}"
    hi = "" if high is None else f"{'<=' if high[1] else '<'} {num(high[0])}"
    bounds = " and ".join(b for b in (lo, hi) if b)
    want = f"{'a whole number' if whole else 'a finite number'} {bounds}".strip()
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (isinstance(value, int) if whole else math.isfinite(value))
    if ok and low is not None:
        ok = value >= low[0] if low[1] else value > low[0]
    if ok and high is not None:
        ok = value <= high[0] if high[1] else value < high[0]
    if not ok:
        raise ConfigError(f"{flag} must be {want}, got {value!r}; pass e.g. {flag} {default:g} "
                          "(the default)")


def get_strategy_or_fail(name: str):
    try:
        return get_strategy(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None


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
    s = torch.initial_seed() % 2**32
    np.random.seed(s)  # noqa: NPY002 - code in data sets may use the legacy global RNG
    random.seed(s)


@dataclass
class RunState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    metrics: dict = field(default_factory=dict)


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
            return open_dataset(spec, split, sc)
        except (ValueError, FileNotFoundError, NotADirectoryError, OSError, KeyError) as e:
            raise ConfigError(f"cannot open --data {spec} ({split}): {e}") from None

    train_set = _open(cfg.data, "training", cfg.augment)
    if cfg.eval_data.lower() == "none":
        return train_set, None
    return train_set, _open(cfg.eval_data or cfg.data, "evaluation", False)


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
    ckpt_path = out_dir / LAST
    with StopRequest().installed() as stop:
        info = ddp.setup(cfg.device)
        try:
            return _train(cfg, net, strategy, train_set, eval_set, out_dir, ckpt_path, info,
                          stop)
        finally:
            ddp.cleanup(info)


def _train(cfg, net, strategy, train_set, eval_set, out_dir, ckpt_path, info, stop) -> dict:
    ckpt = None
    if ckpt_path.exists() and not cfg.resume:
        raise ConfigError(f"{ckpt_path} exists; pass --resume to continue that run or choose "
                          "another --out")
    if cfg.resume:
        if not ckpt_path.exists():
            raise ConfigError(f"--resume: there is no {ckpt_path} to resume from; run without "
                              "--resume to start")
        ckpt = read_checkpoint(ckpt_path)
        check_resume(ckpt, ckpt_path, cfg, net)
        done = int(ckpt["step"])
        if done > cfg.steps:
            raise ConfigError(f"the run in {out_dir} already completed {done} steps; --steps "
                              f"{cfg.steps} asks for fewer; pass --steps N with N > {done} to "
                              "continue it")
        if done == cfg.steps:
            if info.is_main:
                print(f"nothing to do: the run in {out_dir} already completed {done} steps "
                      f"(--steps {cfg.steps}); pass --steps N with N > {done} to continue it")
            torch.manual_seed(cfg.seed)
            model = CrossModalVAE(net, strategy)
            model.load_state_dict(ckpt["state_dict"])
            return {"model": model, "metrics": dict(ckpt["metrics"]), "checkpoint": ckpt_path,
                    "step": done, "new_steps": 0, "interrupted": False}
    if train_set is None:
        train_set, opened_eval = open_sets(cfg, net)
        eval_set = eval_set if eval_set is not None else opened_eval
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
    n_labelled = labelled_subset_size(n, cfg.labelled_fraction)

    torch.manual_seed(cfg.seed)
    model = CrossModalVAE(net, strategy)
    if cfg.init and ckpt is None:
        try:
            load_imagenet_trunk(model.rgb_encoder, cfg.init)
        except (FileNotFoundError, ValueError) as e:
            raise ConfigError(str(e)) from None
    model.to(info.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    plateau = Plateau(patience=cfg.plateau_patience, max_drops=cfg.lr_drops)
    state = RunState()
    sums: dict[str, float] = {}  # loss terms summed since the last log row
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if cfg.set_lr > 0:
            for group in optimizer.param_groups:
                group["lr"] = cfg.set_lr
        plateau = Plateau(**ckpt.get("plateau", asdict(plateau)))
        state = RunState(step=int(ckpt["step"]), epoch=int(ckpt.get("epoch", 0)),
                         batch_in_epoch=int(ckpt.get("batch_in_epoch", 0)),
                         metrics=dict(ckpt["metrics"]))
        sums = dict(ckpt.get("log_sums", {}))
    start_step = state.step
    wrapped = (DistributedDataParallel(model, device_ids=[info.local_rank]
                                       if info.device.startswith("cuda") else None)
               if info.distributed else model)

    data_meta = {"crop_size": net.crop_size, "cloud_points": net.cloud_points,
                 "heatmap_size": net.heatmap_size, "spec": cfg.data, "n_train": n,
                 "labelled": n_labelled,
                 "heatmap_sigma_px": HEAT_SIGMA_PX,
                 "normalisation": "(p - middle MCP) / |middle MCP - middle PIP|"}

    def save(tag: str = LAST) -> Path:
        return save_checkpoint(
            out_dir / tag, strategy=strategy.name, config=net, data=data_meta,
            state_dict=model.state_dict(), metrics=state.metrics, train=asdict(cfg),
            optimizer=optimizer.state_dict(), plateau=asdict(plateau), step=state.step,
            epoch=state.epoch, batch_in_epoch=state.batch_in_epoch, log_sums=dict(sums))

    def run_eval() -> None:
        if eval_set is None or not info.is_main:
            return
        summary, _ = evaluate(inference_net_from(model), eval_set, batch_size=cfg.batch_size,
                              device=info.device, max_samples=cfg.eval_samples,
                              progress=False)
        state.metrics.update({f"eval_{k}": v for k, v in summary.items()})
        state.metrics["eval_step"] = state.step
        if writer is not None:
            for k, v in summary.items():
                writer.add_scalar(f"eval/{k}", v, state.step)
        _append_csv(out_dir / "eval.csv", {"step": state.step, **summary})

    def stop_requested() -> bool:
        """The same answer on every rank (a signal may reach the ranks at different steps)."""
        if not info.distributed:
            return stop.signum is not None
        flag = torch.tensor(float(stop.signum is not None), device=info.device)
        return float(ddp.all_reduce_mean(flag, info)) > 0

    writer = None
    if info.is_main:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if ckpt is not None:  # rows a killed run logged after its last checkpoint are redone
                for name in ("log.csv", "eval.csv"):
                    drop_csv_rows_after(out_dir / name, state.step)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out_dir / "tb"))
        except OSError as e:
            raise ConfigError(f"cannot write the run folder --out {out_dir} ({e.strerror or e}); "
                              "choose a writable --out") from None
    weights = LossWeights(beta_prime=cfg.beta_prime, lambda_heat=cfg.lambda_heat,
                          lambda_cloud=cfg.lambda_cloud)
    # BN running statistics change in the forward pass: a step cut short puts them back, so a
    # checkpoint never holds half a step.
    buffers = list(model.buffers())
    before_step = [b.detach().clone() for b in buffers]
    in_step = False
    interrupted = False
    bar = tqdm(total=cfg.steps, initial=state.step, desc=f"train {strategy.name}",
               disable=not (cfg.progress and info.is_main), dynamic_ncols=True)
    stop.deferring = True
    try:
        while state.step < cfg.steps and not interrupted:
            batches = epoch_batches(n, cfg.batch_size, cfg.seed, state.epoch, info.rank,
                                    info.world_size)
            if not batches:
                raise ConfigError("no full batch per epoch; lower --batch-size")
            g = torch.Generator().manual_seed(cfg.seed * 31 + state.epoch * 1009 + info.rank)
            loader = DataLoader(train_set, batch_sampler=batches[state.batch_in_epoch:],
                                num_workers=cfg.workers, worker_init_fn=_seed_worker,
                                generator=g, pin_memory=info.device.startswith("cuda"))
            for batch in loader:
                if stop_requested():
                    interrupted = True
                    break
                for saved, b in zip(before_step, buffers):
                    saved.copy_(b)
                in_step = True
                batch = _to(batch, info.device)
                weights.beta = beta_at(cfg, state.step)
                # Sampling noise fixed by (seed, rank, step): a resumed run repeats it exactly.
                torch.manual_seed((cfg.seed * 1_000_003 + state.step) * 64 + info.rank)
                if strategy.heat_expert:  # 2D noise fixed by (seed, step, rank) as well
                    rng = np.random.default_rng((cfg.seed, state.step, info.rank))
                    add_heat_input(batch, net.crop_size, HEAT_SIGMA_PX, cfg.noise2d, rng)
                wrapped.train()
                out = wrapped(*model_inputs(strategy, batch))
                labelled = batch["index"] < n_labelled
                terms = compute_loss(strategy, batch, out, weights, labelled)
                total = terms["total"]
                if not torch.isfinite(total):
                    raise FloatingPointError(
                        f"the loss became {total.item()} at step {state.step}; lower --lr "
                        f"(now {optimizer.param_groups[0]['lr']:g}) or check the data")
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                with stop.commit():  # the step and its bookkeeping, never cut in half
                    optimizer.step()
                    state.step += 1
                    state.batch_in_epoch += 1
                    in_step = False
                    _after_step(cfg, state, terms, sums, plateau, optimizer, weights, info,
                                writer, bar, out_dir)
                if cfg.eval_every and state.step % cfg.eval_every == 0 and state.step < cfg.steps:
                    run_eval()
                    ddp.barrier(info)
                if state.step % cfg.ckpt_every == 0 and info.is_main:
                    save()
                if state.step >= cfg.steps:
                    break
            else:
                state.epoch += 1
                state.batch_in_epoch = 0
    except KeyboardInterrupt:
        interrupted = True
        if in_step:  # cut inside a step: back to the state after the last completed one
            for saved, b in zip(before_step, buffers):
                b.copy_(saved)
    stop.deferring = False
    interrupted = interrupted or stop.signum is not None  # a signal in the last step: no eval
    bar.close()
    if not interrupted:
        try:
            run_eval()
        except KeyboardInterrupt:
            interrupted = True
    path = out_dir / LAST
    with stop.commit():
        if info.is_main:
            save()
            if interrupted:
                print(f"interrupted at step {state.step}: checkpoint saved to {path}; continue "
                      "with the same command and --resume")
            writer.close()
    ddp.barrier(info)
    return {"model": model, "metrics": dict(state.metrics), "checkpoint": path,
            "step": state.step, "new_steps": state.step - start_step, "interrupted": interrupted}


def _after_step(cfg, state, terms, sums, plateau, optimizer, weights, info, writer, bar,
                out_dir) -> None:
    """The bookkeeping of a completed step: loss sums, the log row, the plateau check."""
    for k, v in terms.items():
        sums[k] = sums.get(k, 0.0) + float(v.detach())
    plateau.window.append(float(terms["total"].detach()))
    bar.update(1)
    if state.step % cfg.log_every == 0 or state.step == cfg.steps:
        count = (state.step - 1) % cfg.log_every + 1
        row = {"step": state.step, "lr": optimizer.param_groups[0]["lr"],
               "beta": weights.beta, **{k: v / count for k, v in sums.items()}}
        sums.clear()
        state.metrics["train_total"] = row["total"]
        if info.is_main:
            bar.set_postfix(loss=f"{row['total']:.4g}", lr=f"{row['lr']:.1e}")
            _append_csv(out_dir / "log.csv", row)
            for k, v in row.items():
                if k != "step":
                    writer.add_scalar(f"train/{k}", v, state.step)
    if state.step % cfg.plateau_every == 0:
        mean = ddp.all_reduce_mean(
            torch.tensor(float(np.mean(plateau.window)), device=info.device), info)
        plateau.window.clear()
        if plateau.step(float(mean), optimizer) and info.is_main:
            bar.write(f"step {state.step}: loss plateau, lr -> "
                      f"{optimizer.param_groups[0]['lr']:.1e}")


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def drop_csv_rows_after(path: Path, step: int) -> int:
    """Remove the rows of a log CSV (first column "step") whose step is above `step`; returns
    how many were removed. A missing file is fine."""
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if int(float(ln.split(",", 1)[0])) <= step]
    if len(keep) != len(lines):
        path.write_text("".join(keep))
    return len(lines) - len(keep)


def labelled_subset_size(n: int, labelled_fraction: float) -> int:
    """How many samples (the lowest indices) keep their pose label."""
    return math.ceil(labelled_fraction / 100.0 * n)
