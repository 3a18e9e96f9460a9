"""Training the 2D expert q(z|H) of a shipped network on procedural samples, against its frozen
pose decoder.

The objective is the 2D expert's own ELBO term of strategy s4-2d (train/strategies.py:
recon(z_H) + beta KL(q(z|H) || p)): z ~ q_h(z|H) reparameterised, the frozen decoder's pose
against the ground truth (model.losses.pose_loss, squared error in bone lengths), plus beta x
KL to N(0, I). Only the heat-map encoder learns; the RGB encoder and the decoders stay as they
are, so the 2D expert learns to land where the decoder (and the RGB expert) already live, and
its variance weighs it in the product of experts.

    net, ckpt = load_source("app/assets/default.pt")
    terms = train_step(net, to_tensors(gen.batch(128)), optimizer, beta=1e-3)

A run (run()) writes runs/NAME/last.pt every few minutes (atomically), in the source
checkpoint's format and keys, with the heat encoder's new weights in the source's dtype; the
float32 weights, the optimizer and the stream position for --resume sit under the "procedural"
key with what was trained, on how many samples, and the noise config.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from model.checkpoint import CheckpointError, net_config_of, read_checkpoint, save_checkpoint
from model.config_flags import option
from model.distributions import kl_to_prior, reparameterise
from model.inference import HandPoseNet
from model.losses import pose_loss
from train.procedural.samples import ProceduralConfig, SampleGenerator

HEAT = "heat_encoder."
FORMAT = "handtrack-procedural-2d-1"  # the "procedural" metadata's layout


@dataclass
class ProceduralTrainConfig:
    """What a run trains on and for how long (`python -m train.procedural train --help`)."""

    source: str = option("app/assets/default.pt", "checkpoint whose 2D expert is trained and "
                         "whose decoder it is trained against ({default})")
    out: str = option("runs/procedural2d", "run folder; last.pt is written there ({default})")
    init: str = option("finetune", "start from the source's heat encoder (finetune) or from "
                       "fresh weights (scratch) ({default})", choices=("finetune", "scratch"))
    samples: int = option(2_000_000, "stop after this many training samples ({default})", ge=1)
    minutes: float = option(0.0, "stop after this many minutes of training in this process "
                            "(0: no limit)", ge=0.0)
    train_first_conv: bool = option(False, "also train the heat encoder's first convolution "
                                    "(frozen by default when fine-tuning: it is the costliest "
                                    "layer to train on a CPU; always trained with --init "
                                    "scratch)")
    batch_size: int = option(128, "samples per step ({default})", ge=1)
    lr: float = option(2e-4, "Adam learning rate ({default:g})", gt=0.0)
    lr_final: float = option(0.1, "cosine decay of the lr to this fraction of --lr at "
                             "--samples ({default:g})", ge=0.0, le=1.0)
    beta: float = option(1e-3, "KL weight of the 2D expert ({default:g}: s4-2d's beta at the "
                         "end of its annealing, handtrack-train --beta-end)", ge=0.0)
    seed: int = option(0, "seed of the sample stream and the initial weights ({default})")
    save_minutes: float = option(3.0, "minutes between checkpoints ({default:g})", gt=0.0)
    val_samples: int = option(1024, "held-out procedural samples scored at each checkpoint "
                              "({default})", ge=0)
    threads: int = option(1, "torch CPU threads ({default})", ge=1)
    resume: bool = option(False, "continue the run in --out from its last.pt")
    progress: bool = option(True, "tqdm progress bar")
    data: ProceduralConfig = field(default_factory=ProceduralConfig)


def load_source(path: str | Path) -> tuple[HandPoseNet, dict]:
    """The network of a checkpoint with a 2D expert, in float32 (HandPoseNet with_heat), and the
    checkpoint dict. CheckpointError when it has no heat encoder."""
    ckpt = read_checkpoint(path)
    state = ckpt["state_dict"]
    if not any(k.startswith(HEAT) for k in state):
        raise CheckpointError(f"checkpoint {path} has no 2D expert (heat_encoder.*); use an "
                              "s4-2d checkpoint such as app/assets/default.pt")
    config = net_config_of(ckpt, path)
    if config.heat_expert != "conv":
        raise CheckpointError(f"checkpoint {path} has the coordinate 2D expert (model/"
                              "keypoint_encoder.py), not the heat-map encoder this trains; train "
                              "it with `python -m train.procedural joint` and `align`, or pass "
                              "--source with a heat-map s4-2d checkpoint")
    net = HandPoseNet(config, with_heat=True)
    wanted = net.state_dict()
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in state.items() if k in wanted}, strict=True)
    return net.float(), ckpt


def freeze_all_but_heat(net: HandPoseNet, first_conv: bool = True) -> list[torch.nn.Parameter]:
    """requires_grad only for the heat encoder (without its first convolution when first_conv
    is False); everything in eval mode. Returns the trained parameters."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    skip = set() if first_conv else {id(p) for p in net.heat_encoder.net[0].parameters()}
    params = [p for p in net.heat_encoder.parameters() if id(p) not in skip]
    for p in params:
        p.requires_grad_(True)
    return params


