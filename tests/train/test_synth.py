"""The synthetic generator: determinism, RHD round trip, ground-truth consistency, sequences."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from model.geometry import project
from model.hand import from_rhd, to_rhd
from train.data import SampleConfig, open_dataset, rhd_format
from train.synth.cli import main as synth_main
from train.synth.render import SynthConfig, hand_pixels, render_sample
from train.synth.sequence import SequenceConfig, SequenceRenderer, write_sequence
from train.synth.writer import sample_seed, write_dataset

SIZE = 160
SEED = 7
N_TRAIN, N_EVAL = 6, 2
CFG = SynthConfig(size=SIZE)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, N_TRAIN, N_EVAL, CFG, seed=SEED, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def frames():
    return [render_sample(CFG, sample_seed(SEED, "training", i)) for i in range(N_TRAIN)]


def test_render_is_deterministic_per_seed():
    a = render_sample(CFG, (1, 0, 3))
    b = render_sample(CFG, (1, 0, 3))
    c = render_sample(CFG, (1, 0, 4))
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.joints_m, b.joints_m)
    assert not np.array_equal(a.rgb, c.rgb)


def test_rhd_round_trip_equals_memory(synth_root, frames):
    annos = rhd_format.load_annotations(rhd_format.anno_path(synth_root, "training"))
    assert sorted(annos) == list(range(N_TRAIN))
    ds = open_dataset(f"synth:{synth_root}", "training", SampleConfig(crop_size=64))
    for i, f in enumerate(frames):
        a = annos[i]
        sl = slice(21 * f.side, 21 * f.side + 21)
        other = slice(21 * (1 - f.side), 21 * (1 - f.side) + 21)
        np.testing.assert_allclose(from_rhd(a["xyz"][sl]), f.joints_m, atol=1e-6)
        np.testing.assert_allclose(from_rhd(a["uv_vis"][sl])[:, :2], f.uv_px, atol=1e-3)
        assert np.array_equal(from_rhd(a["uv_vis"][sl])[:, 2] > 0.5, f.vis)
        assert not a["xyz"][other].any() and not a["uv_vis"][other].any()
        np.testing.assert_allclose(a["K"], f.K, rtol=1e-6)
        color = rhd_format.read_color_png(rhd_format.image_path(synth_root, "training", "color", i))
        assert np.array_equal(color, f.rgb)
        mask = rhd_format.read_mask_png(rhd_format.image_path(synth_root, "training", "mask", i))
        assert np.array_equal(mask, f.mask)
        depth = rhd_format.read_depth_png(
            rhd_format.image_path(synth_root, "training", "depth", i))
        np.testing.assert_allclose(depth, f.depth_m, atol=5.0 / 65535 / 2 + 1e-6)
        raw = ds.raw(i)
        assert raw.side == f.side
        np.testing.assert_allclose(raw.joints_m, f.joints_m, atol=1e-6)


def test_ground_truth_consistency(frames):
    for f in frames:
        np.testing.assert_allclose(project(f.joints_m, f.K), f.uv_px, atol=1e-6)
        hand = hand_pixels(f.mask)
        assert hand.any(), "every sample should show its hand"
        assert f.vis.sum() >= 3
        ys, xs = np.nonzero(hand)
        for j in np.nonzero(f.vis)[0]:
            d = np.hypot(xs - f.uv_px[j, 0], ys - f.uv_px[j, 1]).min()
            assert d <= 2.0, f"visible joint {j} is {d:.1f} px from the hand mask"
        for tip in (4, 8, 12, 16, 20):
            if not f.vis[tip]:
                continue
            u, v = np.round(f.uv_px[tip]).astype(int)
            win = f.depth_m[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2]
            assert np.abs(win - f.joints_m[tip, 2]).min() < 0.02


def test_occlusion_lowers_visibility():
    # a frame where the mask covers fewer joints than are in the image must mark them hidden
    hidden = 0
    for i in range(12):
        f = render_sample(SynthConfig(size=SIZE, p_occluder=1.0), (3, 0, i))
        inside = np.all((f.uv_px >= 0) & (f.uv_px < SIZE - 1), axis=1)
        hidden += int((inside & ~f.vis).sum())
    assert hidden > 0


def test_cloud_lies_on_rendered_surface(synth_root):
    ds = open_dataset(f"synth:{synth_root}", "training",
                      SampleConfig(crop_size=96, cloud_points=256, augment=False))
    for i in range(3):
        s = ds[i]
        assert bool(s["has_cloud"])
        depth = rhd_format.read_depth_png(
            rhd_format.image_path(synth_root, "training", "depth", i))
        mask = rhd_format.read_mask_png(rhd_format.image_path(synth_root, "training", "mask", i))
        pts_v = s["cloud"].double().numpy() * float(s["scale_m"]) + s["root_m"].double().numpy()
        pts = pts_v @ s["R"].double().numpy().T  # original camera
        uv = project(pts, s["K"].double().numpy())
        ui, vi = np.round(uv).astype(int).T
        np.testing.assert_allclose(uv, np.stack([ui, vi], 1), atol=1e-3)
        np.testing.assert_allclose(pts[:, 2], depth[vi, ui], atol=1e-4)
        assert hand_pixels(mask)[vi, ui].all()


def test_write_is_independent_of_workers(tmp_path):
    write_dataset(tmp_path / "a", 4, 0, CFG, seed=11, workers=1, progress=False)
    write_dataset(tmp_path / "b", 4, 0, CFG, seed=11, workers=2, progress=False)
    for i in range(4):
        for kind in ("color", "depth", "mask"):
            pa = rhd_format.image_path(tmp_path / "a", "training", kind, i)
            pb = rhd_format.image_path(tmp_path / "b", "training", kind, i)
            assert pa.read_bytes() == pb.read_bytes()
    ta = rhd_format.load_annotations(rhd_format.anno_path(tmp_path / "a", "training"))
    tb = rhd_format.load_annotations(rhd_format.anno_path(tmp_path / "b", "training"))
    for i in range(4):
        for k in ("xyz", "uv_vis", "K"):
            assert np.array_equal(ta[i][k], tb[i][k])


def test_sequence_renderer_ground_truth():
    r = SequenceRenderer(SequenceConfig(width=160, height=120, motion="counting"))
    f0, f1 = r.render(0), r.render(15)
    assert f0.rgb.shape == (120, 160, 3) and f0.rgb.dtype == np.uint8
    assert f0.joints_m.shape == (21, 3) and f0.uv_px.shape == (21, 2) and f0.K.shape == (3, 3)
    np.testing.assert_allclose(project(f0.joints_m, f0.K), f0.uv_px, atol=1e-6)
    assert np.all(f0.uv_px >= 0) and np.all(f0.uv_px[:, 0] < 160) and np.all(f0.uv_px[:, 1] < 120)
    assert np.abs(f1.joints_m - f0.joints_m).max() > 0.01  # the hand moves
    assert np.array_equal(r.render(15).rgb, f1.rgb)  # deterministic
    assert hand_pixels(f0.mask).sum() > 200


def test_write_sequence(tmp_path):
    cfg = SequenceConfig(width=96, height=64, motion="waving")
    write_sequence(tmp_path, cfg, 5, progress=False)
    with open(tmp_path / "anno_sequence.pickle", "rb") as fh:
        annos = pickle.load(fh)
    assert sorted(annos) == list(range(5))
    f3 = SequenceRenderer(cfg).render(3)
    sl = slice(21 * f3.side, 21 * f3.side + 21)
    np.testing.assert_allclose(annos[3]["xyz"][sl], to_rhd(f3.joints_m), atol=1e-6)
    cap = cv2.VideoCapture(str(tmp_path / "sequence.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 5


def test_cli_writes_and_reports_errors(tmp_path, capsys):
    assert synth_main(["--out", str(tmp_path / "o"), "--train", "2", "--size", "64",
                       "--workers", "1"]) == 0
    ds = open_dataset(f"synth:{tmp_path / 'o'}", "training", SampleConfig(crop_size=32))
    assert len(ds) == 2
    assert synth_main(["--out", str(tmp_path / "o")]) == 2
    assert "error: nothing to do" in capsys.readouterr().err
    assert synth_main(["--out", str(tmp_path / "o"), "--train", "1",
                       "--backgrounds", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing" in err


def test_photo_backgrounds_are_used(tmp_path):
    img = np.zeros((50, 60, 3), np.uint8)
    img[:] = (0, 255, 0)  # pure green, never produced procedurally as a whole frame
    cv2.imwrite(str(tmp_path / "bg.png"), img)
    from train.synth.scene import list_images

    cfg = SynthConfig(size=64, backgrounds=tuple(list_images(tmp_path)), p_photo=1.0,
                      p_clutter=0.0, p_occluder=0.0, sensor=False)
    f = render_sample(cfg, 0)
    bg = f.mask == 0
    assert np.all(f.rgb[bg] == (0, 255, 0))


def test_cli_legacy_style_writes_the_legacy_frames(tmp_path):
    from train.synth.render import LEGACY_STYLE

    assert synth_main(["--out", str(tmp_path / "o"), "--eval", "1", "--size", "64",
                       "--workers", "1", "--seed", "4", "--legacy-style"]) == 0
    png = cv2.imread(str(rhd_format.image_path(tmp_path / "o", "evaluation", "color", 0)))
    want = render_sample(SynthConfig(size=64, **LEGACY_STYLE), sample_seed(4, "evaluation", 0))
    assert np.array_equal(cv2.cvtColor(png, cv2.COLOR_BGR2RGB), want.rgb)  # same process
