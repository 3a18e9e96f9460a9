"""The RGB expert and the cloud decoder moved into a joint run's latent space.

A joint run (train/procedural/joint.py) gives a new 2D expert and pose decoder; the shipped RGB
expert and FoldingNet decoder still speak the old latent space. This stage keeps the RGB
encoder's ResNet-18 trunk (its features are those of a network trained on renders) and trains,
on rendered frames (a synth data set's training split, canonical side: left hands mirrored):

- the RGB head q(z|x) (a linear Gaussian head on the trunk's 512 pooled features, computed once
  per augmented pass and cached): the RGB expert's ELBO pose_loss(dec(z_x)) + beta KL(q_x || p)
  plus the fused ELBO of the product of experts pose_loss(dec(z_{x,H})), z_{x,H} ~ GProd(prior,
  q_x, q_H) with the frozen 2D expert on noisy ground-truth keypoints, so the product is what the
  head learns to improve (the paper's s4 subset ELBOs, with the 2D expert and the decoder
  frozen);
- the cloud decoder: Chamfer distance of dec_cloud(z) to the frame's point cloud, z drawn from
  the 2D expert's and the fused posteriors.

The RGB head's loss weighs its own ELBO by --rgb-loss-weight (0.25) next to the fused ELBO: the
product is what the user runs, and a head trained with both at weight 1 made the product worse
than the 2D expert alone on held-out renders (11.0 against 10.7 mm).

    python -m train.procedural align --joint runs/kp2d/joint.pt --data synth:data/synth-align \\
        --out runs/kp2d/aligned.pt

The output is a checkpoint in the shipped model's format (HandPoseNet's keys, float16 weights
like train.shrink_fp16 writes), its config with heat_expert "coords" and canonical_side True.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from model.canonical import mirror_images, mirror_keypoints, mirror_points
from model.checkpoint import (
    CheckpointError,
    net_config_of,
    read_checkpoint,
    save_atomic,
    save_checkpoint,
    sub_state_dict,
)
from model.config_flags import option
from model.distributions import kl_to_prior, product_of_experts, reparameterise
from model.keypoint_encoder import keypoint_features
from model.losses import chamfer_distance, pose_loss
from model.net_config import NetConfig
from model.pose_net import HandPoseNet
from train.data.noise2d import Noise2DConfig, perturb_keypoints

# what the network takes from the joint run's config (the rest: the source's)
JOINT_KEYS = ("latent_dim", "crop_size", "heatmap_size", "pose_hidden", "heat_expert",
              "keypoint_hidden", "canonical_side")


@dataclass
class AlignConfig:
    """What `python -m train.procedural align` trains, on what."""

    joint: str = option("runs/kp2d/joint.pt", "the 2D expert + pose decoder: a joint run's "
                        "joint.pt, or a checkpoint that holds them (e.g. app/assets/default.pt, "
                        "to realign a retrained RGB trunk to the shipped 2D expert)")
    source: str = option("app/assets/default.pt", "checkpoint whose RGB trunk is kept "
                         "({default})")
    data: str = option("synth:data/synth-align", "rendered frames, training split "
                       "({default})")
    out: str = option("runs/kp2d/aligned.pt", "the checkpoint written ({default})")
    passes: int = option(2, "augmented passes over the frames whose features are cached "
                         "({default})", ge=1)
    max_frames: int = option(0, "use at most this many frames (0: all)", ge=0)
    epochs: int = option(40, "epochs of the RGB head over the cached features ({default})",
                         ge=1)
    cloud_steps: int = option(800, "steps of the cloud decoder, 32 samples each ({default})",
                              ge=0)
    rgb_loss_weight: float = option(0.25, "weight of the RGB expert's own ELBO next to the "
                                    "fused one ({default:g})", ge=0.0)
    cache: str = option("", "file of the cached features: read when it exists (same data, "
                        "passes, frames and seed), else written (empty: not kept)")
    batch_size: int = option(256, "samples per step ({default})", ge=1)
    lr: float = option(1e-3, "Adam learning rate ({default:g})", gt=0.0)
    beta: float = option(1e-3, "KL weight of the RGB expert ({default:g})", ge=0.0)
    val_share: float = option(0.1, "share of the frames held out to score ({default:g})",
                              gt=0.0, lt=1.0)
    seed: int = option(0, "seed ({default})")
    threads: int = option(2, "torch threads ({default})", ge=1)
    progress: bool = option(True, "tqdm progress bars")


def build_network(cfg: AlignConfig) -> tuple[HandPoseNet, dict, dict]:
    """The new network (float32): the source's RGB trunk, the joint run's 2D expert and pose
    decoder, a fresh RGB head and the source's cloud decoder as the start. Returns (net, source
    checkpoint, joint run)."""
    run = read_joint(cfg.joint)
    src = read_checkpoint(cfg.source)
    old = net_config_of(src, cfg.source)
    nc = NetConfig(**{**asdict(old), **{k: run["net_config"][k] for k in JOINT_KEYS}})
    if (nc.crop_size, nc.heatmap_size) != (old.crop_size, old.heatmap_size):
        raise ValueError(f"the joint run's crop / heat-map sizes ({nc.crop_size}, "
                         f"{nc.heatmap_size}) differ from {cfg.source}'s ({old.crop_size}, "
                         f"{old.heatmap_size}); train the joint run with --crop-size "
                         f"{old.crop_size} --heatmap-size {old.heatmap_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = HandPoseNet(nc, with_cloud=True, with_heat=True)
    state = src["state_dict"]
    net.rgb_encoder.trunk.load_state_dict(sub_state_dict(state, "rgb_encoder.trunk"))
    cloud = sub_state_dict(state, "cloud_decoder")
    if cloud and nc.latent_dim == old.latent_dim:  # a start; else the cloud decoder is fresh
        net.cloud_decoder.load_state_dict(cloud)
    net.heat_encoder.load_state_dict(run["keypoint_encoder"])
    net.pose_decoder.load_state_dict(run["pose_decoder"])
    return net.float().eval(), src, run


def read_joint(path: str | Path) -> dict:
    """The 2D expert and pose decoder to align to, as read_run gives them ({"net_config",
    "keypoint_encoder", "pose_decoder", "progress": {"seen"}, "val"}): from a joint run's
    joint.pt, or from a handtrack checkpoint with a coordinate 2D expert (an aligned one like the
    shipped model: its joint run's numbers come along). ValueError when it is neither."""
    from train.procedural.joint import read_run

    try:  # mapped, not read: only the two small parts below are used
        ckpt = read_checkpoint(path, mmap=True)
    except CheckpointError:
        return read_run(path)  # a joint run's joint.pt, or ValueError
    config, state = dict(ckpt["config"]), ckpt["state_dict"]
    parts = {name: sub_state_dict(state, name) for name in ("heat_encoder", "pose_decoder")}
    if config.get("heat_expert") != "coords" or not all(parts.values()):
        raise ValueError(f"{path} has no coordinate 2D expert and pose decoder to align to; "
                         "pass a joint run or a checkpoint trained with --strategy s4-2d")
    meta = ckpt.get("procedural") or {}
    return {"net_config": config, "keypoint_encoder": parts["heat_encoder"],
            "pose_decoder": parts["pose_decoder"],
            "progress": {"seen": int(meta.get("joint_samples", 0))},
            "val": dict(meta.get("joint_val", {}))}


@torch.no_grad()
def cache_features(net: HandPoseNet, cfg: AlignConfig, noise: Noise2DConfig) -> dict[str, Tensor]:
    """Per augmented sample (passes x frames): trunk features (n, 512) of the canonical crop,
    the 2D expert's keypoint features (n, 21, 3) of noisy ground-truth keypoints, the canonical
    pose (n, 21, 3), cloud (n, P, 3), has_cloud (n,), scale_m (n,)."""
    from tqdm import tqdm

    from train.data import open_dataset
    from train.data.config import SampleConfig

    c = net.config
    out: dict[str, list] = {k: [] for k in ("feat", "kp", "pose", "cloud", "has_cloud",
                                            "scale_m", "frame")}
    S, M = c.crop_size, c.heatmap_size
    for p in range(cfg.passes):
        ds = open_dataset(cfg.data, "training", SampleConfig(
            crop_size=S, cloud_points=c.cloud_points, heatmap_size=M, augment=True,
            seed=cfg.seed + 7919 * p))
        n = len(ds) if not cfg.max_frames else min(cfg.max_frames, len(ds))
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)),
                                             batch_size=64, num_workers=1)
        for b in tqdm(loader, desc=f"features, pass {p + 1}/{cfg.passes}",
                      disable=not cfg.progress, leave=False):
            left = (b["side"] == 0).numpy()
            out["feat"].append(net.rgb_encoder.features(mirror_images(b["rgb"], left)))
            uv = b["uv_crop"].numpy().astype(np.float64)
            kept = np.zeros(uv.shape[:2], bool)
            for i, idx in enumerate(b["index"].tolist()):
                rng = np.random.default_rng((cfg.seed, p, idx))
                uv[i], kept[i] = perturb_keypoints(uv[i], S, noise, rng)
            uv = mirror_keypoints(uv, left, S)
            out["kp"].append(torch.from_numpy(keypoint_features(uv, kept, S, M, 2.0)))
            out["pose"].append(mirror_points(b["pose"], left))
            out["cloud"].append(mirror_points(b["cloud"], left))
            out["has_cloud"].append(b["has_cloud"])
            out["scale_m"].append(b["scale_m"])
            out["frame"].append(b["index"])
    return {k: torch.cat(v) for k, v in out.items()}