def to_tensors(batch: dict) -> dict[str, Tensor]:
    """The training tensors of a SampleGenerator batch: heat (B, 21, M, M), pose (B, 21, 3),
    scale_m (B,) (float32, heat shared with the numpy buffer)."""
    return {"heat": torch.from_numpy(batch["heat"]),
            "pose": torch.from_numpy(batch["pose"]),
            "scale_m": torch.from_numpy(np.asarray(batch["scale_m"], np.float32))}


def elbo_terms(net: HandPoseNet, batch: dict[str, Tensor], beta: float,
               sample: bool = True) -> dict[str, Tensor]:
    """The 2D expert's ELBO terms (batch means): pose_h = pose_loss(decoder(z_H), pose),
    kl_h = KL(q(z|H) || N(0, I)), total = pose_h + beta kl_h; epe_mm (no gradient) of the
    decoded mean. sample: z reparameterised (training) or the mean."""
    mu, logvar = net.heat_encoder(batch["heat"])  # (B, D) x 2
    z = reparameterise(mu, logvar) if sample else mu
    pred = net.pose_decoder(z)  # (B, 21, 3)
    t_pose = pose_loss(pred, batch["pose"]).mean()
    t_kl = kl_to_prior(mu, logvar).mean()
    with torch.no_grad():
        mean_pred = pred if not sample else net.pose_decoder(mu)
        epe = ((mean_pred - batch["pose"]).norm(dim=-1) * batch["scale_m"][:, None]).mean() * 1e3
    return {"pose_h": t_pose, "kl_h": t_kl, "total": t_pose + beta * t_kl, "epe_mm": epe,
            "sigma_h": torch.exp(0.5 * logvar).mean().detach()}


def train_step(net: HandPoseNet, batch: dict[str, Tensor], optimizer: torch.optim.Optimizer,
               beta: float, clip: float = 10.0) -> dict[str, float]:
    """One optimisation step of the heat encoder on the ELBO (elbo_terms). Returns the terms."""
    net.heat_encoder.train()
    terms = elbo_terms(net, batch, beta)
    optimizer.zero_grad(set_to_none=True)
    terms["total"].backward()
    torch.nn.utils.clip_grad_norm_([p for p in net.heat_encoder.parameters()
                                    if p.requires_grad], clip)
    optimizer.step()
    net.heat_encoder.eval()
    return {k: float(v.detach()) for k, v in terms.items()}


@torch.no_grad()
def validate(net: HandPoseNet, batches: list[dict[str, Tensor]], beta: float) -> dict[str, float]:
    """Mean ELBO terms of the decoded means over fixed batches (epe_mm: mean joint error)."""
    rows = [elbo_terms(net, b, beta, sample=False) for b in batches]
    return {k: float(np.mean([float(r[k]) for r in rows])) for k in rows[0]}


def lr_at(cfg: ProceduralTrainConfig, seen: int) -> float:
    """Cosine decay from cfg.lr to cfg.lr * cfg.lr_final over cfg.samples."""
    t = min(1.0, seen / max(1, cfg.samples))
    return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * t)))


