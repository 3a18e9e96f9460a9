"""Crop cache: samples made from the cached small frames equal the uncached ones; reuse,
staleness and corruption; pickling for DataLoader workers."""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from model.geometry import project
from train.data import SampleConfig, open_dataset, rhd_format
from train.data import cache as crop_cache
from train.data.cache import (
    CacheConfig,
    CachedDataset,
    build_cache,
    check_cache,
    ensure_cache,
    open_cached,
    read_manifest,
    shrink_raw,
)
from train.data.sample import Augmentation, RawSample, make_sample
from train.synth.render import LEGACY_STYLE, SynthConfig
from train.synth.writer import write_dataset

N = 4
CONFIG = dict(crop_size=64, cloud_points=256, heatmap_size=32)
GEOMETRY = ("pose", "uv_crop", "vis", "K", "K_virtual", "R", "root_m", "scale_m", "side",
            "index", "has_cloud")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("synth")
    # the earlier scene statistics: frames whose hand boxes the crop sizes below shrink and
    # enlarge
    write_dataset(r, N, 0, SynthConfig(size=160, **LEGACY_STYLE), seed=3, workers=1,
                  progress=False)
    return r


@pytest.fixture()
def copy_root(root, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns(".cache"))
    return dst


def assert_same_geometry(got: dict, ref: dict) -> None:
    for k in GEOMETRY:
        a, b = got[k].double().numpy(), ref[k].double().numpy()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=k)


def assert_same_image(got: torch.Tensor, ref: torch.Tensor) -> None:
    a, b = got.double().numpy().ravel(), ref.double().numpy().ravel()
    assert np.mean(np.abs(a - b)) < 0.03
    assert np.corrcoef(a, b)[0, 1] > 0.95


@pytest.mark.parametrize("augment", [False, True])
def test_cached_samples_equal_uncached(root, augment):
    config = SampleConfig(**CONFIG, augment=augment)
    ref = open_dataset(f"synth:{root}", "training", config)
    ds = open_cached(f"synth:{root}", "training", config, progress=False, workers=1)
    assert len(ds) == N and ds.has_depth and ds.augment == augment
    for epoch in (0, 1) if augment else (0,):
        ref.set_epoch(epoch)
        ds.set_epoch(epoch)
        for i in range(N):
            got, want = ds[i], ref[i]
            assert set(got) == set(want)
            for k in want:
                assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype, k
            assert_same_geometry(got, want)
            assert float((got["heat"] - want["heat"]).abs().max()) < 0.05
            assert_same_image(got["rgb"], want["rgb"])
            assert bool(want["has_cloud"])
            # the cached cloud is drawn from a subset of the same points: each point lies on
            # the source cloud (up to float16), and the centroids agree
            raw = ref.raw(i)
            R, root_m, scale = (want[k].double().numpy() for k in ("R", "root_m", "scale_m"))
            full = (raw.cloud_m.astype(np.float64) @ R - root_m) / scale  # (M, 3)
            pts = got["cloud"].double().numpy()
            nearest = np.sqrt(((pts[:, None] - full[None]) ** 2).sum(-1)).min(axis=1)
            assert nearest.max() < 5e-3
            centre = np.abs(pts.mean(0) - want["cloud"].double().numpy().mean(0))
            assert centre.max() < 0.3 * full.std(0).max()


@pytest.mark.parametrize("crop", [64, 160])  # the small frame shrinks / enlarges the frame
def test_small_frame_is_a_change_of_intrinsics(root, crop):
    config = SampleConfig(**{**CONFIG, "crop_size": crop})
    raw = open_dataset(f"synth:{root}", "training", config).raw(0)
    H, W = raw.rgb.shape[:2]
    ramp = np.zeros_like(raw.rgb)  # channel 0 = x, channel 1 = y of the pixel centre
    ramp[..., 0], ramp[..., 1] = np.arange(W)[None, :], np.arange(H)[:, None]
    raw = RawSample(ramp, raw.joints_m, raw.uv_px, raw.vis, raw.K, raw.side, raw.cloud_m)
    small, A = shrink_raw(raw, 0, config, CacheConfig())
    C = 2 * crop
    assert small.rgb.shape == (C, C, 3) and small.rgb.dtype == np.uint8
    assert (A[0, 0] < 1) == (crop == 64)
    # the joints project through the cache intrinsics onto the mapped keypoints
    np.testing.assert_allclose(project(small.joints_m, small.K),
                               project(raw.joints_m, raw.K) @ A[:, :2].T + A[:, 2], atol=1e-6)
    # cache pixel (u, v) holds the frame at A^-1 (u, v) (pixel centres on pixel centres)
    u, v = np.meshgrid(np.arange(C), np.arange(C))
    x, y = (u - A[0, 2]) / A[0, 0], (v - A[1, 2]) / A[1, 1]
    inside = (x > 4) & (x < W - 5) & (y > 4) & (y < H - 5)
    assert inside.mean() > 0.2
    assert np.abs(small.rgb[..., 0][inside] - x[inside]).max() < 1.0
    assert np.abs(small.rgb[..., 1][inside] - y[inside]).max() < 1.0
    assert np.all(small.rgb[(x < -2) | (y < -2) | (x > W + 1) | (y > H + 1)] == 0)


