"""Evaluation of the RGB -> pose network: predictions on a data set and the metrics."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from model.inference import HandPoseNet
from train import metrics


@torch.no_grad()
def predict(net: HandPoseNet, dataset: Dataset, batch_size: int = 32, device: str = "cpu",
            max_samples: int = 0, workers: int = 0, progress: bool = True) -> dict:
    """Run net (RGB encoder mean -> pose [-> cloud]) over a data set.

    Returns numpy arrays: pred (N, 21, 3) and gt (N, 21, 3) normalised, scale_m (N,),
    z (N, D), index (N,), and cloud_pred / cloud_gt (N, P, 3) when net has a cloud decoder."""
    if max_samples and max_samples < len(dataset):
        dataset = Subset(dataset, range(max_samples))
    if len(dataset) == 0:
        raise ValueError("the evaluation set is empty; check --data and the split")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = net.training
    net.eval().to(device)
    keys = ("pred", "gt", "scale_m", "z", "index", "cloud_pred", "cloud_gt")
    acc: dict[str, list] = {k: [] for k in keys}
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        out = net(batch["rgb"].to(device))
        acc["z"].append(out[0].cpu())
        acc["pred"].append(out[1].cpu())
        acc["gt"].append(batch["pose"])
        acc["scale_m"].append(batch["scale_m"])
        acc["index"].append(batch["index"])
        if len(out) > 2:
            acc["cloud_pred"].append(out[2].cpu())
            acc["cloud_gt"].append(batch["cloud"])
    net.train(was_training)
    return {k: torch.cat(v).numpy() for k, v in acc.items() if v}


def evaluate(net: HandPoseNet, dataset: Dataset, **kwargs) -> tuple[dict, dict]:
    """(metrics summary dict, predictions dict) of net on dataset; see predict for kwargs."""
    pred = predict(net, dataset, **kwargs)
    errors = metrics.joint_errors_mm(pred["pred"], pred["gt"], pred["scale_m"])
    summary = metrics.summarize(errors)
    pred["errors_mm"] = errors
    pred["pck"] = metrics.pck(errors)
    return summary, pred


def inference_net_from(model: torch.nn.Module, with_cloud: bool = False) -> HandPoseNet:
    """A HandPoseNet holding a copy of a training model's RGB encoder, pose (and cloud) decoder."""
    net = HandPoseNet(model.config, with_cloud=with_cloud)
    state = model.state_dict()
    net.load_state_dict({k: v for k, v in state.items() if k in net.state_dict()}, strict=True)
    p = next(model.parameters())
    return net.to(p.device).eval()


def mean_errors(pred: dict) -> np.ndarray:
    """Mean error per sample (N,) in mm."""
    return pred["errors_mm"].mean(axis=1)
