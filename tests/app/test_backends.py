"""Inference backends: one interface, same results; clear errors for missing/corrupt files."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.backends import BackendConfig, OnnxBackend, TorchBackend, open_backend
from app.engine.errors import EngineError
from model.checkpoint import onnx_path_of, tensorrt_path_of
from tests.app.test_engine import CROP, make_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from app.export import export_onnx

    ckpt = make_checkpoint(tmp_path_factory.mktemp("b") / "net.pt", CROP)
    path, diff = export_onnx(ckpt)
    assert path == onnx_path_of(ckpt) and diff < 1e-4
    return ckpt


def test_torch_and_onnxruntime_agree(exported):
    rng = np.random.default_rng(0)
    with TorchBackend(exported, "cpu") as tb, OnnxBackend(onnx_path_of(exported)) as ob:
        assert tb.crop_size == ob.crop_size == CROP
        for b in (1, 2):
            x = rng.random((b, 3, CROP, CROP), dtype=np.float32)
            pt, po = tb.infer(x).pose, ob.infer(x).pose
            assert pt.shape == po.shape == (b, 21, 3) and pt.dtype == po.dtype == np.float32
            np.testing.assert_allclose(pt, po, atol=1e-4)


def test_auto_picks_onnxruntime_when_exported(exported, tmp_path):
    with open_backend(BackendConfig(kind="auto", device="cpu"), exported) as b:
        assert b.name == "onnxruntime"
    plain = make_checkpoint(tmp_path / "plain.pt", CROP)
    with open_backend(BackendConfig(kind="auto", device="cpu"), plain) as b:
        assert b.name == "torch"


def test_missing_and_corrupt_model_files(tmp_path, exported):
    with pytest.raises(EngineError, match="handtrack-export"):
        open_backend(BackendConfig(kind="onnxruntime"), tmp_path / "none.pt")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(EngineError, match="cannot be loaded"):
        OnnxBackend(bad)
    bad_pt = tmp_path / "bad.pt"
    bad_pt.write_bytes(b"not a checkpoint")
    with pytest.raises(EngineError, match="corrupt"):
        TorchBackend(bad_pt, "cpu")
    with pytest.raises(EngineError, match="unknown backend"):
        open_backend(BackendConfig(kind="tflite"), exported)


def test_tensorrt_backend(exported):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_tensorrt", reason="torch-tensorrt is not installed (CUDA only)")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU; none here")
    from app.engine.backends import TensorRTBackend, tensorrt_meta
    from app.export import export_tensorrt
    from model.checkpoint import checkpoint_weights_sha256

    path = export_tensorrt(exported, batch=2)
    assert path == tensorrt_path_of(exported)
    assert tensorrt_meta(path)["weights_sha256"] == checkpoint_weights_sha256(exported)
    with open_backend(BackendConfig(kind="auto", device="cuda"), exported) as b:
        assert b.name == "tensorrt"
    x = np.random.default_rng(0).random((2, 3, CROP, CROP), dtype=np.float32)
    with TensorRTBackend(path) as trt, TorchBackend(exported, "cpu") as tb:
        np.testing.assert_allclose(trt.infer(x[:1]).pose, tb.infer(x[:1]).pose, atol=5e-2)
        assert trt.infer(x).pose.shape == (2, 21, 3)


def test_tensorrt_backend_fused(tmp_path):
    """A fused (s4-2d) checkpoint gives a TensorRT artefact with the 2D expert's inputs that
    matches PyTorch for RGB only, 2D only and both (fp16 tolerance)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_tensorrt", reason="torch-tensorrt is not installed (CUDA only)")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU; none here")
    from app.engine.backends import TensorRTBackend
    from app.export import export_tensorrt
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    net = build_hand_pose_net(NetConfig(crop_size=CROP, heatmap_size=16), with_heat=True)
    ckpt = save_inference_checkpoint(tmp_path / "f.pt", net)
    path = export_tensorrt(ckpt, batch=3)
    rng = np.random.default_rng(0)
    x = rng.random((3, 3, CROP, CROP), dtype=np.float32)
    heat = rng.random((3, 21, 16, 16), dtype=np.float32)
    w_h, w_x = np.array([1, 0, 1], np.float32), np.array([1, 1, 0], np.float32)
    with TensorRTBackend(path) as trt, TorchBackend(ckpt, "cpu") as tb:
        assert trt.has_heat and trt.heatmap_size == 16
        np.testing.assert_allclose(trt.infer(x, heat, w_h, w_x).pose,
                                   tb.infer(x, heat, w_h, w_x).pose, atol=5e-2)
        np.testing.assert_allclose(trt.infer(x[:2]).pose, tb.infer(x[:2]).pose, atol=5e-2)


