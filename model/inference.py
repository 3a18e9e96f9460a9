"""The network the real-time engine runs, and how its experts are fused: RGB crop (and 2D keypoint
heat maps) -> z_mu -> pose (-> cloud).

FUSE_MODES name the experts that form z: "rgb" (the RGB expert only), "2d" (the 2D expert alone
on hands whose 2D keypoints exist, e.g. every frame of the engine's landmark tracking; RGB on
the others), "rgb+2d" (both experts where the 2D keypoints exist, RGB on the others);
expert_weights gives the per-hand weights of a mode. Both are plain Python: every backend uses
them, the onnxruntime one without PyTorch.

HandPoseNet, HeatExpertNet (its 2D expert alone) and build_hand_pose_net (model.pose_net) are the
PyTorch network; they are imported
from here as before, and torch is loaded only when one of them is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.pose_net import HandPoseNet, HeatExpertNet, build_hand_pose_net

__all__ = ["FUSE_MODES", "HandPoseNet", "HeatExpertNet", "build_hand_pose_net", "expert_weights"]

FUSE_MODES = ("rgb", "2d", "rgb+2d")


def expert_weights(mode: str, has_landmarks: bool) -> tuple[float, float]:
    """(rgb_weight, heat_weight) for one hand under a --fuse mode: the 2D expert joins only
    when this hand's 2D keypoints (the detector's landmarks) exist."""
    if mode not in FUSE_MODES:
        raise ValueError(f"unknown fuse mode {mode!r}; use one of {', '.join(FUSE_MODES)}")
    if mode == "rgb" or not has_landmarks:
        return 1.0, 0.0
    return (0.0, 1.0) if mode == "2d" else (1.0, 1.0)


def __getattr__(name: str):
    """HandPoseNet / HeatExpertNet / build_hand_pose_net on first use (this imports torch)."""
    if name in ("HandPoseNet", "HeatExpertNet", "build_hand_pose_net"):
        from model import pose_net

        return getattr(pose_net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
