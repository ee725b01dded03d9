"""vaelab.gaussians: the diagonal-Gaussian KL to N(0, I), the log-density (elementwise and for every pair) and the
reparameterization against torch.distributions, a direct Monte Carlo estimate and the sample moments."""

import math

import pytest
import torch
from helpers import diagonal_normal
from torch import distributions as D

import vaelab as vl


@pytest.fixture
def gaussian_params():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 5, generator=g) * 2
    logvar = torch.randn(64, 5, generator=g)
    return mu, logvar


def test_gaussian_kl_matches_torch_distributions(gaussian_params):
    mu, logvar = gaussian_params
    reference = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(vl.gaussian_kl(mu, logvar), reference)


def test_gaussian_kl_is_zero_only_for_the_prior_itself():
    zeros = torch.zeros(3, 4)
    assert torch.all(vl.gaussian_kl(zeros, zeros) == 0)
    assert torch.all(vl.gaussian_kl(zeros + 0.1, zeros) > 0)


def test_gaussian_log_prob_matches_torch_distributions(gaussian_params):
    mu, logvar = gaussian_params
    z = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    reference = D.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(vl.gaussian_log_prob(z, mu, logvar), reference)


def test_closed_form_kl_equals_monte_carlo_kl(gaussian_params):
    """KL(q||p) = E_q[log q(z) − log p(z)]: the closed form against a direct Monte Carlo estimate."""
    mu, logvar = gaussian_params[0][:4], gaussian_params[1][:4]
    model = vl.VAE(x_dim=3, z_dim=5, hidden=[4])
    torch.manual_seed(0)
    z = model.reparameterize(mu, logvar, n_samples=200_000)
    mc = (vl.gaussian_log_prob(z, mu, logvar) - model.prior.log_prob(z)).mean(0)
    torch.testing.assert_close(mc, vl.gaussian_kl(mu, logvar), atol=0.05, rtol=0.01)


def test_reparameterization_has_the_posterior_moments_and_passes_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    model = vl.VAE(x_dim=3, z_dim=2, hidden=[4])
    torch.manual_seed(0)
    z = model.reparameterize(mu, logvar, n_samples=100_000)
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([[1.0, 4.0]]), atol=0.05, rtol=0)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and torch.all(logvar.grad != 0)


def test_pairwise_log_density_matches_torch_distributions_for_every_pair():
    g = torch.Generator().manual_seed(0)
    z, mu, logvar = torch.randn(7, 3, 5, generator=g).double(), torch.randn(4, 5, generator=g).double(), \
        torch.randn(4, 5, generator=g).double()
    expected = diagonal_normal(mu, logvar).log_prob(z.unsqueeze(-2))  # [7, 3, 4]
    assert torch.allclose(vl.gaussian_log_prob_pairwise(z, mu, logvar), expected, atol=1e-10)
    # and agrees with the elementwise eq. 1.5 in float32, far from the means too
    z32 = 4 * torch.randn(50, 5, generator=g)
    mu32, lv32 = mu.float(), (0.3 * logvar - 2).float()
    direct = vl.gaussian_log_prob(z32.unsqueeze(-2), mu32, lv32)
    assert torch.allclose(vl.gaussian_log_prob_pairwise(z32, mu32, lv32), direct, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("sigma", [0.1, 0.01, 0.001])
def test_pairwise_log_density_stays_accurate_in_float32_for_sharp_components(sigma):
    """The expanded square cancels large terms where z is at its own component: checked against the direct formula
    in float64 at the posterior scales the chapters reach (σ down to 1e-3, 40 dimensions, |μ| about 3)."""
    g = torch.Generator().manual_seed(0)
    mu = 3 * torch.randn(300, 40, generator=g)
    logvar = torch.full((300, 40), 2 * math.log(sigma))
    z = mu[:100] + sigma * torch.randn(100, 40, generator=g)  # z_n at its own component n
    got = vl.gaussian_log_prob_pairwise(z, mu, logvar)
    reference = vl.gaussian_log_prob(z.double().unsqueeze(-2), mu.double(), logvar.double())
    assert got.dtype == torch.float32
    own = torch.arange(100)
    assert (got[own, own].double() - reference[own, own]).abs().max() < 1e-3
    assert (got.double() - reference).abs().max() / reference.abs().max() < 1e-6
