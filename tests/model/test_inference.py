import io

import numpy as np
import pytest
import torch

from model.checkpoint import (
    FORMAT,
    CheckpointError,
    load_inference,
    save_checkpoint,
    save_inference_checkpoint,
)
from model.inference import FUSE_MODES, HandPoseNet, build_hand_pose_net, expert_weights
from model.net_config import NetConfig

TINY = NetConfig(crop_size=32, cloud_points=64, heatmap_size=16, fold_hidden=32,
                 heat_channels=32, respel_hidden=16, cloud_feature_dim=32)


@pytest.mark.parametrize("with_cloud", [False, True])
def test_forward_shapes(with_cloud):
    net = build_hand_pose_net(TINY, with_cloud=with_cloud)
    out = net(torch.rand(2, 3, 32, 32))
    assert len(out) == (3 if with_cloud else 2)
    assert out[0].shape == (2, 64) and out[1].shape == (2, 21, 3)
    if with_cloud:
        assert out[2].shape == (2, 64, 3)


def test_build_is_seeded():
    a = build_hand_pose_net(TINY, seed=3).state_dict()
    b = build_hand_pose_net(TINY, seed=3).state_dict()
    c = build_hand_pose_net(TINY, seed=4).state_dict()
    k = "pose_decoder.net.0.weight"
    assert torch.equal(a[k], b[k]) and not torch.equal(a[k], c[k])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_matches_torch_with_dynamic_batch():
    ort = pytest.importorskip("onnxruntime")
    net = build_hand_pose_net(TINY, with_cloud=True)
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.rand(1, 3, 32, 32),), buf, dynamo=False,
                      input_names=["rgb"], output_names=["z_mu", "pose", "cloud"],
                      dynamic_axes={k: {0: "batch"} for k in ("rgb", "z_mu", "pose", "cloud")})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x = torch.rand(3, 3, 32, 32)  # another batch size than at export
    with torch.no_grad():
        ref = [t.numpy() for t in net(x)]
    got = sess.run(None, {"rgb": x.numpy()})
    for r, g in zip(ref, got):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-3, atol=1e-4)


def test_checkpoint_round_trip(tmp_path):
    net = build_hand_pose_net(TINY, with_cloud=True, seed=1)
    path = save_inference_checkpoint(tmp_path / "a.pt", net, metrics={"epe_mm": 12.5})
    for with_cloud in (False, True):
        net2, meta = load_inference(path, with_cloud=with_cloud)
        assert meta["crop_size"] == 32 and meta["latent_dim"] == 64
        assert meta["cloud_points"] == 64 and meta["metrics"] == {"epe_mm": 12.5}
        assert meta["strategy"] == "untrained" and not net2.training
        x = torch.rand(2, 3, 32, 32)
        with torch.no_grad():
            a, b = net(x), net2(x)
        for t, u in zip(a, b):
            torch.testing.assert_close(t, u)


