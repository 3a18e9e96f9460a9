"""Canonical side: a network trained on right hands only sees a left hand as its mirror image.

The crop camera's principal point is the crop's centre ((S - 1) / 2, model.geometry), so flipping
a crop (and its heat maps) left-right is exactly x -> -x in the crop camera: mirror the inputs of
a left hand, run the network, and mirror its pose and cloud back. Both numpy arrays and torch
tensors work (flip on the last axis; x is the first coordinate).

    rgb, heat = mirror_inputs(rgb, heat, left)        # (B, 3, S, S), (B, 21, M, M); left (B,)
    pose = mirror_points(net(rgb, heat)[1], left)     # (B, 21, 3)
"""

from __future__ import annotations

import numpy as np


def mirror_images(images, left):
    """images (B, C, H, W) (crops or heat maps); left (B,) bool: those samples flipped
    left-right, the others as they are. Returns a new array / tensor."""
    if isinstance(images, np.ndarray):
        out = np.array(images, copy=True)
        mask = np.asarray(left, bool)
        out[mask] = images[mask][..., ::-1]
        return out
    import torch

    mask = torch.as_tensor(np.asarray(left, bool) if not isinstance(left, torch.Tensor) else left,
                           dtype=torch.bool, device=images.device)
    return torch.where(mask.view(-1, *([1] * (images.dim() - 1))), images.flip(-1), images)


def mirror_keypoints(uv_px, left, crop_size: int) -> np.ndarray:
    """uv_px (B, J, 2) crop px of a crop of side crop_size; left (B,) bool: u -> S - 1 - u for
    those samples (the flipped crop's keypoints). Returns a new array."""
    out = np.array(uv_px, copy=True)
    mask = np.asarray(left, bool)
    out[mask, :, 0] = (crop_size - 1) - out[mask, :, 0]
    return out


def mirror_points(points, left):
    """points (B, N, 3) in the crop camera (or root-relative); left (B,) bool: x -> -x for those
    samples. Returns a new array / tensor."""
    if isinstance(points, np.ndarray):
        sign = np.where(np.asarray(left, bool), -1.0, 1.0).astype(points.dtype)
        out = np.array(points, copy=True)
        out[..., 0] *= sign[:, None]
        return out
    import torch

    mask = torch.as_tensor(np.asarray(left, bool) if not isinstance(left, torch.Tensor) else left,
                           dtype=torch.bool, device=points.device)
    sign = torch.where(mask, -1.0, 1.0).to(points.dtype)  # (B,)
    out = points.clone()
    out[..., 0] = out[..., 0] * sign[:, None]
    return out
