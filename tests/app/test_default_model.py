"""The bundled default model: found without flags, small, complete, and the same in
PyTorch and ONNX Runtime on the demo stream."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.engine import DEFAULT_CHECKPOINT, Engine, resolve_checkpoint
from model.checkpoint import onnx_path_of
from tests.app.test_engine import demo_config

MAX_MB = 30.0  # the size limit for the shipped weights


@pytest.fixture(scope="module")
def default_checkpoint():
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.fail(f"the bundled model {DEFAULT_CHECKPOINT} is missing from the repository; "
                    "ship one with python -m train.shrink_fp16 (README, 'The bundled model')")
    return DEFAULT_CHECKPOINT


def test_default_checkpoint_is_found_without_flags(default_checkpoint, monkeypatch):
    monkeypatch.delenv("HANDTRACK_CHECKPOINT", raising=False)
    assert resolve_checkpoint(None) == default_checkpoint


def test_default_model_is_small_complete_and_documented(default_checkpoint):
    import onnx

    from model.checkpoint import load_inference, read_checkpoint

    assert default_checkpoint.stat().st_size / 1e6 < MAX_MB
    raw = read_checkpoint(default_checkpoint)  # weights_only=True inside
    assert raw["shipped_from"]["fp16"] and raw["strategy"] == "s4-2d"
    net, meta = load_inference(default_checkpoint)
    assert meta["has_heat_encoder"] and meta["crop_size"] == 128
    assert meta["metrics"].get("eval_epe_mm", 0) > 0  # the run's own evaluation travels along
    onnx_file = onnx_path_of(default_checkpoint)
    assert onnx_file.is_file() and onnx_file.stat().st_size / 1e6 < MAX_MB
    info = json.loads({p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
                      ["handtrack"])
    assert info["fused"] and info["crop_size"] == meta["crop_size"]
    assert info["checkpoint"] == default_checkpoint.name
    # the coordinate 2D expert on right hands: the artefact says so, so left hands go in mirrored
    assert meta["config"]["heat_expert"] == "coords" and meta["config"]["canonical_side"]
    assert info["canonical_side"] is True
    assert "procedural" in raw and raw["procedural"]["joint_samples"] > 0  # how it was trained


def test_bundled_onnx_was_exported_from_the_bundled_weights(default_checkpoint, capsys):
    """The shipped pair matches (re-export default.onnx whenever default.pt changes), so the
    default run uses onnxruntime without a warning."""
    import onnx

    from app.engine.backends import BackendConfig, open_backend
    from model.checkpoint import checkpoint_weights_sha256, file_sha256

    model = onnx.load(str(onnx_path_of(default_checkpoint)))
    info = json.loads({p.key: p.value for p in model.metadata_props}["handtrack"])
    assert info.get("weights_sha256") == checkpoint_weights_sha256(default_checkpoint), (
        "app/assets/default.onnx is stale: run handtrack-export --checkpoint "
        "app/assets/default.pt")
    # the file hash lets the default run check the pair without PyTorch
    assert info.get("checkpoint_sha256") == file_sha256(default_checkpoint), (
        "app/assets/default.onnx was exported from another default.pt file: run "
        "handtrack-export --checkpoint app/assets/default.pt")
    with open_backend(BackendConfig(kind="auto", device="cpu"), default_checkpoint) as b:
        assert b.name == "onnxruntime"
    assert capsys.readouterr().err == ""


def test_default_model_agrees_in_torch_and_onnxruntime_on_the_demo(default_checkpoint):
    """The same demo frames through both backends: the same hands, joints within fp16 storage
    rounding (the ONNX file stores its weights in float16)."""
    joints = {}
    for kind in ("torch", "onnxruntime"):
        cfg = demo_config(default_checkpoint, 1, 12)
        cfg.backend.kind = kind
        cfg.filter.enabled = False
        with Engine(cfg) as engine:
            assert engine.fuse == "rgb+2d"
            joints[kind] = [h.joints_m for r, _ in engine.run() for h in r.hands]
    assert len(joints["torch"]) == len(joints["onnxruntime"]) >= 4
    np.testing.assert_allclose(np.array(joints["onnxruntime"]), np.array(joints["torch"]),
                               atol=2e-3)  # metres