def _changed_weights(ckpt):
    """Save the checkpoint again at the same path with one weight changed (as training on with
    --resume does)."""
    from model.checkpoint import read_checkpoint, save_checkpoint

    raw = read_checkpoint(ckpt)
    state = raw.pop("state_dict")
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key] = state[key] + 0.5
    return save_checkpoint(ckpt, state_dict=state, **{k: v for k, v in raw.items()
                                                      if k != "format"})


def _assert_stale_handling(ckpt, needle):
    """auto: torch with one warning naming the fix; explicit onnxruntime: an EngineError with
    the fix."""
    warnings = []
    with open_backend(BackendConfig(kind="auto", device="cpu"), ckpt, warn=warnings.append) as b:
        assert b.name == "torch"
    assert len(warnings) == 1 and needle in warnings[0], warnings
    assert f"handtrack-export --checkpoint {ckpt}" in warnings[0]
    assert "running the torch backend" in warnings[0]
    with pytest.raises(EngineError, match=needle) as e:
        open_backend(BackendConfig(kind="onnxruntime", device="cpu"), ckpt)
    assert f"handtrack-export --checkpoint {ckpt}" in str(e.value)


def test_onnx_of_weights_trained_further_is_not_used(tmp_path):
    from app.export import export_onnx

    ckpt = make_checkpoint(tmp_path / "last.pt", CROP)
    export_onnx(ckpt)
    _changed_weights(ckpt)
    _assert_stale_handling(ckpt, "exported from other weights")


def test_onnx_copied_from_another_checkpoint_is_not_used(tmp_path):
    import shutil

    from app.export import export_onnx

    # another crop size: the same (seeded) untrained weights, yet another model
    other = make_checkpoint(tmp_path / "other.pt", 2 * CROP)
    path, _ = export_onnx(other)
    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    shutil.copy(path, onnx_path_of(ckpt))
    _assert_stale_handling(ckpt, "exported from other weights")


def test_onnx_without_weights_hash_is_not_used(tmp_path):
    """An ONNX file from an older handtrack-export (no weights_sha256, no checkpoint_sha256)
    cannot be matched."""
    import json

    import onnx

    from app.export import export_onnx

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    path, _ = export_onnx(ckpt)
    model = onnx.load(str(path))
    entry = next(p for p in model.metadata_props if p.key == "handtrack")
    info = json.loads(entry.value)
    del info["weights_sha256"], info["checkpoint_sha256"]
    entry.value = json.dumps(info)
    onnx.save(model, str(path))
    _assert_stale_handling(ckpt, "carries no weights hash")


def test_matching_pair_runs_onnxruntime_without_a_warning(tmp_path, capsys):
    from app.export import export_onnx
    from model.checkpoint import checkpoint_weights_sha256

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    export_onnx(ckpt)
    for kind in ("auto", "onnxruntime"):
        with open_backend(BackendConfig(kind=kind, device="cpu"), ckpt) as b:
            assert b.name == "onnxruntime"
            assert b.weights_sha256 == checkpoint_weights_sha256(ckpt)
    assert capsys.readouterr().err == ""


def _saved_again_with_other_metrics(ckpt):
    """Save the checkpoint again at the same path, weights unchanged: other bytes, same net."""
    from model.checkpoint import read_checkpoint, save_checkpoint

    raw = read_checkpoint(ckpt)
    raw["metrics"] = {**raw["metrics"], "eval_epe_mm": 12.5}
    return save_checkpoint(ckpt, **{k: v for k, v in raw.items() if k != "format"})


