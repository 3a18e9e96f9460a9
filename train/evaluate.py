"""Evaluation of the RGB -> pose network: predictions on a data set and the metrics."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from model import heatmaps
from model.anatomy import FitConfig, fit_hand, plausibility
from model.canonical import mirror_images, mirror_points
from model.inference import FUSE_MODES, HandPoseNet, expert_weights
from train import metrics
from train.data.config import SampleConfig
from train.data.noise2d import Noise2DConfig, noisy_heatmaps


def heat_inputs(batch: dict, heatmap_size: int, fuse: str, noise: Noise2DConfig, seed: int,
                sigma: float = SampleConfig().heatmap_sigma_px,
                keypoints2d: dict[int, np.ndarray] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The 2D expert's inputs for a batch under a --fuse mode: heat maps (B, 21, M, M) of the
    ground-truth uv_crop with the training noise model, drawn with a generator seeded by
    (seed, sample index) so every sample gets the same noise whatever the batching, or of
    keypoints2d[index] (21, 2) crop px (e.g. MediaPipe's) as they are; and the weights
    heat_weight, rgb_weight (B,) of model.inference.expert_weights (2d: rgb_weight 0)."""
    S = batch["rgb"].shape[-1]
    index = batch["index"].tolist()
    if keypoints2d is not None:
        maps = [heatmaps.encode(keypoints2d[i], S, heatmap_size, sigma) for i in index]
    else:
        maps = [noisy_heatmaps(uv, S, heatmap_size, sigma, noise, np.random.default_rng((seed, i)))
                for uv, i in zip(batch["uv_crop"].numpy(), index)]
    b = len(maps)
    w_x, w_h = expert_weights(fuse, has_landmarks=True)
    return torch.from_numpy(np.stack(maps)), torch.full((b,), w_h), torch.full((b,), w_x)


@torch.no_grad()
def predict(net: HandPoseNet, dataset: Dataset, batch_size: int = 32, device: str = "cpu",
            max_samples: int = 0, workers: int = 0, progress: bool = True, fuse: str = "rgb",
            noise: Noise2DConfig | None = None, noise_seed: int = 0,
            keypoints2d: dict[int, np.ndarray] | None = None) -> dict:
    """Run net (RGB encoder mean -> pose [-> cloud]) over a data set; with fuse "2d" / "rgb+2d"
    (a net with the 2D expert) the 2D expert takes heat maps of the ground-truth keypoints with
    noise (heat_inputs; noise None = Noise2DConfig()), or of keypoints2d {index: (21, 2) crop px}
    when given (every evaluated sample needs an entry).

    Returns numpy arrays: pred (N, 21, 3) and gt (N, 21, 3) normalised, scale_m (N,),
    z (N, D), index (N,), side (N,) (0 left, 1 right), and cloud_pred / cloud_gt (N, P, 3) when
    net has a cloud decoder."""
    if fuse not in FUSE_MODES:
        raise ValueError(f"unknown --fuse {fuse!r}; use one of {', '.join(FUSE_MODES)}")
    if fuse != "rgb" and net.heat_encoder is None:
        raise ValueError(f"--fuse {fuse} needs a checkpoint with the 2D-keypoint expert "
                         "(heat-map encoder); use --fuse rgb or train with --strategy s4-2d")
    noise = noise if noise is not None else Noise2DConfig()
    if max_samples and max_samples < len(dataset):
        dataset = Subset(dataset, range(max_samples))
    if len(dataset) == 0:
        raise ValueError("the evaluation set is empty; check --data and the split")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = net.training
    net.eval().to(device)
    keys = ("pred", "gt", "scale_m", "z", "index", "side", "cloud_pred", "cloud_gt")
    acc: dict[str, list] = {k: [] for k in keys}
    canonical = net.config.canonical_side
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        left = batch["side"] == 0  # (B,) mirrored in and out for a right-hands-only network
        rgb = mirror_images(batch["rgb"], left) if canonical else batch["rgb"]
        if fuse == "rgb":
            out = net(rgb.to(device))
        else:
            heat, *weights = heat_inputs(batch, net.config.heatmap_size, fuse, noise, noise_seed,
                                         keypoints2d=keypoints2d)
            heat = mirror_images(heat, left) if canonical else heat
            out = net(rgb.to(device), *(t.to(device) for t in (heat, *weights)))
        if canonical:
            out = tuple([out[0]] + [mirror_points(o.cpu(), left) for o in out[1:]])
        acc["z"].append(out[0].cpu())
        acc["pred"].append(out[1].cpu())
        acc["gt"].append(batch["pose"])
        acc["scale_m"].append(batch["scale_m"])
        acc["index"].append(batch["index"])
        acc["side"].append(batch["side"])
        if len(out) > 2:
            acc["cloud_pred"].append(out[2].cpu())
            acc["cloud_gt"].append(batch["cloud"])
    net.train(was_training)
    return {k: torch.cat(v).numpy() for k, v in acc.items() if v}


def evaluate(net: HandPoseNet, dataset: Dataset, **kwargs) -> tuple[dict, dict]:
    """(metrics summary dict, predictions dict) of net on dataset; see predict for kwargs."""
    pred = predict(net, dataset, **kwargs)
    return score(pred), pred


def score(pred: dict) -> dict:
    """Metrics of pred["pred"] against pred["gt"] (train.metrics.summarize plus `plausible`,
    the fraction of predicted poses that pass model.anatomy.plausibility); stores errors_mm
    (N, 21) and the PCK curve in pred."""
    errors = metrics.joint_errors_mm(pred["pred"], pred["gt"], pred["scale_m"])
    pred["errors_mm"] = errors
    pred["pck"] = metrics.pck(errors)
    return metrics.summarize(errors) | {"plausible": plausible_fraction(pred["pred"])}


def plausible_fraction(poses: np.ndarray) -> float:
    """Fraction of (N, 21, 3) poses whose bone ratios and hinge bends pass
    model.anatomy.plausibility with its default tolerances."""
    ok = [(p := plausibility(j))["bones_ok"] and p["bends_ok"] for j in poses]
    return float(np.mean(ok)) if ok else float("nan")


def fit_anatomy(pred: dict, config: FitConfig | None = None, progress: bool = True) -> dict:
    """A copy of pred whose poses are the kinematic hand fitted to each prediction
    (model.anatomy.fit_hand, with the sample's side), scored again (score); adds moved_mm (N,),
    the mean distance the fit moved each prediction's joints."""
    out = {k: v for k, v in pred.items() if k not in ("errors_mm", "pck")}
    fits = [fit_hand(j, int(s), config) for j, s in
            tqdm(zip(pred["pred"], pred["side"]), total=len(pred["pred"]), desc="kinematic fit",
                 disable=not progress, leave=False)]
    out["pred"] = np.stack([f.joints for f in fits]).astype(np.float32)
    out["moved_mm"] = np.array([f.displacement.mean() for f in fits]) * pred["scale_m"] * 1e3
    return out


def inference_net_from(model: torch.nn.Module, with_cloud: bool = False) -> HandPoseNet:
    """A HandPoseNet holding a copy of a training model's RGB encoder, pose (and cloud) decoder."""
    net = HandPoseNet(model.config, with_cloud=with_cloud)
    state = model.state_dict()
    net.load_state_dict({k: v for k, v in state.items() if k in net.state_dict()}, strict=True)
    p = next(model.parameters())
    return net.to(p.device).eval()

