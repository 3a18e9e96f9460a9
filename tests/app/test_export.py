"""handtrack-export."""

from __future__ import annotations

import json

import onnx

from app.export import main
from tests.app.test_engine import CROP, make_checkpoint


def test_export_cli_writes_onnx_with_metadata(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt"]) == 0
    out = capsys.readouterr().out
    assert "m.onnx" in out and "difference" in out
    model = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    info = json.loads(meta["handtrack"])
    assert info["crop_size"] == CROP and info["strategy"] == "untrained"
    assert [o.name for o in model.graph.output] == ["z_mu", "pose"]


def test_export_missing_checkpoint(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and "Traceback" not in err


def test_fused_export_serves_rgb_2d_and_both_like_torch(tmp_path, capsys):
    """A checkpoint with the 2D expert exports one graph with the extra inputs; the onnxruntime
    and torch backends agree for every per-sample choice of experts."""
    import numpy as np

    from app.engine.backends import OnnxBackend, TorchBackend
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    net = build_hand_pose_net(NetConfig(crop_size=32, heatmap_size=16), with_heat=True)
    ckpt = save_inference_checkpoint(tmp_path / "f.pt", net)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt"]) == 0
    model = onnx.load(str(tmp_path / "f.onnx"))
    assert [i.name for i in model.graph.input] == ["rgb", "heat", "heat_weight", "rgb_weight"]
    info = json.loads({p.key: p.value for p in model.metadata_props}["handtrack"])
    assert info["fused"] and info["heatmap_size"] == 16
    rng = np.random.default_rng(0)
    rgb = rng.random((3, 3, 32, 32), dtype=np.float32)
    heat = rng.random((3, 21, 16, 16), dtype=np.float32)
    w_h, w_x = np.array([1, 0, 1], np.float32), np.array([1, 1, 0], np.float32)
    ort_b, torch_b = OnnxBackend(tmp_path / "f.onnx", threads=1), TorchBackend(ckpt, "cpu", 1)
    assert ort_b.has_heat and torch_b.has_heat and ort_b.heatmap_size == 16
    fused = ort_b.infer(rgb, heat, w_h, w_x).pose
    np.testing.assert_allclose(fused, torch_b.infer(rgb, heat, w_h, w_x).pose, atol=1e-4)
    # no heat = RGB only on both, equal to heat weight 0
    plain = ort_b.infer(rgb).pose
    np.testing.assert_allclose(plain, torch_b.infer(rgb).pose, atol=1e-4)
    np.testing.assert_allclose(plain[1], fused[1], atol=1e-5)
    assert not np.allclose(plain[0], fused[0], atol=1e-4)
