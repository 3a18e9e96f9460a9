"""RGB encoder q(z | x): ImageNet normalisation, a torchvision ResNet-18 trunk (no download:
weights=None; `load_imagenet_trunk` loads a local file), then mean / log-variance heads."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from model.checkpoint import sub_state_dict
from model.distributions import GaussianHead
from model.net_config import NetConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRUNK_FEATURES = 512  # ResNet-18 global-pooled feature size


class RGBEncoder(nn.Module):
    def __init__(self, config: NetConfig):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        trunk = torchvision.models.resnet18(weights=None)
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.head = GaussianHead(TRUNK_FEATURES, config.latent_dim)

    def features(self, rgb: Tensor) -> Tensor:
        """rgb (B, 3, S, S) in [0, 1] -> pooled trunk features (B, 512)."""
        return self.trunk((rgb - self.mean) / self.std)

    def forward(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """rgb (B, 3, S, S) in [0, 1] -> mu (B, D), logvar (B, D)."""
        return self.head(self.features(rgb))


TRUNK = "rgb_encoder.trunk"  # the trunk's module in a handtrack checkpoint


def load_imagenet_trunk(encoder: RGBEncoder, path: str | Path) -> None:
    """Initialise the trunk from a local torchvision ResNet-18 ImageNet state dict
    (e.g. resnet18-f37072fd.pth; the classifier fc.* is ignored) or from a handtrack checkpoint
    (e.g. app/assets/default.pt: its RGB trunk, in float32 whatever it was stored in)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init weights file {path} does not exist; pass a local "
                                "torchvision resnet18 ImageNet state dict (.pth) or a handtrack "
                                "checkpoint (.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"--init {path} is not a readable torch state dict ({e})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"--init {path} does not hold a state dict")
    state = sub_state_dict(state, TRUNK) or state  # a handtrack checkpoint: its trunk
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = encoder.trunk.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("fc.")]:
        raise ValueError(f"--init {path} is neither a torchvision resnet18 state dict nor a "
                         f"handtrack checkpoint with an RGB trunk (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
