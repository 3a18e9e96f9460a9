"""Checkpoint files: the weights hash, and one-line reasons for files that cannot be used."""

from __future__ import annotations

import pickle

import pytest
import torch

from model.checkpoint import (
    CheckpointError,
    checkpoint_weights_sha256,
    load_inference,
    read_checkpoint,
    save_checkpoint,
    save_inference_checkpoint,
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
