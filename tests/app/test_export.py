"""handtrack-export."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from app.export import main
from tests.app.test_engine import CROP, make_checkpoint


def test_export_cli_writes_onnx_with_metadata(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
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
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
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
    float32 export's poses within fp16 rounding. auto picks fp16 for a train.shrink_fp16
    checkpoint."""
    import numpy as np

    from app.engine.backends import OnnxBackend
    from train.shrink_fp16 import ship

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none",
                 "--weights", "fp32", "--onnx-out", str(tmp_path / "fp32.onnx")]) == 0
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none",
                 "--weights", "fp16", "--onnx-out", str(tmp_path / "fp16.onnx")]) == 0
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
    assert main(["--checkpoint", str(shipped), "--no-tensorrt", "--quantize", "none"]) == 0
    assert (tmp_path / "s.onnx").stat().st_size < 0.6 * full


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_export_carries_the_checkpoint_weights_hash(tmp_path, capsys):
    from model.checkpoint import checkpoint_weights_sha256, file_sha256

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
    model = onnx.load(str(tmp_path / "m.onnx"))
    info = json.loads({p.key: p.value for p in model.metadata_props}["handtrack"])
    assert info["weights_sha256"] == checkpoint_weights_sha256(ckpt)
    assert info["checkpoint_sha256"] == file_sha256(ckpt)  # the file's bytes, checked sans torch


def _half_then_enospc():
    import errno

    def save(model, path, *args, **kwargs):
        data = model.SerializeToString()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    return save


def test_failed_onnx_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    """A write that fails half-way (disk full) leaves the previous file (or none) and no
    temporary file, and says so in one line."""
    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    monkeypatch.setattr(onnx, "save", _half_then_enospc())
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left" in line and "free some space" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    monkeypatch.undo()
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
    good = (tmp_path / "m.onnx").read_bytes()
    monkeypatch.setattr(onnx, "save", _half_then_enospc())
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 2
    assert (tmp_path / "m.onnx").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pt"]


