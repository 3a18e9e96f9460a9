import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from model.inference import HandPoseNet
from tests.train.fakes import TINY, FakeHandDataset, single_thread
from train.data.noise2d import Noise2DConfig
from train.strategies import (
    STRATEGIES,
    CrossModalVAE,
    LossWeights,
    add_heat_input,
    compute_loss,
    get_strategy,
    model_inputs,
)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def _batch(n=4, has_depth=True):
    ds = FakeHandDataset(n, crop_size=32, cloud_points=32, heatmap_size=8, has_depth=has_depth)
    batch = default_collate([ds[i] for i in range(n)])
    add_heat_input(batch, 32, 2.0, Noise2DConfig(), np.random.default_rng(0))
    return batch


EXPECTED_TERMS = {
    "s1": {"pose_x", "kl_x"},
    "s2-h": {"pose_x", "heat_x", "kl_x"},
    "s2-c": {"pose_x", "chamfer_x", "emd_x", "kl_x"},
    "s2-ch": {"pose_x", "heat_x", "chamfer_x", "emd_x", "kl_x"},
    "s3": {f"{t}_{k}" for t in ("pose", "heat", "chamfer", "emd") for k in "jx"}
    | {"kl_x", "kl_j", "kl_j_x"},
    "s4": {f"{t}_{k}" for t in ("pose", "heat", "chamfer", "emd") for k in "xwj"}
    | {"kl_x", "kl_w"},
    "s4-2d": {f"{t}_{k}" for t in ("pose", "heat", "chamfer", "emd")
              for k in ("x", "w", "j", "h", "xh", "xwh")} | {"kl_x", "kl_w", "kl_h"},
}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_strategy_terms_and_total(name):
    torch.manual_seed(0)
    s = get_strategy(name)
    model = CrossModalVAE(TINY, s)
    batch = _batch()
    w = LossWeights(beta=0.5, beta_prime=2.0, lambda_heat=0.1, lambda_cloud=3.0)
    terms = compute_loss(s, batch, model(*model_inputs(s, batch)), w, torch.ones(4, dtype=bool))
    assert set(terms) - {"total"} == EXPECTED_TERMS[name]
    # The total is the documented weighted sum of the terms.
    expect = 0.0
    for k, v in terms.items():
        kind = k.split("_")[0]
        weight = {"pose": 1.0, "heat": 0.1, "chamfer": 3.0, "emd": 3.0}.get(kind)
        if k == "kl_j_x":
            weight = 2.0
        elif kind == "kl":
            weight = 0.5
        if k != "total":
            expect = expect + weight * v.item()
    assert terms["total"].item() == pytest.approx(expect, rel=1e-5)
    # The state dict of every strategy loads into the inference network.
    net = HandPoseNet(TINY, with_cloud=s.cloud, with_heat=s.heat_expert)
    net.load_state_dict({k: v for k, v in model.state_dict().items() if k in net.state_dict()})


def test_pose_term_only_on_labelled_samples():
    s = get_strategy("s2-c")
    torch.manual_seed(0)
    model = CrossModalVAE(TINY, s).eval()
    batch = _batch()
    out = model(*model_inputs(s, batch))
    full = compute_loss(s, batch, out, LossWeights(), torch.ones(4, dtype=bool))
    half = compute_loss(s, batch, out, LossWeights(), torch.tensor([True, True, False, False]))
    none = compute_loss(s, batch, out, LossWeights(), torch.zeros(4, dtype=bool))
    assert none["pose_x"].item() == 0.0
    assert 0 < half["pose_x"].item() < full["pose_x"].item()
    assert half["chamfer_x"].item() == full["chamfer_x"].item()  # the cloud acts as weak label


def test_product_of_experts_posterior_in_s4():
    s = get_strategy("s4")
    model = CrossModalVAE(TINY, s).eval()
    batch = _batch()
    out = model(*model_inputs(s, batch))
    (mx, lx), (mw, lw), (mj, lj) = out["q_x"], out["q_w"], out["q_j"]
    tx, tw = torch.exp(-lx), torch.exp(-lw)
    torch.testing.assert_close(mj, (mx * tx + mw * tw) / (1 + tx + tw))
    torch.testing.assert_close(torch.exp(lj), 1 / (1 + tx + tw))


