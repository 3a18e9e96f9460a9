"""RHD loader and the training sample: contract, augmentation, bad input."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
import torch

from model.geometry import project, transform_points
from train.data import SampleConfig, open_dataset, rhd_format
from train.data.rhd import hand_mask
from train.synth.render import SynthConfig
from train.synth.writer import write_dataset

N = 4


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("rhd")
    write_dataset(r, N, 2, SynthConfig(size=160), seed=5, workers=1, progress=False)
    return r


@pytest.fixture()
def copy_root(root, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


EXPECTED = {
    "rgb": ((3, 64, 64), torch.float32), "pose": ((21, 3), torch.float32),
    "cloud": ((100, 3), torch.float32), "has_cloud": ((), torch.bool),
    "heat": ((21, 64, 64), torch.float32), "uv_crop": ((21, 2), torch.float32),
    "vis": ((21,), torch.float32), "K": ((3, 3), torch.float32),
    "K_virtual": ((3, 3), torch.float32), "R": ((3, 3), torch.float32),
    "root_m": ((3,), torch.float32), "scale_m": ((), torch.float32),
    "side": ((), torch.int64), "index": ((), torch.int64),
}


def test_sample_contract_and_collate(root):
    ds = open_dataset(f"rhd:{root}", "training", SampleConfig(crop_size=64, cloud_points=100))
    assert ds.has_depth and len(ds) == N and ds.augment
    assert not open_dataset(f"rhd:{root}", "evaluation", SampleConfig()).augment
    s = ds[1]
    assert set(s) == set(EXPECTED)
    for k, (shape, dtype) in EXPECTED.items():
        assert tuple(s[k].shape) == shape and s[k].dtype == dtype, k
    assert 0.0 <= float(s["rgb"].min()) and float(s["rgb"].max()) <= 1.0
    assert int(s["index"]) == 1
    # pose is root-relative and scale-normalised: root at 0, middle MCP->PIP of length 1
    assert torch.allclose(s["pose"][9], torch.zeros(3), atol=1e-6)
    assert float(torch.linalg.norm(s["pose"][10] - s["pose"][9])) == pytest.approx(1.0, abs=1e-5)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["rgb"].shape == (2, 3, 64, 64) and batch["has_cloud"].shape == (2,)


def test_undo_normalisation_gives_original_joints(root):
    ds = open_dataset(f"synth:{root}", "training", SampleConfig(crop_size=64))
    for i in range(N):
        s, raw = ds[i], ds.raw(i)
        pose_v = s["pose"].double() * s["scale_m"].double() + s["root_m"].double()
        back = pose_v @ s["R"].double().T
        np.testing.assert_allclose(back.numpy(), raw.joints_m, atol=1e-5)


@pytest.mark.parametrize("crop", [64, 128])
def test_augmentation_keeps_image_and_labels_in_agreement(root, crop):
    ds = open_dataset(f"synth:{root}", "training", SampleConfig(crop_size=crop, augment=True))
    rolls = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        for i in range(N):
            s, raw = ds[i], ds.raw(i)
            K, Kv, R = (s[k].double().numpy() for k in ("K", "K_virtual", "R"))
            assert np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.linalg.det(R) > 0
            joints_v = s["pose"].double().numpy() * float(s["scale_m"]) + s["root_m"].numpy()
            uv_crop = s["uv_crop"].double().numpy()
            # rotated 3D joints projected by the crop camera == the crop keypoints
            np.testing.assert_allclose(project(joints_v, Kv), uv_crop, atol=1e-3)
            # the original 2D annotation moved by the crop homography == the crop keypoints
            H = Kv @ R.T @ np.linalg.inv(K)
            np.testing.assert_allclose(transform_points(H, raw.uv_px), uv_crop, atol=1e-2)
            # the image moved with them: visible crop keypoints lie on the warped hand mask
            mask = rhd_format.read_mask_png(rhd_format.image_path(root, "training", "mask", i))
            warped = cv2.warpPerspective(hand_mask(mask, raw.side).astype(np.uint8), H,
                                         (crop, crop), flags=cv2.INTER_NEAREST)
            ys, xs = np.nonzero(warped)
            for j in np.nonzero(s["vis"].numpy() > 0.5)[0]:
                d = np.hypot(xs - uv_crop[j, 0], ys - uv_crop[j, 1]).min()
                assert d <= 2.5, f"sample {i} joint {j}: {d:.1f} px off the warped hand"
            # the crop image is the colour image under the same homography (the HSV value
            # channel is unchanged by the hue augmentation)
            color = rhd_format.read_color_png(rhd_format.image_path(root, "training", "color", i))
            ref = cv2.warpPerspective(color, H, (crop, crop), flags=cv2.INTER_LINEAR)
            got = (s["rgb"].numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
            diff = np.abs(got.max(axis=2).astype(int) - ref.max(axis=2).astype(int))
            assert np.median(diff) <= 1 and np.mean(diff) < 3
            rolls.append(np.arctan2(R[1, 0], R[0, 0]))
    assert np.ptp(rolls) > 1.0  # the roll augmentation actually varies


def test_cloud_sampled_with_replacement_when_few_points(root):
    ds = open_dataset(f"synth:{root}", "evaluation",
                      SampleConfig(crop_size=64, cloud_points=50000, augment=False))
    s = ds[0]
    assert s["cloud"].shape == (50000, 3) and bool(s["has_cloud"])
    assert torch.unique(s["cloud"], dim=0).shape[0] < 50000


def test_bad_specs_and_roots(root, tmp_path):
    with pytest.raises(ValueError, match="rhd:PATH"):
        open_dataset("foo:bar", "training", SampleConfig())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_dataset(f"rhd:{tmp_path / 'nope'}", "training", SampleConfig())
    with pytest.raises(FileNotFoundError, match="training"):
        open_dataset(f"rhd:{tmp_path}", "training", SampleConfig())
    with pytest.raises(ValueError, match="split"):
        open_dataset(f"rhd:{root}", "train", SampleConfig())


def test_missing_image_is_named(copy_root):
    victim = rhd_format.image_path(copy_root, "training", "color", 2)
    victim.unlink()
    with pytest.raises(FileNotFoundError, match="00002.png"):
        open_dataset(f"rhd:{copy_root}", "training", SampleConfig())


def test_wrong_annotation_shape_is_named(copy_root):
    path = rhd_format.anno_path(copy_root, "training")
    with open(path, "rb") as fh:
        annos = pickle.load(fh)
    annos[1]["xyz"] = annos[1]["xyz"][:21]
    with open(path, "wb") as fh:
        pickle.dump(annos, fh)
    with pytest.raises(ValueError, match=r"anno_training.pickle.*'xyz'.*\(42, 3\)"):
        open_dataset(f"rhd:{copy_root}", "training", SampleConfig())


def test_corrupt_annotation_file(copy_root):
    rhd_format.anno_path(copy_root, "training").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="cannot unpickle"):
        open_dataset(f"rhd:{copy_root}", "training", SampleConfig())


def test_wrong_depth_type_is_named(copy_root):
    path = rhd_format.image_path(copy_root, "training", "depth", 0)
    cv2.imwrite(str(path), np.full((160, 160), 1000, np.uint16))
    ds = open_dataset(f"rhd:{copy_root}", "training", SampleConfig(crop_size=32))
    with pytest.raises(ValueError, match=r"00000.png.*8-bit RGB"):
        ds[0]


def test_depth_codec_round_trip():
    d = np.random.default_rng(0).uniform(0, 5, size=(7, 9))
    back = rhd_format.decode_depth(rhd_format.encode_depth(d))
    np.testing.assert_allclose(back, d, atol=5.0 / 65535 / 2 + 1e-6)


def test_choose_hand_never_picks_an_absent_hand_slot():
    """A fully occluded rendered hand (no mask pixels, no visible points) must still win over the
    empty slot that handtrack-synth writes for the hand it did not render."""
    from model.hand import LEFT, RIGHT
    from train.data.rhd import choose_hand

    mask = np.zeros((8, 8), np.uint8)
    uv_vis = np.zeros((42, 3))
    xyz = np.zeros((42, 3))
    xyz[:21] = 0.5  # only the left slot holds a hand
    assert choose_hand(mask, uv_vis, xyz) == LEFT
    xyz = np.zeros((42, 3))
    xyz[21:] = 0.5
    assert choose_hand(mask, uv_vis, xyz) == RIGHT


class _Hostile:
    """Unpickling this runs `action(*args)`, e.g. os.system('touch X') or open(X, 'w')."""

    def __init__(self, action, *args):
        self.action, self.args = action, args

    def __reduce__(self):
        return self.action, self.args


def _hostile_actions(victim):
    import builtins
    import os
    import pathlib

    return {"os.system": (os.system, f"touch {victim}"), "builtins.open": (builtins.open,
            str(victim), "w"), "pathlib.touch": (pathlib.Path.touch, pathlib.Path(victim))}


@pytest.mark.parametrize("action", ["os.system", "builtins.open", "pathlib.touch"])
def test_hostile_annotation_pickle_runs_nothing(copy_root, tmp_path, action):
    victim = tmp_path / "pwned"
    path = rhd_format.anno_path(copy_root, "training")
    with open(path, "rb") as fh:
        annos = pickle.load(fh)
    annos[1]["K"] = _Hostile(*_hostile_actions(victim)[action])  # hidden inside an entry
    with open(path, "wb") as fh:
        pickle.dump(annos, fh, protocol=2)
    with pytest.raises(rhd_format.UnsafePickleError, match=r"refusing to load .*anno_training"):
        open_dataset(f"rhd:{copy_root}", "training", SampleConfig())
    assert not victim.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_annotation_pickles_of_every_protocol_still_load(copy_root, protocol):
    """Arrays, numpy scalars and bytes pickle through numpy/_codecs globals, which are allowed."""
    path = rhd_format.anno_path(copy_root, "training")
    annos = rhd_format.load_annotations(path)
    with open(path, "wb") as fh:
        pickle.dump({k: {**v, "extra": (np.float32(1.5), b"\xff", [np.int64(2)])}
                     for k, v in annos.items()}, fh, protocol=protocol)
    back = rhd_format.load_annotations(path)
    assert back.keys() == annos.keys()
    for k in annos:
        for key in ("xyz", "uv_vis", "K"):
            np.testing.assert_array_equal(back[k][key], annos[k][key])
    assert len(open_dataset(f"rhd:{copy_root}", "training", SampleConfig(crop_size=32))) == N


def test_cli_refuses_a_hostile_annotation_pickle(copy_root, tmp_path, capsys):
    from train.cli_train import main as train_main

    victim = tmp_path / "pwned"
    path = rhd_format.anno_path(copy_root, "training")
    with open(path, "wb") as fh:
        pickle.dump({0: _Hostile(*_hostile_actions(victim)["os.system"])}, fh)
    out = tmp_path / "run"
    code = train_main(["--strategy", "s1", "--data", f"rhd:{copy_root}", "--out", str(out),
                       "--no-progress", "--device", "cpu", "--crop-size", "32", "--steps", "1",
                       "--batch-size", "2", "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "posix.system" in err and "refusing to load" in err
    assert not victim.exists() and not out.exists()
