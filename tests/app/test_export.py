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


def test_fp16_weight_storage_halves_the_file_and_keeps_the_outputs(tmp_path, capsys):
    """--weights fp16: large tensors stored as float16 behind Cast nodes; onnxruntime gives the
    float32 export's poses within fp16 rounding. auto picks fp16 for a train.ship checkpoint."""
    import numpy as np

    from app.engine.backends import OnnxBackend
    from train.ship import ship

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--weights", "fp32",
                 "--onnx-out", str(tmp_path / "fp32.onnx")]) == 0
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--weights", "fp16",
                 "--onnx-out", str(tmp_path / "fp16.onnx")]) == 0
    full, half = (tmp_path / "fp32.onnx").stat().st_size, (tmp_path / "fp16.onnx").stat().st_size
    assert half < 0.6 * full
    model = onnx.load(str(tmp_path / "fp16.onnx"))
    casts = [n for n in model.graph.node if n.op_type == "Cast" and n.name.endswith("__cast")]
    assert casts and all(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer
                         if i.name.endswith("__fp16"))
    rgb = np.random.default_rng(1).random((2, 3, CROP, CROP), dtype=np.float32)
    want = OnnxBackend(tmp_path / "fp32.onnx", threads=1).infer(rgb).pose
    got = OnnxBackend(tmp_path / "fp16.onnx", threads=1).infer(rgb).pose
    np.testing.assert_allclose(got, want, atol=5e-3 * np.abs(want).max())
    assert not np.array_equal(got, want)  # the weights really were rounded

    shipped = ship(ckpt, tmp_path / "s.pt")  # float16 weights -> auto stores float16
    assert main(["--checkpoint", str(shipped), "--no-tensorrt"]) == 0
    assert (tmp_path / "s.onnx").stat().st_size < 0.6 * full