def test_load_without_cloud_decoder(tmp_path):
    path = save_inference_checkpoint(tmp_path / "a.pt", build_hand_pose_net(TINY))
    load_inference(path)
    with pytest.raises(CheckpointError, match="no point-cloud decoder"):
        load_inference(path, with_cloud=True)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_inference(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_inference(bad)
    other = tmp_path / "other.pt"
    torch.save({"model": {}}, other)
    with pytest.raises(CheckpointError, match="not a handtrack checkpoint"):
        load_inference(other)
    truncated = tmp_path / "trunc.pt"
    torch.save({"format": FORMAT, "strategy": "s1"}, truncated)
    with pytest.raises(CheckpointError, match="lacks the keys"):
        load_inference(truncated)
    wrong = tmp_path / "wrong.pt"
    state = build_hand_pose_net(TINY).state_dict()
    save_checkpoint(wrong, strategy="s1", config=NetConfig(crop_size=32, latent_dim=32),
                    data={"crop_size": 32}, state_dict=state)
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_inference(wrong)


def test_checkpoint_loads_with_weights_only(tmp_path):
    path = save_inference_checkpoint(tmp_path / "a.pt", HandPoseNet(TINY))
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == FORMAT and ckpt["config"]["crop_size"] == 32


# ---------------------------------------------------------------- the 2D expert
@pytest.mark.parametrize("heatmap_size", [8, 16, 64])
def test_heatmap_encoder_shapes(heatmap_size):
    from model.heatmap_encoder import HeatmapEncoder

    enc = HeatmapEncoder(NetConfig(heatmap_size=heatmap_size, latent_dim=12))
    mu, logvar = enc(torch.rand(3, 21, heatmap_size, heatmap_size))
    assert mu.shape == logvar.shape == (3, 12)


def test_fused_forward_is_the_weighted_product_of_experts():
    torch.manual_seed(0)
    net = build_hand_pose_net(TINY, with_heat=True)
    rgb, heat = torch.rand(4, 3, 32, 32), torch.rand(4, 21, 16, 16)
    with torch.no_grad():
        mx, lx = net.rgb_encoder(rgb)
        mh, lh = net.heat_encoder(heat)
        tx, th = torch.exp(-lx), torch.exp(-lh)
        w_h = torch.tensor([1.0, 0.0, 1.0, 0.0])
        w_x = torch.tensor([1.0, 1.0, 0.0, 0.0])
        z, pose = net(rgb, heat, w_h, w_x)
    # rgb+2d: GProd(prior, x, H); rgb: exactly the RGB mean; 2d: exactly the heat mean;
    # neither: the prior mean.
    torch.testing.assert_close(z[0], ((mx * tx + mh * th) / (1 + tx + th))[0])
    assert torch.equal(z[1], mx[1])
    assert torch.equal(z[2], mh[2])
    assert torch.equal(z[3], torch.zeros_like(z[3]))
    with torch.no_grad():
        z_rgb, pose_rgb = net(rgb)
    torch.testing.assert_close(pose[1], pose_rgb[1])
    # Default weights are 1: both experts.
    with torch.no_grad():
        torch.testing.assert_close(net(rgb, heat)[0], (mx * tx + mh * th) / (1 + tx + th))


def test_heat_input_without_encoder_is_an_error():
    net = build_hand_pose_net(TINY)
    with pytest.raises(ValueError, match="s4-2d"):
        net(torch.rand(1, 3, 32, 32), torch.rand(1, 21, 16, 16))


def test_checkpoint_with_and_without_heat_encoder(tmp_path):
    old = save_inference_checkpoint(tmp_path / "old.pt", build_hand_pose_net(TINY))
    net, meta = load_inference(old)
    assert net.heat_encoder is None and meta["has_heat_encoder"] is False
    ckpt = torch.load(old, weights_only=True)
    ckpt["config"].pop("heat_enc_channels")  # written before the field existed
    torch.save(ckpt, tmp_path / "older.pt")
    assert load_inference(tmp_path / "older.pt")[0].heat_encoder is None
    fused = build_hand_pose_net(TINY, with_heat=True)
    path = save_inference_checkpoint(tmp_path / "fused.pt", fused)
    net, meta = load_inference(path)
    assert meta["has_heat_encoder"] is True
    rgb, heat = torch.rand(2, 3, 32, 32), torch.rand(2, 21, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(rgb, heat)[1], fused(rgb, heat)[1])


def test_fused_onnx_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = build_hand_pose_net(TINY, with_heat=True)
    rgb, heat = torch.rand(3, 3, 32, 32), torch.rand(3, 21, 16, 16)
    w_h, w_x = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 0.0])
    path = tmp_path / "fused.onnx"
    axes = {n: {0: "batch"} for n in ("rgb", "heat", "heat_weight", "rgb_weight", "z_mu", "pose")}
    torch.onnx.export(net, (rgb, heat, w_h, w_x), str(path), dynamo=False,
                      input_names=["rgb", "heat", "heat_weight", "rgb_weight"],
                      output_names=["z_mu", "pose"], dynamic_axes=axes, opset_version=17)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"rgb": rgb.numpy(), "heat": heat.numpy(), "heat_weight": w_h.numpy(),
             "rgb_weight": w_x.numpy()}
    got = sess.run(["pose"], feeds)[0]
    with torch.no_grad():
        want = net(rgb, heat, w_h, w_x)[1].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_expert_weights():
    assert expert_weights("rgb+2d", True) == (1.0, 1.0)
    assert expert_weights("rgb+2d", False) == (1.0, 0.0)
    assert expert_weights("2d", True) == (0.0, 1.0)
    assert expert_weights("2d", False) == (1.0, 0.0)
    assert expert_weights("rgb", True) == (1.0, 0.0)
    with pytest.raises(ValueError, match="rgb\\+2d"):
        expert_weights("3d", True)
    assert FUSE_MODES == ("rgb", "2d", "rgb+2d")