def cached_features(net: HandPoseNet, cfg: AlignConfig) -> dict[str, Tensor]:
    """cache_features, read from / written to cfg.cache (keyed by what decides them)."""
    key = {"data": cfg.data, "passes": cfg.passes, "max_frames": cfg.max_frames,
           "seed": cfg.seed, "crop_size": net.config.crop_size,
           "heatmap_size": net.config.heatmap_size, "cloud_points": net.config.cloud_points}
    path = Path(cfg.cache) if cfg.cache else None
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("key") == key:
            return saved["data"]
    data = cache_features(net, cfg, Noise2DConfig())
    if path is not None:
        save_atomic(path, {"key": key, "data": data})
    return data


def _epe_mm(pred: Tensor, pose: Tensor, scale: Tensor) -> float:
    return float(((pred - pose).norm(dim=-1) * scale[:, None]).mean() * 1e3)


@torch.no_grad()
def score(net: HandPoseNet, data: dict[str, Tensor], q_h: tuple[Tensor, Tensor]) -> dict:
    """EPE (mm) of the decoded means: rgb, 2d and rgb+2d (GProd with the prior)."""
    mu_x, lv_x = net.rgb_encoder.head(data["feat"])
    mu_f, _ = product_of_experts([mu_x, q_h[0]], [lv_x, q_h[1]], prior=True)
    dec = net.pose_decoder
    return {"rgb": _epe_mm(dec(mu_x), data["pose"], data["scale_m"]),
            "2d": _epe_mm(dec(q_h[0]), data["pose"], data["scale_m"]),
            "rgb+2d": _epe_mm(dec(mu_f), data["pose"], data["scale_m"]),
            "sigma_rgb": float(torch.exp(0.5 * lv_x).mean()),
            "sigma_2d": float(torch.exp(0.5 * q_h[1]).mean())}