def state_dict_for(ckpt: dict, net: HandPoseNet) -> dict:
    """The source checkpoint's state dict with the heat encoder's weights replaced, each in the
    dtype the source stored it in (fp16 for the bundled model)."""
    new = net.heat_encoder.state_dict()
    out = dict(ckpt["state_dict"])
    for k, v in new.items():
        key = HEAT + k
        out[key] = v.detach().to(out[key].dtype if key in out else torch.float32).clone()
    return out


def save_run(path: Path, ckpt: dict, net: HandPoseNet, optimizer: torch.optim.Optimizer,
             cfg: ProceduralTrainConfig, progress: dict, val: dict | None) -> Path:
    """Write a checkpoint in the source's format (its keys, data dict and strategy) with the new
    heat encoder, and the "procedural" metadata (what was trained, samples seen, the noise and
    scene configs, the resume state). Atomic (model.checkpoint.save_checkpoint)."""
    extra = {k: v for k, v in ckpt.items()
             if k not in ("format", "strategy", "config", "data", "state_dict", "metrics",
                          "procedural")}
    metrics = {f"procedural_val_{k}": v for k, v in (val or {}).items()}
    meta = {
        "format": FORMAT,
        "trained": "heat_encoder (2D expert q(z|H)); rgb_encoder and decoders frozen"
                   + ("" if cfg.train_first_conv or cfg.init == "scratch"
                      else "; heat_encoder.net.0 (first convolution) frozen"),
        "objective": f"pose_loss(pose_decoder(z_H), pose) + {cfg.beta:g} KL(q(z|H) || N(0, I))",
        "source": str(cfg.source), "init": cfg.init,
        "samples_seen": int(progress["seen"]), "steps": int(progress["steps"]),
        "batches": int(progress["batches"]), "train_seconds": float(progress["seconds"]),
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "data"},
        "data_config": cfg.data.to_dict(),
        "val": dict(val or {}),
        "heat_encoder_fp32": {k: v.detach().clone() for k, v in
                              net.heat_encoder.state_dict().items()},
        "optimizer": optimizer.state_dict(),
    }
    return save_checkpoint(path, strategy=ckpt["strategy"], config=ckpt["config"],
                           data=ckpt["data"], state_dict=state_dict_for(ckpt, net),
                           metrics=metrics, procedural=meta, **extra)