def test_tiny_hand_box_clamped_to_min_size(root):
    """A hand whose box is clamped to 16 px: the small frame keeps the frame's scale so that the
    crop box in it is clamped the same way."""
    config = SampleConfig(**CONFIG)
    raw = open_dataset(f"synth:{root}", "training", config).raw(1)
    c = raw.uv_px.mean(0)
    tiny = RawSample(raw.rgb, raw.joints_m, c + 0.04 * (raw.uv_px - c), raw.vis, raw.K,
                     raw.side, raw.cloud_m)
    small, A = shrink_raw(tiny, 1, config, CacheConfig())
    assert A[0, 0] == pytest.approx(1.0)
    for aug in (None, Augmentation(1.1, (5.0, -7.0), 0.8, 0.0)):
        want = make_sample(tiny, config, 1, aug, np.random.default_rng(0))
        got = make_sample(small, config, 1, aug, np.random.default_rng(0))
        got["K"] = want["K"]
        assert_same_geometry(got, want)


def test_reused_and_rebuilt_when_the_source_changes(copy_root, capsys):
    spec, config = f"synth:{copy_root}", SampleConfig(**CONFIG)
    folder = ensure_cache(spec, "training", config, progress=False, workers=1)
    assert folder == copy_root / ".cache" / "crops-training-64-m1.5-p256"
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    capsys.readouterr()
    assert ensure_cache(spec, "training", config, progress=False, workers=1) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert capsys.readouterr().err == ""
    anno = rhd_format.anno_path(copy_root, "training")
    st = anno.stat()
    os.utime(anno, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert ensure_cache(spec, "training", config, progress=False, workers=1) == folder
    assert "source data set changed" in capsys.readouterr().err
    assert read_manifest(folder)["source"]["anno_mtime_ns"] == st.st_mtime_ns + 10**9
    assert not list(folder.parent.glob("*.tmp-*")) and not list(folder.parent.glob("*.old-*"))


@pytest.mark.parametrize("damage", ["truncate_rgb", "garble_manifest", "drop_meta"])
def test_corrupt_cache_is_rebuilt(copy_root, capsys, damage):
    spec, config = f"synth:{copy_root}", SampleConfig(**CONFIG)
    folder = ensure_cache(spec, "training", config, progress=False, workers=1)
    size = (folder / "rgb.u8").stat().st_size
    if damage == "truncate_rgb":
        os.truncate(folder / "rgb.u8", size // 2)
    elif damage == "garble_manifest":
        (folder / "manifest.json").write_text("{not json")
    else:
        (folder / "meta.npz").unlink()
    with pytest.raises(FileNotFoundError, match="not a usable crop cache"):
        CachedDataset(folder, "training", config)
    capsys.readouterr()
    ds = open_cached(spec, "training", config, progress=False, workers=1)
    assert "rebuilding" in capsys.readouterr().err
    assert check_cache(folder) is None and (folder / "rgb.u8").stat().st_size == size
    assert ds.raw(N - 1).rgb.shape == (128, 128, 3)


def test_read_only_root_uses_the_home_folder(copy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(crop_cache, "_writable", lambda p: not str(p).startswith(str(copy_root)))
    folder = ensure_cache(f"synth:{copy_root}", "training", SampleConfig(**CONFIG),
                          progress=False, workers=1)
    assert folder.parent == tmp_path / "home" / ".cache" / "handtrack"
    assert folder.name.endswith("-crops-training-64-m1.5-p256")
    assert not (copy_root / ".cache").exists()


def test_pickles_and_loads_in_a_dataloader_worker(root):
    config = SampleConfig(**CONFIG)
    ds = open_cached(f"synth:{root}", "training", config, progress=False, workers=1)
    first = ds[0]  # opens the memory maps here; the pickled copy must not carry them
    state = pickle.dumps(ds)
    assert len(state) < 200_000
    clone = pickle.loads(state)
    assert clone._rgb is None
    assert_same_geometry(clone[0], first)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1)
    batch = next(iter(loader))
    assert batch["rgb"].shape == (2, 3, 64, 64)
    np.testing.assert_allclose(batch["pose"][0].numpy(), first["pose"].numpy(), atol=1e-6)


def test_parallel_build_equals_serial(root, tmp_path):
    config = SampleConfig(**CONFIG)
    ds = open_dataset(f"synth:{root}", "training", config)
    a = build_cache(ds, tmp_path / "serial", config, progress=False, workers=1)
    b = build_cache(ds, tmp_path / "pool", config, progress=False, workers=2)
    for name in ("rgb.u8", "cloud.f16"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = (crop_cache.load_meta(f, N) for f in (a, b))
    for k in ma:
        np.testing.assert_allclose(ma[k].astype(np.float64), mb[k].astype(np.float64),
                                   rtol=1e-12, err_msg=k)


def test_config_mismatch_is_refused(root):
    folder = ensure_cache(f"synth:{root}", "training", SampleConfig(**CONFIG), progress=False,
                          workers=1)
    with pytest.raises(ValueError, match="crop_size"):
        CachedDataset(folder, "training", SampleConfig(**{**CONFIG, "crop_size": 32}))
def test_a_cache_worker_ends_on_sigterm_whatever_handler_its_parent_had():
    """Workers are forked inside handtrack-train's stop-request handlers; an inherited Python
    SIGTERM handler would keep a worker blocked on the task queue alive through the pool's
    terminate(), and the pool's exit would hang."""
    import signal

    from train.data import cache

    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, lambda *a: None)
        signal.signal(signal.SIGINT, lambda *a: None)
        cache._init_worker(None, None, None)  # what each forked worker runs first
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        cache._worker = None
