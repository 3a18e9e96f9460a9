from dataclasses import replace

import numpy as np
import pytest
import torch

from model import heatmaps
from model.checkpoint import load_inference, read_checkpoint, save_inference_checkpoint
from model.geometry import Box, crop_camera, normalise_pose, project
from model.hand import SCALE_BONE
from model.inference import build_hand_pose_net
from model.net_config import NetConfig
from train.procedural.__main__ import main as cli_main
from train.procedural.calibrate import full_frame, hand_errors
from train.procedural.crops import heatmaps_batch
from train.procedural.noise import DetectorNoiseConfig, perturb_frame_keypoints
from train.procedural.samples import ProceduralConfig, SampleGenerator, make_batch
from train.procedural.scene import SceneConfig, random_rotations, sample_hands
from train.procedural.trainer import (
    ProceduralTrainConfig,
    elbo_terms,
    freeze_all_but_heat,
    run,
    to_tensors,
    train_step,
)

QUIET = DetectorNoiseConfig(joint_sigma=(0.0,) * 21, offset=0.0, scale=0.0, swap_prob=0.0,
                            drop_prob=0.0, outlier_prob=0.0, level=(1.0, 1.0))


def test_crop_cameras_and_keypoints_agree_with_model_geometry():
    b = make_batch(6, ProceduralConfig(noise=QUIET), np.random.default_rng(0))
    np.testing.assert_allclose(b["uv_noisy"], b["uv_true"], atol=1e-9)
    for i in range(6):
        cam = crop_camera(b["K"][i], Box(*b["box"][i]), 128)
        np.testing.assert_allclose(b["R"][i], cam.R, atol=1e-12)
        np.testing.assert_allclose(b["H"][i], cam.H, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(b["K_virtual"][i], cam.K_virtual, atol=1e-9)
        uv_3d = project(cam.to_virtual(b["joints_m"][i]), cam.K_virtual)  # (21, 2)
        np.testing.assert_allclose(b["uv_crop"][i], uv_3d, atol=1e-6)
        np.testing.assert_allclose(project(b["joints_m"][i], b["K"][i]), b["uv_true"][i],
                                   atol=1e-9)
        # the box holds the keypoints with the configured margin (1.4 to 1.5)
        extent = np.ptp(b["uv_true"][i], axis=0).max()
        assert 1.4 - 1e-9 <= b["box"][i, 2] / extent <= 1.5 + 1e-9


def test_heat_maps_are_the_engines_and_targets_are_normalised():
    c = ProceduralConfig(noise=replace(DetectorNoiseConfig(), drop_prob=0.0))
    b = make_batch(5, c, np.random.default_rng(1))
    for i in range(5):
        ref = heatmaps.landmarks_to_heatmaps(b["uv_noisy"][i], b["H"][i], 128, 64, sigma=2.0)
        np.testing.assert_allclose(b["heat"][i], ref, atol=1e-5)
        cam = crop_camera(b["K"][i], Box(*b["box"][i]), 128)
        pose, _, scale = normalise_pose(cam.to_virtual(b["joints_m"][i]))
        np.testing.assert_allclose(b["pose"][i], pose, atol=1e-5)
        assert b["scale_m"][i] == pytest.approx(scale)
    bone = np.linalg.norm(b["pose"][:, SCALE_BONE[1]] - b["pose"][:, SCALE_BONE[0]], axis=-1)
    np.testing.assert_allclose(bone, 1.0, atol=1e-5)
    np.testing.assert_allclose(b["pose"][:, SCALE_BONE[0]], 0.0, atol=1e-6)
    assert b["heat"].dtype == np.float32 and b["heat"].shape == (5, 21, 64, 64)


def test_heatmaps_batch_matches_encode_and_zeroes_dropped_joints():
    uv = np.random.default_rng(2).uniform(-10, 140, (3, 21, 2))
    kept = np.ones((3, 21), bool)
    kept[1, 4] = False
    h = heatmaps_batch(uv, 128, 32, 1.5, kept)
    for i in range(3):
        ref = heatmaps.encode(uv[i], 128, 32, 1.5)
        ref[~kept[i]] = 0.0
        np.testing.assert_allclose(h[i], ref, atol=1e-6)


def test_same_seed_same_batch_other_seed_other_batch():
    a = SampleGenerator(ProceduralConfig(), seed=3).batch(4)
    b = SampleGenerator(ProceduralConfig(), seed=3).batch(4)
    c = SampleGenerator(ProceduralConfig(), seed=4).batch(4)
    # the same seed, the same computation: equal up to rounding (a tolerance, not bit equality)
    np.testing.assert_allclose(a["heat"], b["heat"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(a["pose"], b["pose"], rtol=0, atol=1e-9)
    assert not np.array_equal(a["pose"], c["pose"])
    g = SampleGenerator(ProceduralConfig(), seed=3)
    g.batch(4)
    second = SampleGenerator(ProceduralConfig(), seed=3).batch(4, 1)["pose"]
    np.testing.assert_allclose(g.batch(4)["pose"], second, rtol=0, atol=1e-9)


def test_hands_lie_in_front_of_the_camera_on_both_sides():
    h = sample_hands(400, SceneConfig(), np.random.default_rng(5))
    assert (h.joints_m[:, :, 2] >= SceneConfig().min_z_m - 1e-9).all()
    assert 0.35 < h.side.mean() < 0.65
    w, ht = h.image_size[:, 0], h.image_size[:, 1]
    centre = 0.5 * (h.uv_px[:, 0] + h.uv_px[:, 9])  # the palm centre is in the frame
    assert ((centre[:, 0] > -1) & (centre[:, 0] < w) & (centre[:, 1] > -1)
            & (centre[:, 1] < ht)).mean() > 0.99
    R = random_rotations(50, np.random.default_rng(0))
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


def test_noise_rates_and_sigmas_match_the_config():
    rng = np.random.default_rng(6)
    uv = sample_hands(3000, SceneConfig(), rng).uv_px
    side = 1.4 * np.ptp(uv, axis=1).max(axis=1)
    sig = tuple(np.linspace(0.01, 0.03, 21))
    c = replace(QUIET, joint_sigma=sig)
    noisy, kept = perturb_frame_keypoints(uv, c, rng)
    d = (noisy - uv) / side[:, None, None]  # (B, 21, 2)
    np.testing.assert_allclose(d.std(axis=(0, 2)), sig, rtol=0.08)
    assert kept.all()
    c = replace(QUIET, drop_prob=0.1, swap_prob=0.2)
    noisy, kept = perturb_frame_keypoints(uv, c, rng)
    assert (1 - kept.mean()) == pytest.approx(0.1, abs=0.01)
    swapped = np.any(np.abs(noisy - uv) > 1e-6, axis=(1, 2))
    assert swapped.mean() == pytest.approx(0.2, abs=0.03)


def test_calibration_recovers_a_known_shift_and_swap():
    rng = np.random.default_rng(7)
    gt = rng.uniform(100, 300, (21, 2))
    side = 1.4 * np.ptp(gt, axis=0).max()
    det = gt + np.array([0.02, -0.01]) * side
    r = hand_errors(det, gt, np.ones(21, bool))
    np.testing.assert_allclose(r["offset"], [0.02, -0.01], atol=1e-9)
    np.testing.assert_allclose(r["residual"], 0.0, atol=1e-9)
    assert r["swap"] == -1 and r["log_scale"] == pytest.approx(0.0, abs=1e-9)
    sw = det.copy()
    sw[9:13], sw[13:17] = det[13:17], det[9:13]  # middle <-> ring labels
    assert hand_errors(sw, gt, np.ones(21, bool))["swap"] == 1
    img = np.zeros((4, 4, 3), np.uint8)
    img[1, 2] = 255
    frame, A = full_frame(img, (10, 20, 8, 8), (32, 40))
    u, v = A @ np.array([2.0, 1.0, 1.0])
    assert frame[int(round(v)), int(round(u))].max() > 0


def _tiny():
    net_cfg = NetConfig(latent_dim=8, crop_size=32, cloud_points=8, heatmap_size=16,
                        pose_hidden=16, heat_enc_channels=4)
    data = ProceduralConfig(crop_size=32, heatmap_size=16, sigma_px=2.0)
    return net_cfg, data


def test_training_steps_lower_the_loss_of_the_heat_encoder_only():
    net_cfg, data = _tiny()
    net = build_hand_pose_net(net_cfg, with_heat=True, seed=0)
    params = freeze_all_but_heat(net)
    batch = to_tensors(SampleGenerator(data, seed=0).batch(32))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(0)
    opt = torch.optim.Adam(params, lr=1e-2)
    with torch.no_grad():
        l0 = float(elbo_terms(net, batch, 1e-3, sample=False)["total"])
    for _ in range(10):
        train_step(net, batch, opt, 1e-3)
    with torch.no_grad():
        l1 = float(elbo_terms(net, batch, 1e-3, sample=False)["total"])
    assert l1 < l0
    after = net.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.startswith("heat_encoder.") for k in changed)


def test_run_writes_a_loadable_checkpoint_and_resumes(tmp_path):
    net_cfg, data = _tiny()
    src = save_inference_checkpoint(tmp_path / "src.pt",
                                    build_hand_pose_net(net_cfg, with_heat=True, seed=1),
                                    strategy="s4-2d")
    cfg = ProceduralTrainConfig(source=str(src), out=str(tmp_path / "run"), samples=16,
                                batch_size=8, val_samples=8, progress=False, data=data)
    run(cfg, log=lambda *_: None)
    last = tmp_path / "run" / "last.pt"
    ckpt = read_checkpoint(last)
    source = read_checkpoint(src)
    assert set(source) <= set(ckpt)
    assert ckpt["procedural"]["samples_seen"] == 16
    assert ckpt["procedural"]["data_config"]["noise"]["joint_sigma"][0] > 0
    for k, v in source["state_dict"].items():
        if not k.startswith("heat_encoder."):
            assert torch.equal(ckpt["state_dict"][k], v), k
    net, meta = load_inference(last)
    assert meta["has_heat_encoder"]
    run(replace(cfg, samples=32, resume=True), log=lambda *_: None)
    assert read_checkpoint(last)["procedural"]["samples_seen"] == 32


def test_cli_help_and_bench(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--help"])
    assert e.value.code == 0
    assert "--resume" in capsys.readouterr().out
    assert cli_main(["bench", "--batches", "1", "--batch-size", "4"]) == 0
    assert "samples/s" in capsys.readouterr().out
