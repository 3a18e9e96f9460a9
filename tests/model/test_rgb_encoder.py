"""model/rgb_encoder.py: where the RGB trunk's start comes from (--init)."""

from __future__ import annotations

import pytest
import torch

from model.checkpoint import save_inference_checkpoint
from model.inference import build_hand_pose_net
from model.net_config import NetConfig
from model.rgb_encoder import RGBEncoder, load_imagenet_trunk


def _small() -> NetConfig:
    return NetConfig(latent_dim=8, crop_size=32, heatmap_size=16, pose_hidden=16)


def test_the_trunk_starts_from_a_handtrack_checkpoint_in_float32(tmp_path):
    torch.manual_seed(0)
    net = build_hand_pose_net(_small())
    with torch.no_grad():  # the shipped model stores float16 weights
        for p in net.rgb_encoder.trunk.parameters():
            p.copy_(p.half().float() + 0.5)
    path = save_inference_checkpoint(tmp_path / "m.pt", net)
    torch.manual_seed(1)
    enc = RGBEncoder(_small())
    load_imagenet_trunk(enc, path)
    want = net.rgb_encoder.trunk.state_dict()
    for k, a in enc.trunk.state_dict().items():
        b = want[k]
        assert a.dtype == b.dtype, k
        torch.testing.assert_close(a, b)


def test_the_trunk_refuses_a_file_without_one(tmp_path):
    torch.save({"state_dict": {"pose_decoder.fc.weight": torch.zeros(2, 2)}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="neither a torchvision resnet18"):
        load_imagenet_trunk(RGBEncoder(_small()), tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_imagenet_trunk(RGBEncoder(_small()), tmp_path / "missing.pt")