def test_failed_tensorrt_write_leaves_the_old_pair(tmp_path):
    """The engine and then its sidecar are written atomically: a failure in either leaves no
    partial or temporary file (without CUDA: the writer alone, with a stand-in engine)."""
    import errno

    from app.engine.errors import EngineError
    from app.export import write_tensorrt_artefact
    from model.checkpoint import ModelInfo

    ep = tmp_path / "m.trt.ep"

    def save(data):
        def write(path):
            path.write_bytes(data)
        return write

    def half_then_enospc(path):
        path.write_bytes(b"new-eng")
        raise OSError(errno.ENOSPC, "No space left on device")

    write_tensorrt_artefact(ep, save(b"old-engine"), ModelInfo(weights_sha256="a" * 64))
    old = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(old) == ["m.trt.ep", "m.trt.ep.json"]
    with pytest.raises(EngineError, match="No space left"):
        write_tensorrt_artefact(ep, half_then_enospc, ModelInfo(weights_sha256="b" * 64))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old

    real = Path.write_text

    def sidecar_fails(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(Path, "write_text", sidecar_fails)
        with pytest.raises(EngineError, match="No space left"):
            write_tensorrt_artefact(ep, save(b"new-engine"), ModelInfo(weights_sha256="b" * 64))
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(files) == ["m.trt.ep", "m.trt.ep.json"]  # no temporary file
    assert files["m.trt.ep.json"] == old["m.trt.ep.json"]  # the old sidecar, whole
    assert json.loads(files["m.trt.ep.json"])["weights_sha256"] == "a" * 64


def test_onnx_out_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    """--onnx-out naming a folder, a path under a file, or a folder one may not write in
    (simulated: root may write anywhere): one error line, exit 2, the fix."""
    import errno

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["--checkpoint", str(ckpt), "--onnx-out", str(folder)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is a folder" in line and "--onnx-out" in line

    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    for out in (afile / "m.onnx", afile / "sub" / "m.onnx"):
        assert main(["--checkpoint", str(ckpt), "--onnx-out", str(out)]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert f"{afile} is a file, not a folder" in line and "--onnx-out PATH" in line

    def denied(model, path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(onnx, "save", denied)
    assert main(["--checkpoint", str(ckpt), "--onnx-out", str(folder / "m.onnx")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Permission denied" in line and "writable folder" in line
    assert list(folder.iterdir()) == []

    def read_only(*args, **kwargs):  # a read-only disk refuses even to unlink a missing file
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(onnx, "save", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    assert main(["--checkpoint", str(ckpt), "--onnx-out", str(folder / "m.onnx")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Read-only file system" in line and "writable folder" in line


@pytest.mark.parametrize("argv, needle", [
    (["--batch", "0"], "--batch"),
    (["--batch", "two"], "--batch"),
    (["--batch", "1000"], "--batch"),
    (["--opset", "99"], "--opset"),
    (["--opset", "1.5"], "--opset"),
    (["--weights", "int8"], "--weights"),
    ([], "--checkpoint"),
])
def test_bad_options_are_refused_at_parse_time(argv, needle, tmp_path, capsys):
    if needle != "--checkpoint":
        argv = [*argv, "--checkpoint", str(tmp_path / "not-read.pt")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert needle in line and "--help" in line


def test_keypoint_expert_exports_and_says_it_is_right_handed(tmp_path, capsys):
    """The coordinate 2D expert (soft-argmax + MLP) in ONNX answers like torch, and the
    artefact tells the engine that left hands go in mirrored."""
    import numpy as np

    from app.engine.backends import OnnxBackend, TorchBackend
    from model.checkpoint import save_inference_checkpoint
    from model.heatmaps import encode
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    cfg = NetConfig(crop_size=32, heatmap_size=16, heat_expert="coords", keypoint_hidden=32,
                    canonical_side=True)
    ckpt = save_inference_checkpoint(tmp_path / "k.pt", build_hand_pose_net(cfg, with_heat=True))
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
    info = json.loads({p.key: p.value for p in onnx.load(str(tmp_path / "k.onnx"))
                       .metadata_props}["handtrack"])
    assert info["canonical_side"] is True
    rng = np.random.default_rng(0)
    rgb = rng.random((2, 3, 32, 32), dtype=np.float32)
    heat = np.stack([encode(rng.uniform(0, 31, (21, 2)), 32, 16, 2.0) for _ in range(2)])
    ort_b, torch_b = OnnxBackend(tmp_path / "k.onnx", threads=1), TorchBackend(ckpt, "cpu", 1)
    assert ort_b.canonical_side and torch_b.canonical_side
    w = np.ones(2, np.float32)
    np.testing.assert_allclose(ort_b.infer(rgb, heat, w, w).pose,
                               torch_b.infer(rgb, heat, w, w).pose, atol=1e-4)


def _fused_checkpoint(path: Path) -> Path:
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    net = build_hand_pose_net(NetConfig(crop_size=32, heatmap_size=16), with_heat=True)
    return save_inference_checkpoint(path, net)


def test_the_2d_expert_graph_equals_the_fused_graph_without_rgb(tmp_path, capsys):
    """A fused export also writes NAME.2d.onnx; --fuse 2d batches (rgb_weight all 0) run it
    instead of the whole graph, with the same poses; any RGB weight runs the whole graph."""
    import numpy as np

    from app.engine.backends import OnnxBackend, TorchBackend
    from model.checkpoint import heat_graph_path_of

    ckpt = _fused_checkpoint(tmp_path / "f.pt")
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
    assert "f.2d.onnx" in capsys.readouterr().out
    model = onnx.load(str(heat_graph_path_of(tmp_path / "f.onnx")))
    assert [i.name for i in model.graph.input] == ["heat", "heat_weight"]
    full = onnx.load(str(tmp_path / "f.onnx"))
    convs = [sum(n.op_type == "Conv" for n in m.graph.node) for m in (model, full)]
    assert convs[1] - convs[0] >= 20  # ResNet-18's convolutions are not inside
    rng = np.random.default_rng(1)
    rgb = rng.random((2, 3, 32, 32), dtype=np.float32)
    heat = rng.random((2, 21, 16, 16), dtype=np.float32)
    w_h, zero = np.array([1.0, 0.5], np.float32), np.zeros(2, np.float32)
    ort_b, torch_b = OnnxBackend(tmp_path / "f.onnx", threads=1), TorchBackend(ckpt, "cpu", 1)
    assert "2D-expert graph" in ort_b.describe()
    whole = ort_b.session.run(["pose"], {"rgb": rgb, "heat": heat, "heat_weight": w_h,
                                         "rgb_weight": zero})[0]
    np.testing.assert_allclose(ort_b.infer(rgb, heat, w_h, zero).pose, whole, atol=1e-5)
    np.testing.assert_allclose(torch_b.infer(rgb, heat, w_h, zero).pose, whole, atol=1e-4)
    # the RGB expert joins one hand: the whole graph, which differs from the 2D graph there
    mixed = ort_b.infer(rgb, heat, w_h, np.array([1.0, 0.0], np.float32)).pose
    np.testing.assert_allclose(mixed[1], whole[1], atol=1e-5)
    assert not np.allclose(mixed[0], whole[0], atol=1e-4)


def test_int8_export_and_the_backend_precision_choice(tmp_path, capsys, monkeypatch):
    """--quantize int8 writes NAME.int8.onnx (int8 convolutions, same metadata); the backend
    runs it with --precision int8, and with auto only on a CPU with int8 dot products."""
    import numpy as np

    import app.engine.backends as backends
    from app.engine.backends import OnnxBackend
    from app.engine.errors import EngineError
    from model.checkpoint import int8_path_of

    ckpt = _fused_checkpoint(tmp_path / "q.pt")
    onnx_file = tmp_path / "q.onnx"
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "none"]) == 0
    with pytest.raises(EngineError, match="--quantize int8"):
        OnnxBackend(onnx_file, threads=1, precision="int8")
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt", "--quantize", "int8"]) == 0
    assert "q.int8.onnx" in capsys.readouterr().out
    model = onnx.load(str(int8_path_of(onnx_file)))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    meta = json.loads({p.key: p.value for p in model.metadata_props}["handtrack"])
    assert meta["fused"] and meta["crop_size"] == 32
    rgb = np.random.default_rng(2).random((2, 3, 32, 32), dtype=np.float32)
    fp32 = OnnxBackend(onnx_file, threads=1, precision="fp32")
    int8 = OnnxBackend(onnx_file, threads=1, precision="int8")
    assert fp32.precision == "float32" and int8.precision == "int8"
    assert "int8" in int8.describe()
    a, b = fp32.infer(rgb).pose, int8.infer(rgb).pose
    assert a.shape == b.shape == (2, 21, 3) and np.isfinite(b).all()
    assert np.abs(a - b).max() < 0.5 * np.abs(a).max()  # quantised, not another network
    for has, want in ((True, "int8"), (False, "float32")):
        monkeypatch.setattr(backends, "has_int8_dot", lambda has=has: has)
        assert OnnxBackend(onnx_file, threads=1, precision="auto").precision == want


def test_quantize_is_refused_when_unknown(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(ckpt), "--quantize", "int4"])
    assert e.value.code == 2
    assert _one_error_line(capsys.readouterr().err).startswith("error: argument --quantize")