def run(cfg: AlignConfig, log=print) -> dict:
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    t0 = time.monotonic()
    net, src, joint_run = build_network(cfg)
    for p in net.parameters():
        p.requires_grad_(False)
    data = cached_features(net, cfg)
    with torch.no_grad():
        q_h = net.heat_encoder.forward_features(data["kp"])
    # hold out whole frames (their augmented copies too)
    rng = np.random.default_rng(cfg.seed)
    frames = np.unique(data["frame"].numpy())
    val_frames = set(rng.choice(frames, max(1, int(len(frames) * cfg.val_share)),
                                replace=False).tolist())
    is_val = torch.tensor([int(f) in val_frames for f in data["frame"].tolist()])
    tr = {k: v[~is_val] for k, v in data.items()}
    va = {k: v[is_val] for k, v in data.items()}
    q_tr, q_va = (q_h[0][~is_val], q_h[1][~is_val]), (q_h[0][is_val], q_h[1][is_val])
    log(f"cached {len(data['feat'])} samples ({len(tr['feat'])} train, {len(va['feat'])} held "
        f"out) in {time.monotonic() - t0:.0f} s")
    head = net.rgb_encoder.head
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    n = len(tr["feat"])
    steps = cfg.epochs * max(1, n // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=cfg.lr * 0.05)
    gen = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(total=steps, desc="RGB head", disable=not cfg.progress, leave=False)
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - cfg.batch_size + 1, cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            mu_x, lv_x = head(tr["feat"][idx])
            pose = tr["pose"][idx]
            l_x = pose_loss(net.pose_decoder(reparameterise(mu_x, lv_x)), pose).mean()
            kl = kl_to_prior(mu_x, lv_x).mean()
            mu_f, lv_f = product_of_experts([mu_x, q_tr[0][idx]], [lv_x, q_tr[1][idx]])
            l_f = pose_loss(net.pose_decoder(reparameterise(mu_f, lv_f)), pose).mean()
            loss = cfg.rgb_loss_weight * (l_x + cfg.beta * kl) + l_f
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    for p in head.parameters():
        p.requires_grad_(False)
    val = score(net, va, q_va)
    log("held-out renders, EPE mm: " + ", ".join(f"{k} {v:.2f}" for k, v in val.items()))

    cloud_val = None
    if cfg.cloud_steps:
        dec_c = net.cloud_decoder
        for p in dec_c.parameters():
            p.requires_grad_(True)
        opt = torch.optim.Adam(dec_c.parameters(), lr=cfg.lr)
        with torch.no_grad():
            mu_x, lv_x = head(tr["feat"])
            mu_f, lv_f = product_of_experts([mu_x, q_tr[0]], [lv_x, q_tr[1]])
        has = torch.nonzero(tr["has_cloud"]).flatten()
        bs = min(32, cfg.batch_size)
        for step in tqdm(range(cfg.cloud_steps), desc="cloud decoder",
                         disable=not cfg.progress, leave=False):
            idx = has[torch.randint(len(has), (bs,), generator=gen)]
            use_f = step % 2 == 0
            mu, lv = (mu_f[idx], lv_f[idx]) if use_f else (q_tr[0][idx], q_tr[1][idx])
            pred = dec_c(reparameterise(mu, lv))
            loss = chamfer_distance(pred, tr["cloud"][idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        for p in dec_c.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            hv = torch.nonzero(va["has_cloud"]).flatten()
            if len(hv):
                pred = dec_c(q_va[0][hv])
                cloud_val = float((chamfer_distance(pred, va["cloud"][hv])
                                   * va["scale_m"][hv]).mean() * 1e3)
                log(f"held-out renders, cloud Chamfer {cloud_val:.2f} mm (2D expert's mean)")

    config = asdict(net.config)
    data_meta = dict(src["data"])
    data_meta.update({"spec": cfg.data, "n_train": int(len(frames)), "labelled": int(len(frames)),
                      "heatmap_sigma_px": 2.0})
    meta = {"format": "handtrack-procedural-align-1",
            "trained": "keypoint 2D expert + pose decoder on procedural hands (joint run); "
                       "RGB head and cloud decoder on renders; RGB trunk from the source",
            "joint": str(cfg.joint), "joint_samples": int(joint_run["progress"]["seen"]),
            "joint_val": dict(joint_run["val"]), "source": str(cfg.source),
            "align_config": asdict(cfg), "held_out": val, "cloud_chamfer_mm": cloud_val,
            "seconds": time.monotonic() - t0}
    state = {k: (v.half() if v.is_floating_point() else v).clone()
             for k, v in net.state_dict().items()}
    metrics = {f"align_val_{k.replace('+', '_')}": v for k, v in val.items()}
    path = save_checkpoint(Path(cfg.out), strategy=src["strategy"], config=config, data=data_meta,
                           state_dict=state, metrics=metrics, procedural=meta)
    log(f"wrote {path} ({time.monotonic() - t0:.0f} s)")
    return {"checkpoint": str(path), "val": val, "cloud_chamfer_mm": cloud_val}
