"""Checkpoint files: the weights hash, and one-line reasons for files that cannot be used."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from model.checkpoint import (
    CheckpointError,
    ModelInfo,
    checkpoint_weights_sha256,
    file_sha256,
    load_inference,
    onnx_path_of,
    read_checkpoint,
    save_checkpoint,
    save_inference_checkpoint,
    sidecar_path_of,
    tensorrt_path_of,
    weights_sha256,
)
from model.inference import build_hand_pose_net
from model.net_config import NetConfig


class NotATensor:  # a class torch.load(weights_only=True) refuses to rebuild
    pass


@pytest.fixture(scope="module")
def small_net():
    return build_hand_pose_net(NetConfig(crop_size=32))


def test_weights_hash_depends_on_the_weights_only(small_net):
    sd = {k: v.clone() for k, v in small_net.state_dict().items()}
    h = weights_sha256(sd)
    assert len(h) == 64 and h == weights_sha256(dict(reversed(list(sd.items()))))  # key order
    key = next(k for k, v in sd.items() if v.is_floating_point() and v.numel() > 1)
    changed = dict(sd)
    changed[key] = sd[key].clone()
    changed[key].view(-1)[0] += 1e-3
    assert weights_sha256(changed) != h
    assert weights_sha256({**sd, key: sd[key].half()}) != h  # dtype
    assert weights_sha256({**sd, key: sd[key].reshape(1, -1)}) != h  # shape, same bytes
    mat = next(k for k, v in sd.items() if v.dim() == 2)
    assert weights_sha256({**sd, mat: sd[mat].t().contiguous().t()}) == h  # memory layout
    renamed = {("x" + k if k == key else k): v for k, v in sd.items()}
    assert weights_sha256(renamed) != h


def test_checkpoint_hash_covers_weights_and_config_not_metrics(small_net, tmp_path):
    path = save_inference_checkpoint(tmp_path / "m.pt", small_net, metrics={"a": 1.0})
    raw = read_checkpoint(path)
    h = checkpoint_weights_sha256(path)
    assert h == weights_sha256(small_net.state_dict(), raw["config"], raw["data"])
    assert load_inference(path)[1]["weights_sha256"] == h
    # other contents (metrics, training state) do not change the identity
    again = save_checkpoint(tmp_path / "n.pt", strategy="s1", config=raw["config"],
                            data=raw["data"], state_dict=raw["state_dict"],
                            metrics={"a": 2.0}, step=7, optimizer={"lr": 1e-3})
    assert checkpoint_weights_sha256(again) == h
    # the same weights fed other crops are another model (untrained nets share weights)
    other = save_checkpoint(tmp_path / "o.pt", strategy="s1", config=raw["config"],
                            data={**raw["data"], "crop_size": 64},
                            state_dict=raw["state_dict"])
    assert checkpoint_weights_sha256(other) != h


def test_file_hash_is_the_hash_of_the_bytes_and_needs_no_torch(small_net, tmp_path):
    import hashlib

    path = save_inference_checkpoint(tmp_path / "m.pt", small_net, metrics={"a": 1.0})
    h = file_sha256(path)
    assert h == hashlib.sha256(path.read_bytes()).hexdigest()
    # unlike the weights hash, any other content makes it another file
    raw = read_checkpoint(path)
    again = save_checkpoint(tmp_path / "n.pt", strategy="s1", config=raw["config"],
                            data=raw["data"], state_dict=raw["state_dict"], metrics={"a": 2.0})
    assert file_sha256(again) != h
    assert checkpoint_weights_sha256(again) == checkpoint_weights_sha256(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        file_sha256(tmp_path / "none.pt")


def _assert_one_safe_line(e: CheckpointError, path) -> str:
    msg = str(e)
    assert str(path) in msg and "\n" not in msg
    assert "weights_only" not in msg and "weights only" not in msg.lower()
    return msg


def test_truncated_checkpoint_is_named_corrupt(small_net, tmp_path):
    good = save_inference_checkpoint(tmp_path / "good.pt", small_net).read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(bad)
    msg = _assert_one_safe_line(e.value, bad)
    assert "corrupt" in msg and "train again" in msg
    with pytest.raises(CheckpointError) as e:
        checkpoint_weights_sha256(bad)  # the memory-mapped read says the same
    assert str(e.value) == msg


@pytest.mark.parametrize("how", ["torch.save", "pickle-2", "pickle-5"])
def test_checkpoint_with_python_objects_is_refused_without_unsafe_advice(tmp_path, how):
    """torch's own message advises weights_only=False (which would run the file's code): the
    reason never quotes it. A protocol-5 pickle stops torch's reader before the class is seen:
    then it is simply not a handtrack checkpoint."""
    bad = tmp_path / "obj.pt"
    obj = {"format": "handtrack-ckpt-1", "state_dict": {"w": torch.zeros(2)}, "x": NotATensor()}
    if how == "torch.save":
        torch.save(obj, bad)
    else:  # plain pickle (a tensor would bring torch's own globals first)
        obj["state_dict"] = {"w": [0.0, 0.0]}
        bad.write_bytes(pickle.dumps(obj, protocol=int(how[-1])))
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(bad)
    msg = _assert_one_safe_line(e.value, bad)
    if how == "pickle-5":
        assert "not a handtrack checkpoint" in msg
    else:
        assert "refused for safety" in msg and "NotATensor" in msg and "handtrack-train" in msg


def test_not_a_torch_file(tmp_path):
    for name, data in (("garbage.pt", b"not a checkpoint"), ("empty.pt", b"")):
        bad = tmp_path / name
        bad.write_bytes(data)
        with pytest.raises(CheckpointError) as e:
            read_checkpoint(bad)
        assert "corrupt or not a handtrack checkpoint" in _assert_one_safe_line(e.value, bad)


def test_save_then_read_round_trip(small_net, tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", strategy="s1", config=small_net.config,
                           data={"crop_size": 32}, state_dict=small_net.state_dict(), step=3)
    ckpt = read_checkpoint(path, mmap=True)
    assert ckpt["strategy"] == "s1" and ckpt["step"] == 3
    assert weights_sha256(ckpt["state_dict"]) == weights_sha256(small_net.state_dict())


# The "handtrack" ONNX metadata entry and the TensorRT sidecar as handtrack-export writes them
# (the bundled default.onnx carries this layout).
ONNX_INFO = {"crop_size": 128, "strategy": "s4-2d", "latent_dim": 64, "cloud_points": 0,
             "checkpoint": "default.pt", "metrics": {"eval_epe_mm": 41.5, "eval_n": 300},
             "heatmap_size": 64, "fused": True, "heatmap_sigma_px": 2.0,
             "weights_sha256": "16" * 32}
SIDECAR = {"crop_size": 128, "batch": 2, "precision": "fp16", "strategy": "s4-2d",
           "checkpoint": "default.pt", "fused": True, "heatmap_size": 64,
           "heatmap_sigma_px": 2.0, "weights_sha256": "16" * 32}


@pytest.mark.parametrize("written", [ONNX_INFO, SIDECAR])
def test_model_info_round_trip_keeps_each_artefacts_keys(written):
    info = ModelInfo.from_dict(json.loads(json.dumps(written)))
    assert info.to_dict() == written and ModelInfo.from_dict(info.to_dict()) == info
    assert info.fused and info.heatmap_size == 64 and info.weights_sha256 == "16" * 32


def test_model_info_onnx_entry_is_written_as_before():
    assert json.dumps(ModelInfo.from_dict(ONNX_INFO).to_dict()) == json.dumps(ONNX_INFO)


def test_model_info_defaults_for_older_or_unreadable_metadata():
    old = {k: v for k, v in ONNX_INFO.items() if k != "weights_sha256"}
    assert ModelInfo.from_dict(old).weights_sha256 is None
    for nothing in ({}, [], None, "text"):
        info = ModelInfo.from_dict(nothing)
        assert info == ModelInfo() and not info.fused and info.heatmap_sigma_px == 2.0
        assert info.crop_size is None and info.to_dict() == {"fused": False,
                                                             "heatmap_sigma_px": 2.0}
    assert ModelInfo.from_dict({"crop_size": 96, "future_key": 1}).crop_size == 96
    with pytest.raises(ValueError, match="crop_size.*handtrack-export"):
        ModelInfo.from_dict({"crop_size": "big"})
    with pytest.raises(ValueError, match="metrics"):
        ModelInfo.from_dict({"metrics": [1, 2]})


def test_model_info_of_a_checkpoint(tmp_path):
    net = build_hand_pose_net(NetConfig(crop_size=32, heatmap_size=16), with_heat=True)
    ckpt = save_inference_checkpoint(tmp_path / "f.pt", net, metrics={"eval_n": 3})
    info = ModelInfo.from_meta(load_inference(ckpt)[1], ckpt)
    assert info == ModelInfo(crop_size=32, strategy="untrained", latent_dim=64,
                             cloud_points=net.config.cloud_points, checkpoint="f.pt",
                             metrics={"eval_n": 3}, heatmap_size=16, fused=True,
                             weights_sha256=checkpoint_weights_sha256(ckpt))


def test_artefact_paths_sit_next_to_the_checkpoint():
    ckpt = Path("runs/s4/last.pt")
    assert onnx_path_of(ckpt) == Path("runs/s4/last.onnx")
    assert tensorrt_path_of(ckpt) == Path("runs/s4/last.trt.ep")
    assert sidecar_path_of(tensorrt_path_of(ckpt)) == Path("runs/s4/last.trt.ep.json")
