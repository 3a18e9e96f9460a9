import torch

from model.checkpoint import load_inference, save_inference_checkpoint
from model.inference import build_hand_pose_net
from model.net_config import NetConfig
from train.shrink_fp16 import main, ship


def test_shipped_fp16_checkpoint_is_smaller_and_predicts_the_same(tmp_path):
    cfg = NetConfig(crop_size=32, cloud_points=16)
    net = build_hand_pose_net(cfg, with_cloud=True, seed=0)
    src = save_inference_checkpoint(tmp_path / "run.pt", net, strategy="s4")
    out = ship(src, tmp_path / "small.pt", fp16=True)
    assert out.stat().st_size < 0.6 * src.stat().st_size
    a, meta = load_inference(src, with_cloud=True)
    b, meta_b = load_inference(out, with_cloud=True)
    assert meta_b["strategy"] == "s4" and meta_b["crop_size"] == 32
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        pa, pb = a(x)[1], b(x)[1]
    assert torch.allclose(pa, pb, atol=2e-2 * pa.abs().max().item())


def test_ship_cli_reports_a_missing_file(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
