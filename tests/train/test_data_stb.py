"""STB loader on the tiny fixture in tests/fixtures/stb (real STB format, made by
tests/fixtures/make_stb_fixture.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from model.geometry import project
from model.hand import bone_lengths
from train.data import SampleConfig, open_dataset
from train.data.stb import (
    K_COLOR,
    STBDataset,
    STBOptions,
    color_to_depth,
    depth_to_color,
    segment_distance,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stb"
SEQS = ("B1Counting", "B1Random")


@pytest.fixture(scope="module")
def expected():
    data = np.load(FIXTURE / "expected.npz")
    return np.concatenate([data[s] for s in SEQS])  # (2, 21, 3) metres, colour camera


def test_joint_order_and_units(expected):
    ds = open_dataset(f"stb:{FIXTURE}", "evaluation", SampleConfig(crop_size=64))
    assert len(ds) == 2 and ds.has_depth and not ds.augment
    for i in range(2):
        raw = ds.raw(i)
        np.testing.assert_allclose(raw.joints_m, expected[i], atol=1e-6)
        bones = bone_lengths(raw.joints_m)
        assert np.all((bones > 0.015) & (bones < 0.12)), "bones must be in metres"
        assert raw.side == 0 and raw.rgb.shape == (480, 640, 3)
        np.testing.assert_allclose(raw.uv_px, project(expected[i], K_COLOR), atol=1e-6)
        # every joint's projection lies on the hand (the fixture's background is flat)
        bg = raw.rgb[0, 0].astype(int)
        for u, v in np.round(raw.uv_px).astype(int):
            win = raw.rgb[v - 2:v + 3, u - 2:u + 3].astype(int)
            assert np.abs(win - bg).sum(axis=-1).max() > 30


def test_cloud_from_depth_matches_colour_frame(expected):
    ds = open_dataset(f"stb:{FIXTURE}", "evaluation",
                      SampleConfig(crop_size=64, cloud_points=300))
    for i in range(2):
        raw = ds.raw(i)
        assert len(raw.cloud_m) > 500
        # the cloud (from the depth camera) lies on the hand seen by the colour camera
        j = expected[i]
        d = segment_distance(raw.cloud_m.astype(np.float64), j[[0, 0, 0, 0, 9, 5, 13]],
                             j[[5, 9, 13, 17, 12, 8, 16]]).min(axis=1)
        bones = segment_distance(raw.cloud_m.astype(np.float64), j[:-1], j[1:]).min(axis=1)
        assert np.median(np.minimum(d, bones)) < 0.015
        s = ds[i]
        assert bool(s["has_cloud"]) and s["cloud"].shape == (300, 3)
        # normalised cloud near the normalised pose (within 3 bone units of some joint)
        dist = np.linalg.norm(s["cloud"].numpy()[:, None] - s["pose"].numpy()[None], axis=-1)
        assert np.all(dist.min(axis=1) < 3.0)


def test_extrinsics_are_inverse():
    p = np.random.default_rng(0).normal(size=(5, 3)) * 100
    np.testing.assert_allclose(depth_to_color(color_to_depth(p)), p, atol=1e-9)


def test_missing_training_sequences_are_named():
    with pytest.raises(FileNotFoundError, match=r"B2Counting_SK\.mat"):
        open_dataset(f"stb:{FIXTURE}", "training", SampleConfig())


def test_bad_label_file(tmp_path):
    root = tmp_path / "stb"
    shutil.copytree(FIXTURE, root)
    scipy.io.savemat(str(root / "labels" / "B1Random_SK.mat"), {"handPara": np.zeros((21, 3))})
    with pytest.raises(ValueError, match=r"B1Random_SK\.mat.*\(3, 21, N\)"):
        STBDataset(root, "evaluation", SampleConfig())
    (root / "B1Counting" / "SK_depth_0.png").unlink()
    with pytest.raises(FileNotFoundError, match="SK_depth_0.png"):
        STBDataset(root, "evaluation", SampleConfig(), STBOptions(sequences=("B1Counting",)))
