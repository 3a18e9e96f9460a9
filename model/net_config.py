"""One config for every network of the cross-modal VAE (nanoGPT style).

Every encoder and decoder is built from a NetConfig; checkpoints store `asdict(config)` and the
networks are rebuilt from it with `NetConfig.from_dict`. The fields made with option() are also
handtrack-train options (model/config_flags.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from model.config_flags import option

HEAT_EXPERTS = ("conv", "coords")


@dataclass
class NetConfig:
    latent_dim: int = option(64, "latent size ({default})")  # z
    # S of the RGB crop (B, 3, S, S); any S >= 32 works with ResNet-18
    crop_size: int = option(256, "RGB crop side in px ({default}; 128 for real time)")
    cloud_points: int = option(1024, "points per cloud ({default})")  # N: cloud (B, N, 3)
    # side of the decoded heat maps (B, 21, H, H); a power of 2, >= 8
    heatmap_size: int = option(64, "heat-map side, a power of 2 ({default})")
    pose_hidden: int = 128  # pose decoder: 4 FC layers of this width -> 63
    heat_channels: int = 256  # DC-GAN decoder: channels at 4x4, halved at each doubling
    fold_hidden: int = 256  # FoldingNet decoder: hidden width of both folding MLPs
    respel_hidden: int = 128  # ResPEL width (the paper halves ResPEL's hidden units)
    respel_blocks: int = 3  # residual permutation-equivariant blocks
    cloud_feature_dim: int = 256  # ResPEL output after the max pool
    heat_enc_channels: int = 32  # heat-map encoder q(z|H): width of its first convolution
    # the 2D expert q(z|H): "conv" (model/heatmap_encoder.py, strided convolutions on the heat
    # maps) or "coords" (model/keypoint_encoder.py, soft-argmax keypoints into an MLP)
    heat_expert: str = "conv"
    keypoint_hidden: int = 512  # keypoint encoder: width of its three hidden layers
    # True: the network has only seen right hands; callers mirror a left hand's crop and heat
    # maps (x -> S - 1 - x) before it and its pose and cloud (x -> -x) after it
    # (model/canonical.py)
    canonical_side: bool = False

    def __post_init__(self) -> None:
        if self.latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        if self.crop_size < 32:
            raise ValueError(f"crop_size must be >= 32 px for ResNet-18, got {self.crop_size}")
        if self.cloud_points < 4:
            raise ValueError(f"cloud_points must be >= 4, got {self.cloud_points}")
        hs = self.heatmap_size
        if hs < 8 or hs & (hs - 1):
            raise ValueError(f"heatmap_size must be a power of 2 >= 8, got {hs}")
        if self.heat_expert not in HEAT_EXPERTS:
            raise ValueError(f"heat_expert must be one of {HEAT_EXPERTS}, got {self.heat_expert!r}")
        if self.keypoint_hidden <= 0:
            raise ValueError(f"keypoint_hidden must be positive, got {self.keypoint_hidden}")
        if self.heat_enc_channels <= 0:
            raise ValueError(f"heat_enc_channels must be positive, got {self.heat_enc_channels}")

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        """Rebuild from asdict(config); unknown keys are an error (a checkpoint of another
        version), missing keys take the defaults."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown network config keys {unknown}; the checkpoint was written "
                             "by another version of handtrack")
        return cls(**d)