def run(cfg: ProceduralTrainConfig, log=print) -> dict:
    """Train (or resume) one run; returns {"checkpoint", "seen", "val", "samples_per_s"}."""
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    last = out / "last.pt"
    net, ckpt = load_source(cfg.source)
    c = net.config
    if (cfg.data.crop_size, cfg.data.heatmap_size) != (c.crop_size, c.heatmap_size):
        raise ValueError(f"the samples' crop / heat-map size ({cfg.data.crop_size}, "
                         f"{cfg.data.heatmap_size}) differ from the checkpoint's ({c.crop_size}, "
                         f"{c.heatmap_size}); pass --crop-size {c.crop_size} --heatmap-size "
                         f"{c.heatmap_size}")
    sigma = float(ckpt["data"].get("heatmap_sigma_px", cfg.data.sigma_px))
    if sigma != cfg.data.sigma_px:
        raise ValueError(f"the checkpoint was trained with heat-map sigma {sigma} px, the "
                         f"samples use {cfg.data.sigma_px}; pass --sigma-px {sigma}")
    if cfg.init == "scratch" and not cfg.resume:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net.heat_encoder = type(net.heat_encoder)(c)
    params = freeze_all_but_heat(net, cfg.train_first_conv or cfg.init == "scratch")
    net.heat_encoder.to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    progress = {"seen": 0, "steps": 0, "batches": 0, "seconds": 0.0}
    if cfg.resume:
        if not last.is_file():
            raise FileNotFoundError(f"--resume: {last} does not exist; start the run without "
                                    "--resume")
        prev = read_checkpoint(last)
        meta = prev.get("procedural", {})
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{last} was not written by train.procedural; choose another "
                                  "--out")
        net.heat_encoder.load_state_dict(meta["heat_encoder_fp32"])
        optimizer.load_state_dict(meta["optimizer"])
        progress = {"seen": meta["samples_seen"], "steps": meta["steps"],
                    "batches": meta["batches"], "seconds": meta["train_seconds"]}
        log(f"resumed {last}: {progress['seen']} samples seen")
    gen = SampleGenerator(cfg.data, seed=cfg.seed, index=progress["batches"], reuse=True)
    val_gen = SampleGenerator(cfg.data, seed=cfg.seed + 1_000_003)
    vb = min(256, cfg.val_samples) or 1
    val_batches = [to_tensors(val_gen.batch(vb, i)) for i in range(cfg.val_samples // vb)]
    val = validate(net, val_batches, cfg.beta) if val_batches else None
    if val and not cfg.resume:
        log(f"before training: procedural val EPE {val['epe_mm']:.2f} mm")
    t_start, t_save = time.monotonic(), time.monotonic()
    t_gen = t_train = 0.0
    seen0 = progress["seen"]
    bar = tqdm(total=cfg.samples, initial=progress["seen"], unit="sample", smoothing=0.05,
               disable=not cfg.progress, dynamic_ncols=True)
    ema = None
    try:
        while progress["seen"] < cfg.samples:
            if cfg.minutes and time.monotonic() - t_start > cfg.minutes * 60:
                log(f"stopping after {cfg.minutes:g} minutes (--minutes)")
                break
            t0 = time.perf_counter()
            batch = to_tensors(gen.batch(cfg.batch_size))
            batch["heat"] = batch["heat"].contiguous(memory_format=torch.channels_last)
            t1 = time.perf_counter()
            for g in optimizer.param_groups:
                g["lr"] = lr_at(cfg, progress["seen"])
            terms = train_step(net, batch, optimizer, cfg.beta)
            t2 = time.perf_counter()
            if not math.isfinite(terms["total"]):
                raise FloatingPointError(f"the loss became {terms['total']} after "
                                         f"{progress['seen']} samples; lower --lr")
            t_gen, t_train = t_gen + t1 - t0, t_train + t2 - t1
            progress["seen"] += cfg.batch_size
            progress["steps"] += 1
            progress["batches"] = gen.index
            ema = terms if ema is None else {k: 0.98 * ema[k] + 0.02 * v for k, v in terms.items()}
            bar.update(cfg.batch_size)
            bar.set_postfix(loss=f"{ema['total']:.3f}", epe=f"{ema['epe_mm']:.1f}mm",
                            kl=f"{ema['kl_h']:.0f}", refresh=False)
            if time.monotonic() - t_save > cfg.save_minutes * 60:
                val = validate(net, val_batches, cfg.beta) if val_batches else None
                progress["seconds"] += time.monotonic() - t_save
                t_save = time.monotonic()
                save_run(last, ckpt, net, optimizer, cfg, progress, val)
                n = progress["seen"] - seen0
                log(f"{progress['seen']} samples: train loss {ema['total']:.3f}, EPE "
                    f"{ema['epe_mm']:.2f} mm; val EPE {val['epe_mm'] if val else float('nan'):.2f}"
                    f" mm; {n / max(t_gen + t_train, 1e-9):.0f} samples/s (generation alone "
                    f"{n / max(t_gen, 1e-9):.0f}/s); saved {last}")
    finally:
        bar.close()
        val = validate(net, val_batches, cfg.beta) if val_batches else None
        progress["seconds"] += time.monotonic() - t_save
        save_run(last, ckpt, net, optimizer, cfg, progress, val)
    n = progress["seen"] - seen0
    rate = n / max(t_gen + t_train, 1e-9)
    log(f"done: {progress['seen']} samples seen, val EPE "
        f"{val['epe_mm'] if val else float('nan'):.2f} mm, {rate:.0f} samples/s training "
        f"(generation alone {n / max(t_gen, 1e-9):.0f} samples/s); checkpoint {last}")
    return {"checkpoint": str(last), "seen": progress["seen"], "val": val,
            "samples_per_s": rate}
