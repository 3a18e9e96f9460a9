import torch
from torch.distributions import Normal

from model.distributions import (
    GaussianHead,
    kl_normal,
    kl_to_prior,
    product_of_experts,
    reparameterise,
)


def test_product_of_experts_matches_numerical_product_of_densities():
    # Two 1-D experts and the prior; the product density evaluated on a grid, normalised, gives
    # the mean and variance independently of the closed form.
    mus = [torch.tensor([[0.8]]), torch.tensor([[-1.5]])]
    logvars = [torch.log(torch.tensor([[0.5]])), torch.log(torch.tensor([[2.0]]))]
    mu, logvar = product_of_experts(mus, logvars, prior=True)
    x = torch.linspace(-10, 10, 200001, dtype=torch.float64)
    logp = Normal(0.0, 1.0).log_prob(x)
    for m, lv in zip(mus, logvars):
        logp = logp + Normal(m.double().item(), lv.double().exp().sqrt().item()).log_prob(x)
    w = torch.softmax(logp, 0)
    mean = (w * x).sum()
    var = (w * (x - mean) ** 2).sum()
    assert abs(mu.item() - mean.item()) < 1e-5
    assert abs(logvar.exp().item() - var.item()) < 1e-5
    # Closed form of the paper: mu = sum mu_i T_i / (1 + sum T_i), var = 1 / (1 + sum T_i).
    T = [2.0, 0.5]
    assert abs(mu.item() - (0.8 * T[0] - 1.5 * T[1]) / (1 + sum(T))) < 1e-6


def test_product_without_prior_and_single_expert():
    mu = torch.randn(3, 5)
    lv = torch.randn(3, 5)
    m2, lv2 = product_of_experts([mu], [lv], prior=False)
    torch.testing.assert_close(m2, mu)
    torch.testing.assert_close(lv2, lv)
    # With the prior, one expert N(mu, var) becomes N(mu / (1 + var), var / (1 + var)).
    m3, lv3 = product_of_experts([mu], [lv], prior=True)
    var = lv.exp()
    torch.testing.assert_close(m3, mu / (1 + var))
    torch.testing.assert_close(lv3.exp(), var / (1 + var))


def test_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu_q, lv_q = torch.randn(1, 4, generator=g), torch.randn(1, 4, generator=g) * 0.5
    mu_p, lv_p = torch.randn(1, 4, generator=g), torch.randn(1, 4, generator=g) * 0.5
    q = Normal(mu_q.double(), (0.5 * lv_q.double()).exp())
    p = Normal(mu_p.double(), (0.5 * lv_p.double()).exp())
    z = q.sample((400_000,))  # (S, 1, 4)
    samples = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, 1)
    mc, se = samples.mean().item(), samples.std().item() / 400_000**0.5
    kl = kl_normal(mu_q, lv_q, mu_p, lv_p).item()
    assert abs(kl - mc) < 4 * se + 1e-4, (kl, mc, se)
    prior = Normal(torch.zeros_like(mu_q).double(), 1.0)
    mc0 = (q.log_prob(z) - prior.log_prob(z)).sum(-1).mean().item()
    assert abs(kl_to_prior(mu_q, lv_q).item() - mc0) < 0.02
    torch.testing.assert_close(kl_to_prior(mu_q, lv_q),
                               kl_normal(mu_q, lv_q, torch.zeros(1, 4), torch.zeros(1, 4)))
    assert kl_normal(mu_q, lv_q, mu_q, lv_q).abs().max() < 1e-6


def test_reparameterise_and_head():
    torch.manual_seed(0)
    mu, lv = torch.full((20000, 2), 3.0), torch.full((20000, 2), 2 * torch.log(torch.tensor(0.5)))
    z = reparameterise(mu, lv)
    assert abs(z.mean().item() - 3.0) < 0.02 and abs(z.std().item() - 0.5) < 0.02
    m, v = GaussianHead(8, 4)(torch.randn(2, 8))
    assert m.shape == v.shape == (2, 4)
