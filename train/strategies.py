"""The four training strategies of Yang et al. (2019) and the cross-modal VAE they train.

| name  | paper        | encoders                    | decoders          |
|-------|--------------|-----------------------------|-------------------|
| s1    | Eq. 1        | RGB                         | pose              |
| s2-h  | Alg. 1       | RGB                         | pose + heat maps  |
| s2-c  | Alg. 1       | RGB                         | pose + cloud      |
| s2-ch | Alg. 1       | RGB                         | pose + cloud + heat |
| s3    | Alg. 2, Eq. 3 | RGB and joint RGB+cloud    | pose + cloud + heat |
| s4    | Alg. 3, Eq. 4 | RGB and cloud, separately  | pose + cloud + heat |
| s4-2d | S4 + 2D expert | RGB, cloud and 2D heat maps | pose + cloud + heat |

Losses (minimised, batch means of per-sample terms; recon(z) = pose + lambda_heat heat +
lambda_cloud (Chamfer + EMD) of the decoders a strategy has, the pose term only on labelled
samples):
- s1, s2-*: recon(z_x) + beta KL(q(z|x) || p)
- s3: recon(z_j) + beta KL(q(z|x,C) || p) + recon(z_x) + beta KL(q(z|x) || p)
      + beta' KL(q(z|x,C) || q(z|x)); the joint encoder concatenates the RGB trunk's features
      (the trunk is shared with q(z|x)) with its own ResPEL features before its mean/var heads.
- s4: recon(z_x) + recon(z_C) + recon(z_joint) + beta (KL(q(z|x) || p) + KL(q(z|C) || p)),
      z_joint ~ GProd(prior, q(z|x), q(z|C)) (product of experts).
- s4-2d: s4 plus a third expert q(z|H) on heat maps of noisy 2D keypoints (the input
      "heat_in", made from uv_crop by train/data/noise2d.py; the clean "heat" stays the
      target): recon(z_x) + recon(z_C) + recon(z_H) + recon(z_{x,C}) + recon(z_{x,H})
      + recon(z_{x,C,H}) + beta (KL(q(z|x) || p) + KL(q(z|C) || p) + KL(q(z|H) || p)), every
      product with the prior expert. The subsets are the ones that are used or that align the
      experts: {x} and {H} alone and {x, H} are what the app runs (--fuse rgb / 2d / rgb+2d),
      {x, C} is s4's joint term, {x, C, H} is the full posterior that ties all three to one
      latent; {C, H} and {C} + {H} pairs are left out (no input at run time has a cloud without
      RGB). The pose decoder decodes every subset at every step.
Shared decoding (handtrack-train --decode shared, the default): the heat-map and cloud decoders,
the costly part (FoldingNet, Chamfer, the EMD auction; six latents in s4-2d), run once per step
on a batch whose rows come from the latents in turn (a random split of the batch into K groups,
one per latent; each latent's heat/Chamfer/EMD term is the mean over its group), an unbiased
estimate of every term at 1/K of the decoding cost. --decode all decodes every latent for
every sample (K times the cost, the same objective in expectation).
At test time every strategy uses the RGB encoder's mean only; s4-2d's inference network can
also fuse the 2D expert (model.inference.HandPoseNet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from model.cloud_encoder import CloudEncoder, ResPEL
from model.decoders import CloudDecoder, HeatmapDecoder, PoseDecoder
from model.distributions import (
    GaussianHead,
    kl_normal,
    kl_to_prior,
    product_of_experts,
    reparameterise,
)
from model.heatmap_encoder import build_heat_expert
from model.losses import chamfer_distance, emd_loss, heatmap_loss, pose_loss
from model.net_config import NetConfig
from model.rgb_encoder import TRUNK_FEATURES, RGBEncoder
from train.data.noise2d import Noise2DConfig, noisy_heatmaps_batch


@dataclass(frozen=True)
class Strategy:
    name: str
    paper: str
    encoders: str  # "rgb" | "rgb+joint" (s3) | "rgb+cloud" (s4)
    heat: bool  # has a heat-map decoder
    cloud: bool  # has a point-cloud decoder
    heat_expert: bool = False  # has the 2D-keypoint expert q(z|H) (s4-2d)

    @property
    def needs_depth(self) -> bool:
        """True if training needs ground-truth point clouds (as a target or an input)."""
        return self.cloud or self.encoders != "rgb"

    @property
    def latents(self) -> tuple[str, ...]:
        """The latents that are decoded during training: x (RGB), j (joint), w (cloud)."""
        if self.heat_expert:
            return ("x", "w", "j", "h", "xh", "xwh")
        return {"rgb": ("x",), "rgb+joint": ("j", "x"), "rgb+cloud": ("x", "w", "j")}[self.encoders]


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("s1", "S1 (Eq. 1): R -> P", "rgb", heat=False, cloud=False),
    Strategy("s2-h", "S2 (Alg. 1): R -> H + P", "rgb", heat=True, cloud=False),
    Strategy("s2-c", "S2 (Alg. 1): R -> C + P", "rgb", heat=False, cloud=True),
    Strategy("s2-ch", "S2 (Alg. 1): R -> C + H + P", "rgb", heat=True, cloud=True),
    Strategy("s3", "S3 (Alg. 2, Eq. 3): joint RGB+C, KL alignment", "rgb+joint", True, True),
    Strategy("s4", "S4 (Alg. 3, Eq. 4): product of experts", "rgb+cloud", True, True),
    Strategy("s4-2d", "S4 + 2D-keypoint expert q(z|H)", "rgb+cloud", True, True,
             heat_expert=True),
)}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


@dataclass
class LossWeights:
    beta: float = 1e-5  # KL to the prior (annealed by the training loop)
    beta_prime: float = 1.0  # s3: KL(q(z|x,C) || q(z|x))
    lambda_heat: float = 0.01
    lambda_cloud: float = 1.0


class CrossModalVAE(nn.Module):
    """All networks one strategy trains. Submodule names match model.inference.HandPoseNet
    (rgb_encoder, pose_decoder, cloud_decoder), so its state dict loads there directly."""

    def __init__(self, config: NetConfig, strategy: Strategy):
        super().__init__()
        self.config = config
        self.strategy = strategy
        self.rgb_encoder = RGBEncoder(config)
        self.pose_decoder = PoseDecoder(config)
        self.heat_decoder = HeatmapDecoder(config) if strategy.heat else None
        self.cloud_decoder = CloudDecoder(config) if strategy.cloud else None
        self.cloud_encoder = CloudEncoder(config) if strategy.encoders == "rgb+cloud" else None
        self.heat_encoder = build_heat_expert(config) if strategy.heat_expert else None
        if strategy.encoders == "rgb+joint":
            self.joint_cloud_trunk = ResPEL(config)
            self.joint_head = GaussianHead(TRUNK_FEATURES + config.cloud_feature_dim,
                                           config.latent_dim)
        else:
            self.joint_cloud_trunk = self.joint_head = None

    def decode(self, z: Tensor) -> dict[str, Tensor]:
        """z (B, D) -> {"pose": (B, 21, 3), "heat": (B, 21, H, H), "cloud": (B, N, 3)}."""
        out = {"pose": self.pose_decoder(z)}
        if self.heat_decoder is not None:
            out["heat"] = self.heat_decoder(z)
        if self.cloud_decoder is not None:
            out["cloud"] = self.cloud_decoder(z)
        return out

    def forward(self, rgb: Tensor, cloud: Tensor | None = None,
                heat_in: Tensor | None = None, assign: Tensor | None = None) -> dict:
        """rgb (B, 3, S, S) in [0, 1]; cloud (B, N, 3) for s3/s4/s4-2d; heat_in (B, 21, M, M)
        the 2D expert's input heat maps for s4-2d. Returns the posteriors {"q_x": (mu, logvar),
        ["q_j", "q_w", "q_h", "q_xh", "q_xwh"]} and the decodings {"dec_x": {...}, ...} of
        reparameterised samples (of the means in eval mode).

        assign (B,) int64, optional (shared decoding, see shared_assignment): the pose decoder
        still decodes every latent, but the heat-map and cloud decoders run once, on the batch
        whose row i is row i of latent strategy.latents[assign[i]]; their output is
        out["dec_shared"] = {"heat", "cloud"} and out["assign"] = assign."""
        s = self.strategy
        if s.heat_expert and heat_in is None:
            raise ValueError(f"strategy {s.name} needs the input heat maps heat_in")
        feat = self.rgb_encoder.features(rgb)  # (B, 512)
        out: dict = {"q_x": self.rgb_encoder.head(feat)}
        if s.encoders != "rgb" and cloud is None:
            raise ValueError(f"strategy {s.name} needs the point cloud as an input")
        if s.encoders == "rgb+joint":
            joint_feat = torch.cat([feat, self.joint_cloud_trunk(cloud)], dim=-1)  # (B, 512+F)
            out["q_j"] = self.joint_head(joint_feat)
        elif s.encoders == "rgb+cloud":
            out["q_w"] = self.cloud_encoder(cloud)
            out["q_j"] = product_of_experts([out["q_x"][0], out["q_w"][0]],
                                            [out["q_x"][1], out["q_w"][1]], prior=True)
        if s.heat_expert:
            out["q_h"] = self.heat_encoder(heat_in)
            for name, experts in (("xh", ("x", "h")), ("xwh", ("x", "w", "h"))):
                out[f"q_{name}"] = product_of_experts([out[f"q_{e}"][0] for e in experts],
                                                      [out[f"q_{e}"][1] for e in experts],
                                                      prior=True)
        zs = []
        for k in s.latents:
            mu, logvar = out[f"q_{k}"]
            z = reparameterise(mu, logvar) if self.training else mu
            if assign is None:
                out[f"dec_{k}"] = self.decode(z)
            else:
                out[f"dec_{k}"] = {"pose": self.pose_decoder(z)}
                zs.append(z)
        if assign is not None:
            rows = torch.arange(len(assign), device=assign.device)
            z_mix = torch.stack(zs)[assign, rows]  # (B, D): row i from latent assign[i]
            shared = {}
            if self.heat_decoder is not None:
                shared["heat"] = self.heat_decoder(z_mix)
            if self.cloud_decoder is not None:
                shared["cloud"] = self.cloud_decoder(z_mix)
            out["dec_shared"], out["assign"] = shared, assign
        return out


def shared_assignment(strategy: Strategy, batch_size: int, device: str | torch.device = "cpu"
                      ) -> Tensor | None:
    """Which latent each sample's heat maps and cloud are decoded from under shared decoding:
    (B,) int64, a random permutation of the batch cut into len(strategy.latents) groups of
    (near) equal size, drawn from torch's global generator (the training loop seeds it per
    step). None when the strategy decodes a single latent or has no heat-map or cloud decoder
    (nothing to share)."""
    k = len(strategy.latents)
    if k < 2 or not (strategy.heat or strategy.cloud):
        return None
    return (torch.randperm(batch_size) % k).to(device)


def compute_loss(strategy: Strategy, batch: dict, out: dict, w: LossWeights,
                 labelled: Tensor) -> dict[str, Tensor]:
    """Every loss term (batch means) and "total", the objective to minimise.

    batch: the training sample dict (contracts.md section 1), batched; out: CrossModalVAE output;
    labelled: (B,) bool, the samples whose pose term counts (weak supervision)."""
    out = _float32(out)  # decodings of a bf16 forward pass: the losses in float32
    terms: dict[str, Tensor] = {}
    total = torch.zeros((), device=labelled.device)
    mask = labelled.float()  # (B,)
    shared = _shared_terms(out, batch)
    for k in strategy.latents:
        dec = out[f"dec_{k}"]
        t_pose = (pose_loss(dec["pose"], batch["pose"]) * mask).mean()
        terms[f"pose_{k}"] = t_pose
        total = total + t_pose
        if shared is not None:  # this latent's share of the batch: the mean over its rows
            group = (out["assign"] == strategy.latents.index(k)).float()  # (B,)
            dec = {name: (per_sample * group).sum() / group.sum().clamp_min(1.0)
                   for name, per_sample in shared.items()}
        else:
            dec = {name: v for name, v in (
                ("heat", heatmap_loss(dec["heat"], batch["heat"]) if "heat" in dec else None),
                ("chamfer", chamfer_distance(dec["cloud"], batch["cloud"])
                 if "cloud" in dec else None),
                ("emd", emd_loss(dec["cloud"], batch["cloud"]) if "cloud" in dec else None),
            ) if v is not None}
            dec = {name: v.mean() for name, v in dec.items()}
        if "heat" in dec:
            terms[f"heat_{k}"] = dec["heat"]
            total = total + w.lambda_heat * terms[f"heat_{k}"]
        if "chamfer" in dec:
            terms[f"chamfer_{k}"], terms[f"emd_{k}"] = dec["chamfer"], dec["emd"]
            total = total + w.lambda_cloud * (terms[f"chamfer_{k}"] + terms[f"emd_{k}"])
    terms["kl_x"] = kl_to_prior(*out["q_x"]).mean()
    total = total + w.beta * terms["kl_x"]
    if strategy.encoders == "rgb+joint":
        terms["kl_j"] = kl_to_prior(*out["q_j"]).mean()
        terms["kl_j_x"] = kl_normal(*out["q_j"], *out["q_x"]).mean()
        total = total + w.beta * terms["kl_j"] + w.beta_prime * terms["kl_j_x"]
    elif strategy.encoders == "rgb+cloud":
        terms["kl_w"] = kl_to_prior(*out["q_w"]).mean()
        total = total + w.beta * terms["kl_w"]
    if strategy.heat_expert:
        terms["kl_h"] = kl_to_prior(*out["q_h"]).mean()
        total = total + w.beta * terms["kl_h"]
    terms["total"] = total
    return terms


def _shared_terms(out: dict, batch: dict) -> dict[str, Tensor] | None:
    """Per-sample heat-map, Chamfer and EMD losses (B,) of the shared decodings (one EMD
    assignment for the whole batch), or None without shared decoding."""
    if "dec_shared" not in out:
        return None
    dec, terms = out["dec_shared"], {}
    if "heat" in dec:
        terms["heat"] = heatmap_loss(dec["heat"], batch["heat"])
    if "cloud" in dec:
        terms["chamfer"] = chamfer_distance(dec["cloud"], batch["cloud"])
        terms["emd"] = emd_loss(dec["cloud"], batch["cloud"])
    return terms


def _float32(tree):
    """Every floating tensor of a nested dict / tuple / list as float32 (others unchanged)."""
    if isinstance(tree, Tensor):
        return tree.float() if tree.is_floating_point() else tree
    if isinstance(tree, dict):
        return {k: _float32(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_float32(v) for v in tree)
    return tree


def model_inputs(strategy: Strategy, batch: dict) -> tuple[Tensor | None, ...]:
    """(rgb (B, 3, S, S), cloud (B, N, 3) or None[, heat_in (B, 21, M, M)]) for
    CrossModalVAE.forward; s4-2d needs batch["heat_in"] (add_heat_input)."""
    cloud = batch["cloud"] if strategy.encoders != "rgb" else None
    if not strategy.heat_expert:
        return batch["rgb"], cloud
    if "heat_in" not in batch:
        raise KeyError(f"strategy {strategy.name} needs batch['heat_in']; call add_heat_input")
    return batch["rgb"], cloud, batch["heat_in"]


def add_heat_input(batch: dict, crop_size: int, sigma: float, noise: Noise2DConfig,
                   rng: np.random.Generator) -> None:
    """Add batch["heat_in"] (B, 21, M, M): heat maps of batch["uv_crop"] (B, 21, 2) with
    detector-like noise (train/data/noise2d.py), M the side of batch["heat"], on its device."""
    heat = batch["heat"]
    maps = noisy_heatmaps_batch(batch["uv_crop"].detach().cpu().numpy(), crop_size,
                                heat.shape[-1], sigma, noise, rng)
    batch["heat_in"] = torch.from_numpy(maps).to(heat.device)