def test_onnx_of_a_checkpoint_saved_again_with_the_same_weights_is_used(tmp_path, capsys):
    """Another file (its hash differs) with the same weights: the weights hash decides."""
    from app.export import export_onnx
    from model.checkpoint import file_sha256

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    export_onnx(ckpt)
    before = file_sha256(ckpt)
    _saved_again_with_other_metrics(ckpt)
    assert file_sha256(ckpt) != before
    with open_backend(BackendConfig(kind="auto", device="cpu"), ckpt) as b:
        assert b.name == "onnxruntime"
    assert capsys.readouterr().err == ""


def test_without_torch_only_the_same_checkpoint_file_is_matched(tmp_path, monkeypatch):
    """Without PyTorch the weights of a changed checkpoint file cannot be compared: the artefact
    counts as stale, with a reason that says so."""
    import app.engine.backends as backends
    from app.export import export_onnx

    def no_torch(path):
        raise ImportError("No module named 'torch'")

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    export_onnx(ckpt)
    monkeypatch.setattr(backends, "checkpoint_weights_sha256", no_torch)
    with open_backend(BackendConfig(kind="onnxruntime", device="cpu"), ckpt) as b:
        assert b.name == "onnxruntime"  # the same file: no torch needed
    _saved_again_with_other_metrics(ckpt)
    with pytest.raises(EngineError, match="without PyTorch") as e:
        open_backend(BackendConfig(kind="onnxruntime", device="cpu"), ckpt)
    assert f"handtrack-export --checkpoint {ckpt}" in str(e.value)


def test_auto_warns_on_stderr_by_default(tmp_path, capsys):
    from app.export import export_onnx

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    export_onnx(ckpt)
    _changed_weights(ckpt)
    with open_backend(BackendConfig(kind="auto", device="cpu"), ckpt) as b:
        assert b.name == "torch"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "handtrack-export" in err[0]


def test_tensorrt_sidecar_hash_is_checked(tmp_path):
    """The TensorRT artefact's identity lives in its JSON sidecar (checked before the engine is
    loaded, so this runs without CUDA)."""
    import json

    from app.engine.backends import (
        CheckpointIdentity,
        StaleArtefactError,
        check_made_from,
        read_info,
        tensorrt_meta,
    )
    from model.checkpoint import checkpoint_weights_sha256, file_sha256

    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    made_from = CheckpointIdentity(ckpt)
    ep = tensorrt_path_of(ckpt)
    ep.write_bytes(b"engine")
    assert tensorrt_meta(ep) == {}

    def check():
        check_made_from(ep, read_info(ep, tensorrt_meta(ep)), made_from)

    with pytest.raises(StaleArtefactError, match="no weights hash"):
        check()
    sidecar = ep.with_name(ep.name + ".json")
    sidecar.write_text(json.dumps({"weights_sha256": "0" * 64}))
    with pytest.raises(StaleArtefactError, match="other weights"):
        check()
    sidecar.write_text(json.dumps({"weights_sha256": "0" * 64, "checkpoint_sha256": "1" * 64}))
    with pytest.raises(StaleArtefactError, match="other weights"):
        check()
    sidecar.write_text(json.dumps({"weights_sha256": checkpoint_weights_sha256(ckpt)}))
    check()
    sidecar.write_text(json.dumps({"weights_sha256": "0" * 64,
                                   "checkpoint_sha256": file_sha256(ckpt)}))
    check()  # the same file bytes: the weights are not read


def test_torch_backend_on_cuda_matches_the_cpu(exported):
    """The eager backend on a CUDA GPU gives the CPU's poses (TF32 convolutions: 1e-3 of the
    pose's scale)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("the CUDA backend needs a CUDA GPU; none here")
    rng = np.random.default_rng(3)
    x = rng.random((3, 3, CROP, CROP), dtype=np.float32)
    with TorchBackend(exported, "cuda") as gpu, TorchBackend(exported, "cpu") as cpu:
        assert gpu.device.startswith("cuda")
        pg, pc = gpu.infer(x).pose, cpu.infer(x).pose
    assert pg.shape == (3, 21, 3) and np.isfinite(pg).all()
    np.testing.assert_allclose(pg, pc, atol=1e-3 * max(1.0, float(np.abs(pc).max())))
