import pytest
import torch

from model.cloud_encoder import CloudEncoder, ResPEL
from model.decoders import CloudDecoder, HeatmapDecoder, PoseDecoder, folding_grid
from model.net_config import NetConfig

TINY = NetConfig(crop_size=32, cloud_points=64, heatmap_size=16, fold_hidden=32,
                 heat_channels=32, respel_hidden=16, cloud_feature_dim=32)


def test_decoder_shapes():
    z = torch.randn(3, 64)
    assert PoseDecoder(TINY)(z).shape == (3, 21, 3)
    assert HeatmapDecoder(TINY)(z).shape == (3, 21, 16, 16)
    assert CloudDecoder(TINY)(z).shape == (3, 64, 3)


@pytest.mark.parametrize("n,shape", [(64, (8, 8)), (1024, (32, 32)), (96, (8, 12)), (7, (1, 7))])
def test_folding_grid(n, shape):
    g = folding_grid(n)
    assert g.shape == (n, 2)
    assert len(g[:, 1].unique()) == shape[0] and len(g[:, 0].unique()) == shape[1]
    assert g.abs().max() <= 1.0


def test_respel_is_permutation_invariant():
    torch.manual_seed(0)
    enc = CloudEncoder(TINY).eval()
    cloud = torch.randn(2, 50, 3)
    perm = torch.randperm(50)
    mu1, lv1 = enc(cloud)
    mu2, lv2 = enc(cloud[:, perm])
    torch.testing.assert_close(mu1, mu2)
    torch.testing.assert_close(lv1, lv2)
    assert mu1.shape == (2, 64)
    # ...and its per-point layers are equivariant: features depend on the cloud, not the order.
    assert ResPEL(TINY)(cloud).shape == (2, 32)


def test_config_validation():
    with pytest.raises(ValueError, match="power of 2"):
        NetConfig(heatmap_size=48)
    with pytest.raises(ValueError, match="crop_size"):
        NetConfig(crop_size=16)
    with pytest.raises(ValueError, match="unknown network config"):
        NetConfig.from_dict({"latent_dim": 64, "bogus": 1})


def test_folding_decoder_equals_its_mlps_on_the_concatenated_latent():
    """The factored first layer computes the same function as the MLP on [z, point]."""
    from model.decoders import CloudDecoder

    torch.manual_seed(0)
    cfg = NetConfig(crop_size=64, cloud_points=48, latent_dim=16)
    dec = CloudDecoder(cfg)
    z = torch.randn(3, 16)
    n = dec.grid.shape[0]
    zz = z.unsqueeze(1).expand(-1, n, -1)
    grid = dec.grid.unsqueeze(0).expand(3, -1, -1)
    lifted = torch.cat([grid, torch.zeros_like(grid[..., :1])], dim=-1)
    p1 = lifted + dec.fold1(torch.cat([zz, grid], dim=-1))
    want = p1 + dec.fold2(torch.cat([zz, p1], dim=-1))
    assert torch.allclose(dec(z), want, atol=1e-5)
