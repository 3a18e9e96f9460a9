"""Training a coordinate 2D expert and the pose decoder together on procedural hands.

The network is the 2D expert of model/keypoint_encoder.py (soft-argmax keypoints into an MLP)
with a fresh pose decoder, both trained from scratch on the canonical (right-hand) side on the
2D expert's ELBO: pose_loss(decoder(z), pose) + beta KL(q(z|H) || N(0, I)), z ~ q(z|H). The
samples (train.procedural.samples.make_keypoint_batch) come from a DataLoader worker process, so
generation (one core) and the optimiser (the other) overlap. The RGB expert is then aligned to
this latent space by train/procedural/align.py.

    python -m train.procedural joint --out runs/kp2d --minutes 40
    python -m train.procedural joint --out runs/kp2d --resume

runs/NAME/joint.pt (atomic, every few minutes) holds the two modules' float32 weights, the
optimiser, the stream position and the configs; `--resume` continues it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from model.checkpoint import save_atomic
from model.config_flags import option
from model.decoders import PoseDecoder
from model.distributions import kl_to_prior, reparameterise
from model.keypoint_encoder import KeypointEncoder
from model.losses import pose_loss
from model.net_config import NetConfig
from train.data.noise2d import Noise2DConfig
from train.procedural.samples import ProceduralConfig, make_keypoint_batch

FORMAT = "handtrack-keypoint-expert-1"


@dataclass
class JointTrainConfig:
    """What `python -m train.procedural joint` trains, on what and for how long."""

    out: str = option("runs/kp2d", "run folder; joint.pt is written there ({default})")
    samples: int = option(20_000_000, "stop after this many training samples ({default})", ge=1)
    minutes: float = option(0.0, "stop after this many minutes in this process (0: no limit)",
                            ge=0.0)
    batch_size: int = option(512, "samples per step ({default})", ge=1)
    lr: float = option(1e-3, "Adam learning rate ({default:g})", gt=0.0)
    lr_final: float = option(0.02, "cosine decay to this fraction of --lr at --samples "
                             "({default:g})", ge=0.0, le=1.0)
    beta: float = option(1e-3, "KL weight ({default:g})", ge=0.0)
    p_crop_noise: float = option(0.5, "share of samples with the evaluation's crop noise "
                                 "(train.data.noise2d) instead of the detector's ({default:g})",
                                 ge=0.0, le=1.0)
    latent_dim: int = option(64, "latent size ({default})", ge=1)
    hidden: int = option(512, "keypoint MLP width ({default})", ge=1)
    pose_hidden: int = option(256, "pose decoder width ({default})", ge=1)
    seed: int = option(0, "seed of the stream and the initial weights ({default})")
    save_minutes: float = option(3.0, "minutes between checkpoints ({default:g})", gt=0.0)
    val_samples: int = option(4096, "held-out samples scored at each checkpoint ({default})",
                              ge=0)
    threads: int = option(1, "torch threads of the optimiser ({default})", ge=1)
    workers: int = option(1, "sample generator processes ({default})", ge=0)
    resume: bool = option(False, "continue the run in --out from its joint.pt")
    progress: bool = option(True, "tqdm progress bar")
    data: ProceduralConfig = field(default_factory=ProceduralConfig)
    crop_noise: Noise2DConfig = field(default_factory=Noise2DConfig)

    def net_config(self) -> NetConfig:
        """The network config of the trained modules (crop and heat-map sizes from data)."""
        return NetConfig(latent_dim=self.latent_dim, crop_size=self.data.crop_size,
                         heatmap_size=self.data.heatmap_size, pose_hidden=self.pose_hidden,
                         heat_expert="coords", keypoint_hidden=self.hidden, canonical_side=True)


class _Stream(torch.utils.data.IterableDataset):
    """Endless batches of make_keypoint_batch, batch k drawn with the Generator (seed, k)."""

    def __init__(self, cfg: JointTrainConfig, start: int):
        self.cfg, self.start = cfg, start

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        k = self.start + wid
        while True:
            yield k, to_tensors(self.batch(k))
            k += nw

    def batch(self, k: int) -> dict:
        c = self.cfg
        return make_keypoint_batch(c.batch_size, c.data, np.random.default_rng((c.seed, k)),
                                   c.crop_noise, c.p_crop_noise)


def to_tensors(batch: dict) -> dict[str, Tensor]:
    return {k: torch.from_numpy(np.asarray(batch[k], np.float32))
            for k in ("features", "pose", "scale_m")}


def elbo_terms(enc: KeypointEncoder, dec: PoseDecoder, batch: dict[str, Tensor], beta: float,
               sample: bool = True) -> dict[str, Tensor]:
    """total = pose_loss(dec(z), pose) + beta KL (batch means); epe_mm of the decoded mean."""
    mu, logvar = enc.forward_features(batch["features"])
    z = reparameterise(mu, logvar) if sample else mu
    pred = dec(z)
    t_pose = pose_loss(pred, batch["pose"]).mean()
    t_kl = kl_to_prior(mu, logvar).mean()
    with torch.no_grad():
        mean_pred = pred if not sample else dec(mu)
        epe = ((mean_pred - batch["pose"]).norm(dim=-1) * batch["scale_m"][:, None]).mean() * 1e3
    return {"pose": t_pose, "kl": t_kl, "total": t_pose + beta * t_kl, "epe_mm": epe,
            "sigma": torch.exp(0.5 * logvar).mean().detach()}


@torch.no_grad()
def validate(enc, dec, batches, beta) -> dict[str, float]:
    enc.eval(), dec.eval()
    rows = [elbo_terms(enc, dec, b, beta, sample=False) for b in batches]
    return {k: float(np.mean([float(r[k]) for r in rows])) for k in rows[0]}


def lr_at(cfg: JointTrainConfig, seen: int) -> float:
    t = min(1.0, seen / max(1, cfg.samples))
    warm = min(1.0, seen / 200_000)  # linear warm-up over the first 200k samples
    return cfg.lr * warm * (cfg.lr_final + (1 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * t)))


def _config_dict(cfg: JointTrainConfig) -> dict:
    return {**{k: v for k, v in asdict(cfg).items() if k not in ("data", "crop_noise")},
            "data": cfg.data.to_dict(), "crop_noise": asdict(cfg.crop_noise)}


def read_run(path: str | Path) -> dict:
    """A joint.pt (weights_only): {"format", "net_config", "keypoint_encoder", "pose_decoder",
    ...}. ValueError when it is not one."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} was not written by `python -m train.procedural joint`")
    return obj


