"""The coordinate 2D expert trained with its pose decoder on procedural hands (joint.py), and the
RGB expert and cloud decoder aligned to it on renders (align.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from model.checkpoint import load_inference, save_inference_checkpoint
from model.decoders import PoseDecoder
from model.inference import build_hand_pose_net
from model.keypoint_encoder import KeypointEncoder
from model.net_config import NetConfig
from train.data.noise2d import Noise2DConfig
from train.procedural.align import AlignConfig
from train.procedural.align import run as align_run
from train.procedural.joint import JointTrainConfig, elbo_terms, read_run, run, to_tensors
from train.procedural.samples import ProceduralConfig, make_keypoint_batch

DATA = ProceduralConfig(crop_size=32, heatmap_size=16, sigma_px=2.0)


def _joint_cfg(tmp_path, **kw) -> JointTrainConfig:
    base = JointTrainConfig(out=str(tmp_path / "run"), samples=64, batch_size=16, val_samples=16,
                            latent_dim=8, hidden=16, pose_hidden=16, workers=0, progress=False,
                            data=DATA)
    return replace(base, **kw)


def test_keypoint_batches_are_right_hands_in_the_crop():
    rng = np.random.default_rng(0)
    b = make_keypoint_batch(64, DATA, rng, Noise2DConfig(), p_crop_noise=0.5)
    assert b["features"].shape == (64, 21, 3) and b["pose"].shape == (64, 21, 3)
    assert set(np.unique(b["side"])) == {0, 1}
    # canonical side: left hands are their mirror images (x -> -x), right hands as they are
    flat = make_keypoint_batch(64, DATA, np.random.default_rng(0), Noise2DConfig(), 0.5,
                               canonical=False)
    left = flat["side"] == 0
    np.testing.assert_allclose(flat["pose"][left, :, 0], -b["pose"][left, :, 0], atol=1e-6)
    np.testing.assert_allclose(flat["pose"][~left], b["pose"][~left], atol=1e-6)
    np.testing.assert_allclose(flat["uv_crop"][left, :, 0], 31 - b["uv_crop"][left, :, 0],
                               atol=1e-9)
    assert np.all(b["features"][..., 2] <= 1.0) and np.all(np.isfinite(b["features"]))


def test_training_steps_lower_the_loss():
    nc = NetConfig(latent_dim=8, crop_size=32, heatmap_size=16, pose_hidden=16,
                   heat_expert="coords", keypoint_hidden=16)
    torch.manual_seed(0)
    enc, dec = KeypointEncoder(nc), PoseDecoder(nc)
    batch = to_tensors(make_keypoint_batch(64, DATA, np.random.default_rng(1)))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=3e-3)
    with torch.no_grad():
        l0 = float(elbo_terms(enc, dec, batch, 1e-3, sample=False)["total"])
    for _ in range(100):
        t = elbo_terms(enc, dec, batch, 1e-3)
        opt.zero_grad()
        t["total"].backward()
        opt.step()
    with torch.no_grad():
        assert float(elbo_terms(enc, dec, batch, 1e-3, sample=False)["total"]) < 0.8 * l0


def test_a_run_saves_and_resumes(tmp_path):
    cfg = _joint_cfg(tmp_path)
    out = run(cfg, log=lambda *_: None)
    saved = read_run(out["checkpoint"])
    assert saved["progress"]["seen"] == 64 and saved["net_config"]["canonical_side"]
    run(replace(cfg, samples=96, resume=True), log=lambda *_: None)
    assert read_run(out["checkpoint"])["progress"]["seen"] == 96
    with pytest.raises(ValueError, match="train.procedural joint"):
        torch.save({"format": "other"}, tmp_path / "x.pt")
        read_run(tmp_path / "x.pt")


@pytest.fixture(scope="module")
def tiny_renders(tmp_path_factory):
    from train.synth.cli import main as synth_main

    root = tmp_path_factory.mktemp("renders")
    assert synth_main(["--out", str(root), "--train", "12", "--size", "96", "--seed", "3",
                       "--workers", "1", "--no-sensor"]) == 0
    return root


SRC_CFG = NetConfig(latent_dim=8, crop_size=32, cloud_points=16, heatmap_size=16, pose_hidden=16,
                    heat_enc_channels=4, fold_hidden=16)


def _align_cfg(tmp_path, renders, **kw) -> AlignConfig:
    """A tiny joint run and source network, and the align config that joins them."""
    joint = run(_joint_cfg(tmp_path), log=lambda *_: None)["checkpoint"]
    src = save_inference_checkpoint(
        tmp_path / "src.pt", build_hand_pose_net(SRC_CFG, with_cloud=True, with_heat=True),
        strategy="s4-2d")
    base = AlignConfig(joint=joint, source=str(src), data=f"synth:{renders}",
                       out=str(tmp_path / "aligned.pt"), passes=1, epochs=2, cloud_steps=3,
                       batch_size=4, val_share=0.25, threads=1, progress=False)
    return replace(base, **kw)


def test_align_writes_a_shippable_checkpoint(tmp_path, tiny_renders):
    cfg = _align_cfg(tmp_path, tiny_renders)
    joint = cfg.joint
    res = align_run(cfg, log=lambda *_: None)
    assert set(res["val"]) >= {"rgb", "2d", "rgb+2d"}
    net, meta = load_inference(res["checkpoint"], with_cloud=True)
    assert meta["has_heat_encoder"] and meta["config"]["canonical_side"]
    assert isinstance(net.heat_encoder, KeypointEncoder)
    # the 2D expert and the pose decoder are the joint run's (float16 as shipped)
    saved = read_run(joint)
    for k, v in saved["pose_decoder"].items():
        torch.testing.assert_close(net.pose_decoder.state_dict()[k], v.half().float())
    heat = torch.zeros(2, 21, 16, 16)
    z, pose, cloud = net(torch.rand(2, 3, 32, 32), heat)
    assert pose.shape == (2, 21, 3) and cloud.shape == (2, 16, 3)


def test_align_takes_the_2d_expert_of_an_aligned_checkpoint(tmp_path, tiny_renders):
    # the shipped model's case: a retrained RGB trunk realigned to the 2D expert it ships with
    base = _align_cfg(tmp_path, tiny_renders, out=str(tmp_path / "a1.pt"), epochs=1,
                      cloud_steps=0)
    first = align_run(base, log=lambda *_: None)["checkpoint"]
    again = align_run(replace(base, joint=first, out=str(tmp_path / "a2.pt")),
                      log=lambda *_: None)["checkpoint"]
    a, _ = load_inference(first)
    b, meta = load_inference(again)
    for part in ("pose_decoder", "heat_encoder"):
        for (k, x), y in zip(getattr(a, part).state_dict().items(),
                             getattr(b, part).state_dict().values()):
            torch.testing.assert_close(x, y, msg=f"{part}.{k}")
    ckpt = torch.load(again, map_location="cpu", weights_only=True)
    assert ckpt["procedural"]["joint_samples"] == 64  # the joint run's, carried along
    with pytest.raises(ValueError, match="no coordinate 2D expert"):
        plain = save_inference_checkpoint(tmp_path / "plain.pt", build_hand_pose_net(SRC_CFG))
        align_run(replace(base, joint=str(plain)), log=lambda *_: None)


def test_cli_times_the_keypoint_generator_and_documents_joint_and_align(capsys):
    from train.procedural.__main__ import main

    assert main(["bench", "--keypoints", "--batches", "1", "--batch-size", "8"]) == 0
    assert "keypoint features" in capsys.readouterr().out
    for command, needle in (("joint", "--p-crop-noise"), ("align", "--rgb-loss-weight")):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0 and needle in capsys.readouterr().out


def test_align_refuses_a_joint_run_of_other_sizes(tmp_path):
    joint = run(_joint_cfg(tmp_path), log=lambda *_: None)["checkpoint"]
    src = save_inference_checkpoint(
        tmp_path / "src.pt", build_hand_pose_net(NetConfig(latent_dim=8, crop_size=64,
                                                           heatmap_size=16), with_heat=True))
    with pytest.raises(ValueError, match="--crop-size 64"):
        align_run(AlignConfig(joint=joint, source=str(src), progress=False))


def test_the_heat_map_trainer_refuses_a_coordinate_expert(tmp_path, capsys):
    from train.procedural.__main__ import main

    cfg = NetConfig(latent_dim=8, crop_size=32, heatmap_size=16, heat_expert="coords",
                    keypoint_hidden=16)
    src = save_inference_checkpoint(tmp_path / "k.pt", build_hand_pose_net(cfg, with_heat=True))
    assert main(["train", "--source", str(src), "--out", str(tmp_path / "r"),
                 "--samples", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "joint" in err[0]