def test_heat_expert_products_in_s4_2d():
    """s4-2d's subsets {x, H} and {x, C, H} are GProd with the prior; the input is heat_in."""
    s = get_strategy("s4-2d")
    model = CrossModalVAE(TINY, s).eval()
    batch = _batch()
    out = model(*model_inputs(s, batch))
    (mx, lx), (mw, lw), (mh, lh) = out["q_x"], out["q_w"], out["q_h"]
    tx, tw, th = torch.exp(-lx), torch.exp(-lw), torch.exp(-lh)
    torch.testing.assert_close(out["q_xh"][0], (mx * tx + mh * th) / (1 + tx + th))
    torch.testing.assert_close(out["q_xwh"][0], (mx * tx + mw * tw + mh * th) / (1 + tx + tw + th))
    torch.testing.assert_close(out["q_h"][0], model.heat_encoder(batch["heat_in"])[0])
    del batch["heat_in"]
    with pytest.raises(KeyError, match="add_heat_input"):
        model_inputs(s, batch)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_strategy_overfits_one_batch(name):
    """Every strategy drives its total loss down by an order of magnitude on one small batch."""
    torch.manual_seed(0)
    s = get_strategy(name)
    model = CrossModalVAE(TINY, s)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batch = _batch()
    lab = torch.ones(4, dtype=bool)
    w = LossWeights()
    history = []
    for _ in range(120):
        terms = compute_loss(s, batch, model(*model_inputs(s, batch)), w, lab)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        history.append(terms["total"].item())
        if len(history) > 5 and sum(history[-3:]) / 3 < history[0] / 10:
            break
    first, last = history[0], sum(history[-3:]) / 3
    print(f"{name}: total loss {first:.4g} -> {last:.4g} in {len(history)} steps")
    assert last < first / 10


@pytest.mark.parametrize("name", ["s3", "s4", "s4-2d"])
def test_shared_decoding_terms_are_each_latents_mean_over_its_rows(name):
    """With shared decoding, latent k's heat-map / Chamfer / EMD term is the mean, over the rows
    assigned to k, of the per-sample loss of decoding latent k for those rows (eval mode: BN
    uses its running statistics, so each row decodes independently of the others)."""
    from model.losses import chamfer_distance, emd_loss, heatmap_loss
    from train.strategies import shared_assignment

    torch.manual_seed(0)
    s = get_strategy(name)
    model = CrossModalVAE(TINY, s).eval()
    batch = _batch(n=8)
    w, lab = LossWeights(), torch.ones(8, dtype=bool)
    assign = shared_assignment(s, 8)
    k = len(s.latents)
    assert sorted(torch.bincount(assign, minlength=k).tolist()) == sorted(
        [8 // k + (i < 8 % k) for i in range(k)])  # groups as equal as possible
    shared = compute_loss(s, batch, model(*model_inputs(s, batch), assign=assign), w, lab)
    full = model(*model_inputs(s, batch))
    assert set(shared) == EXPECTED_TERMS[name] | {"total"}
    for i, latent in enumerate(s.latents):
        rows = assign == i
        dec = full[f"dec_{latent}"]
        want = {"heat": heatmap_loss(dec["heat"][rows], batch["heat"][rows]).mean(),
                "chamfer": chamfer_distance(dec["cloud"][rows], batch["cloud"][rows]).mean(),
                "emd": emd_loss(dec["cloud"][rows], batch["cloud"][rows]).mean()}
        for term, value in want.items():
            torch.testing.assert_close(shared[f"{term}_{latent}"], value, rtol=1e-4, atol=1e-5)
        # the pose term still decodes every latent for every sample
        full_terms = compute_loss(s, batch, full, w, lab)
        torch.testing.assert_close(shared[f"pose_{latent}"], full_terms[f"pose_{latent}"])


def test_shared_decoding_is_off_where_one_latent_is_decoded():
    from train.strategies import shared_assignment

    for name in ("s1", "s2-h", "s2-c", "s2-ch"):
        assert shared_assignment(get_strategy(name), 8) is None


def test_losses_of_a_bf16_forward_pass_are_float32_and_close_to_float32():
    torch.manual_seed(0)
    s = get_strategy("s4")
    model = CrossModalVAE(TINY, s).eval()
    batch, w, lab = _batch(), LossWeights(), torch.ones(4, dtype=bool)
    ref = compute_loss(s, batch, model(*model_inputs(s, batch)), w, lab)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*model_inputs(s, batch))
    got = compute_loss(s, batch, out, w, lab)
    assert got["total"].dtype == torch.float32
    # bfloat16 keeps 8 significant bits: a few per cent on each term
    torch.testing.assert_close(got["total"], ref["total"], rtol=0.05, atol=1e-3)
