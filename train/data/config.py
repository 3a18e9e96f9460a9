"""Configuration of how a training sample is made from a data-set frame."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SampleConfig:
    """crop_size: side of the RGB crop in px (256 as in the paper, 128 for real time);
    cloud_points: N points of the point cloud; heatmap_size: side of the heat maps;
    heatmap_sigma_px: Gaussian sigma at heat-map resolution; augment: paper augmentation
    (scale U[1, 1.2], translation +-20 px at 256 px, roll U[-pi, pi], hue +-0.1), None = on
    for "training" only; seed: base seed of augmentation and cloud sampling;
    crop_margin: crop side = margin * extent of the 2D keypoints."""

    crop_size: int = 256
    cloud_points: int = 1024
    heatmap_size: int = 64
    heatmap_sigma_px: float = 2.0
    augment: bool | None = None
    seed: int = 0
    crop_margin: float = 1.5

    def __post_init__(self) -> None:
        if self.crop_size < 16:
            raise ValueError(f"crop_size must be >= 16 px, got {self.crop_size}")
        if self.cloud_points < 1:
            raise ValueError(f"cloud_points must be >= 1, got {self.cloud_points}")
        if self.heatmap_size < 4:
            raise ValueError(f"heatmap_size must be >= 4, got {self.heatmap_size}")
        if self.crop_margin < 1.0:
            raise ValueError(f"crop_margin must be >= 1, got {self.crop_margin}")

    def augment_for(self, split: str) -> bool:
        """Whether samples of `split` are augmented."""
        return self.augment if self.augment is not None else split == "training"