def run(cfg: JointTrainConfig, log=print) -> dict:
    """Train (or resume) one run; returns {"checkpoint", "seen", "val", "samples_per_s"}."""
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    path = Path(cfg.out) / "joint.pt"
    nc = cfg.net_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        enc, dec = KeypointEncoder(nc), PoseDecoder(nc)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    progress = {"seen": 0, "steps": 0, "seconds": 0.0}
    if cfg.resume:
        if not path.is_file():
            raise FileNotFoundError(f"--resume: {path} does not exist; start without --resume")
        prev = read_run(path)
        enc.load_state_dict(prev["keypoint_encoder"])
        dec.load_state_dict(prev["pose_decoder"])
        opt.load_state_dict(prev["optimizer"])
        progress = dict(prev["progress"])
        log(f"resumed {path}: {progress['seen']} samples seen")
    val_stream = _Stream(replace(cfg, seed=cfg.seed + 1_000_003,
                                 batch_size=min(1024, max(1, cfg.val_samples))), 0)
    val_batches = [to_tensors(val_stream.batch(k))
                   for k in range(cfg.val_samples // val_stream.cfg.batch_size)]
    stream = _Stream(cfg, progress["steps"])
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=cfg.workers,
                                         prefetch_factor=4 if cfg.workers else None,
                                         persistent_workers=False)

    def save(val):
        save_atomic(path, {"format": FORMAT, "net_config": asdict(nc),
                           "train_config": _config_dict(cfg),
                           "keypoint_encoder": enc.state_dict(), "pose_decoder": dec.state_dict(),
                           "optimizer": opt.state_dict(), "progress": dict(progress),
                           "val": dict(val or {})})

    t_start = t_save = time.monotonic()
    seen0 = progress["seen"]
    bar = tqdm(total=cfg.samples, initial=progress["seen"], unit="sample", smoothing=0.05,
               disable=not cfg.progress, dynamic_ncols=True)
    ema, val = None, None
    try:
        for _k, batch in loader:
            if progress["seen"] >= cfg.samples:
                break
            if cfg.minutes and time.monotonic() - t_start > cfg.minutes * 60:
                log(f"stopping after {cfg.minutes:g} minutes (--minutes)")
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, progress["seen"])
            enc.train(), dec.train()
            terms = elbo_terms(enc, dec, batch, cfg.beta)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            t = {k: float(v.detach()) for k, v in terms.items()}
            if not math.isfinite(t["total"]):
                raise FloatingPointError(f"the loss became {t['total']} after "
                                         f"{progress['seen']} samples; lower --lr")
            progress["seen"] += cfg.batch_size
            progress["steps"] += 1
            ema = t if ema is None else {k: 0.98 * ema[k] + 0.02 * v for k, v in t.items()}
            bar.update(cfg.batch_size)
            bar.set_postfix(loss=f"{ema['total']:.2f}", epe=f"{ema['epe_mm']:.1f}mm",
                            refresh=False)
            if time.monotonic() - t_save > cfg.save_minutes * 60:
                val = validate(enc, dec, val_batches, cfg.beta) if val_batches else None
                progress["seconds"] += time.monotonic() - t_save
                t_save = time.monotonic()
                save(val)
                rate = (progress["seen"] - seen0) / max(time.monotonic() - t_start, 1e-9)
                log(f"{progress['seen']} samples: train EPE {ema['epe_mm']:.2f} mm, val EPE "
                    f"{val['epe_mm'] if val else float('nan'):.2f} mm, sigma "
                    f"{val['sigma'] if val else float('nan'):.3f}; {rate:.0f} samples/s; "
                    f"saved {path}")
    finally:
        bar.close()
        val = validate(enc, dec, val_batches, cfg.beta) if val_batches else None
        progress["seconds"] += time.monotonic() - t_save
        save(val)
    rate = (progress["seen"] - seen0) / max(time.monotonic() - t_start, 1e-9)
    log(f"done: {progress['seen']} samples, val EPE {val['epe_mm'] if val else float('nan'):.2f}"
        f" mm, {rate:.0f} samples/s; {path}")
    return {"checkpoint": str(path), "seen": progress["seen"], "val": val, "samples_per_s": rate}
