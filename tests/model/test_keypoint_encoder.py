import numpy as np
import pytest
import torch

from model.heatmaps import encode
from model.keypoint_encoder import KeypointEncoder, keypoint_features, soft_argmax_features
from model.net_config import NetConfig
from train.procedural.crops import heatmaps_batch


def test_soft_argmax_reads_back_keypoints_inside_the_map():
    rng = np.random.default_rng(0)
    uv = rng.uniform(20, 108, (4, 21, 2))  # crop px of a 128 crop, well inside
    heat = torch.from_numpy(heatmaps_batch(uv, 128, 64, 2.0))
    f = soft_argmax_features(heat).numpy()  # (4, 21, 3)
    m = (uv + 0.5) * 0.5 - 0.5  # heat-map px
    np.testing.assert_allclose(f[..., :2] / f[..., 2:], m / 63 * 2 - 1, atol=1e-4)
    assert np.all(f[..., 2] > 0.9)


def test_features_without_heat_maps_are_what_soft_argmax_reads():
    rng = np.random.default_rng(1)
    uv = rng.uniform(-30, 160, (6, 21, 2))  # some joints at and beyond the crop's border
    uv[0, 3] = (1e4, 1e4)  # far away: an empty map
    kept = rng.random((6, 21)) > 0.2
    heat = heatmaps_batch(uv, 128, 64, 2.0, kept)
    got = keypoint_features(uv, kept, 128, 64, 2.0)
    want = soft_argmax_features(torch.from_numpy(heat)).numpy()
    np.testing.assert_allclose(got, want, atol=2e-4)
    assert np.all(got[~kept] == 0.0) and np.all(got[0, 3] == 0.0)


def test_one_heat_map_of_encode_gives_the_same_features():
    uv = np.random.default_rng(2).uniform(0, 127, (21, 2))
    heat = torch.from_numpy(encode(uv, 128, 64, 2.0))[None]
    np.testing.assert_allclose(soft_argmax_features(heat).numpy(),
                               keypoint_features(uv[None], None, 128, 64, 2.0), atol=2e-4)


@pytest.mark.parametrize("m", [16, 64])
def test_encoder_shapes_and_zero_maps(m):
    cfg = NetConfig(latent_dim=8, heatmap_size=m, heat_expert="coords", keypoint_hidden=16)
    enc = KeypointEncoder(cfg).eval()
    heat = torch.zeros(3, 21, m, m)
    heat[0] = torch.rand(21, m, m)
    mu, logvar = enc(heat)
    assert mu.shape == logvar.shape == (3, 8)
    assert torch.isfinite(mu).all() and torch.isfinite(logvar).all()
    assert torch.allclose(mu[1], mu[2])  # two empty inputs: one answer, no NaN
    assert torch.allclose(enc.forward_features(soft_argmax_features(heat))[0], mu)


def test_config_rejects_an_unknown_expert():
    with pytest.raises(ValueError, match="heat_expert"):
        NetConfig(heat_expert="transformer")
