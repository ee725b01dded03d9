"""vaelab.hebae (chapter 6): the batch moments and the batch KL against torch.distributions, the reparameterized
covariance against a statistical test, gradients through the Cholesky factor, training, bad input."""

import math

import pytest
import torch
from helpers import small_data
from torch.distributions import MultivariateNormal, kl_divergence

import vaelab as vl
from vaelab.hebae import batch_moments, gaussian_kl_full


def correlated(m=500, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(k, k, generator=g, dtype=torch.float64)
    return torch.randn(m, k, generator=g, dtype=torch.float64) @ a.T + torch.randn(k, generator=g, dtype=torch.float64)


def test_batch_moments_are_the_1_over_m_mean_and_covariance():
    mu = correlated()
    beta, sigma, chol = batch_moments(mu)
    assert torch.allclose(beta, mu.mean(0))
    assert torch.allclose(sigma, torch.cov(mu.T, correction=0))  # normalized by m (stated in the chapter)
    assert torch.allclose(chol @ chol.T, sigma)


def test_batch_kl_equals_torch_distributions():
    mu = correlated()
    beta, sigma, chol = batch_moments(mu)
    reference = kl_divergence(MultivariateNormal(beta, sigma), MultivariateNormal(torch.zeros(4, dtype=torch.float64),
                                                                                   torch.eye(4, dtype=torch.float64)))
    assert float(gaussian_kl_full(beta, chol)) == pytest.approx(float(reference), rel=1e-10)


def test_hebae_kl_term_is_the_batch_kl_for_every_example():
    torch.manual_seed(0)
    model = vl.HEBAE(x_dim=30, z_dim=3, hidden=[16])
    x = torch.bernoulli(small_data(64))
    (recon, kl), z = model.terms_and_codes(x)
    mu, _ = model.encode_scale(x)
    beta, sigma, _ = batch_moments(mu.double())
    standard = MultivariateNormal(torch.zeros(3).double(), torch.eye(3).double())
    reference = kl_divergence(MultivariateNormal(beta, sigma), standard)
    assert torch.allclose(kl.double(), reference.expand(64), rtol=1e-4)
    out = model.loss(x, kl_weight=2.5)
    assert torch.allclose(out.loss, 2.5 * out.kl - out.recon)


class FixedEncoder(torch.nn.Module):
    """Every example gets μ from a fixed correlated set and log σ_i² = log s²."""

    def __init__(self, mu, log_scale):
        super().__init__()
        self.mu, self.log_scale = mu, log_scale

    def forward(self, x):
        return torch.cat([self.mu, torch.full((len(self.mu), 1), self.log_scale)], -1)


@pytest.mark.parametrize("mode", ["cholesky", "cholesky-detached"])
def test_reparameterized_samples_have_covariance_sigma_squared_times_batch_covariance(mode):
    """z_i − μ_i = σ R ε (eq. 6.6) must have covariance σ² Σ̂; statistical test over 400 draws of 300 examples."""
    mu = correlated(300, 3, seed=1).float()
    model = vl.HEBAE(x_dim=3, z_dim=3, likelihood="gaussian", encoder=FixedEncoder(mu, math.log(0.25)),
                     reparameterization=mode)
    _, sigma, _ = batch_moments(mu.double())
    x = torch.zeros(300, 3)
    torch.manual_seed(0)
    noise = torch.cat([model.terms_and_codes(x, n_samples=20)[1].reshape(-1, 300, 3) - mu for _ in range(20)])
    cov = torch.cov(noise.reshape(-1, 3).double().T)
    assert torch.allclose(cov, 0.25 * sigma, atol=0.03 * float(sigma.diagonal().max()))

    def corr(c):
        return c / (c.diagonal().sqrt()[:, None] * c.diagonal().sqrt()[None, :])

    assert float((corr(cov) - corr(sigma)).abs().max()) < 0.03


def test_diagonal_reparameterization_ignores_the_correlations():
    mu = correlated(300, 3, seed=1).float()
    model = vl.HEBAE(x_dim=3, z_dim=3, likelihood="gaussian", encoder=FixedEncoder(mu, 0.0),
                     reparameterization="diagonal")
    torch.manual_seed(0)
    noise = model.terms_and_codes(torch.zeros(300, 3), n_samples=100)[1] - mu
    assert torch.allclose(torch.cov(noise.reshape(-1, 3).double().T), torch.eye(3).double(), atol=0.03)


def test_gradients_flow_through_the_cholesky_factor_only_when_asked():
    grads = {}
    for mode in ("cholesky", "cholesky-detached"):
        mu = correlated(50, 3, seed=2).float().requires_grad_()
        model = vl.HEBAE(x_dim=3, z_dim=3, likelihood="gaussian", encoder=FixedEncoder(mu, 0.0),
                         reparameterization=mode)
        torch.manual_seed(0)
        _, z = model.terms_and_codes(torch.zeros(50, 3))
        (z - mu).pow(2).sum().backward()  # z − μ = σ R ε depends on μ only through R
        grads[mode] = float(mu.grad.abs().sum())
    assert grads["cholesky"] > 0 and grads["cholesky-detached"] == 0


def test_hebae_trains_and_its_running_covariance_follows_the_batches():
    x = small_data(400)
    torch.manual_seed(0)
    model = vl.HEBAE(x_dim=30, z_dim=3, hidden=[16])
    history = vl.fit(model, x, epochs=40, batch_size=50, progress=False)
    assert history.train_elbo[-1] > history.train_elbo[0]
    mu, _ = vl.encode_data(model, x)
    sigma = torch.cov(mu.T, correction=0)  # an exponential moving average over batches: close, not equal
    assert float((model.running_sigma - sigma).abs().max()) < 0.15 * float(sigma.diagonal().max())
    assert math.isfinite(vl.log_likelihood(model, x[:50], k=20))  # diagonal proposal: a valid bound


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: batch_moments(torch.randn(3, 4)), "at least z_dim \\+ 1 = 5 examples"),
        (lambda: batch_moments(torch.cat([torch.randn(50, 2), torch.ones(50, 1)], 1)), "singular"),
        (lambda: vl.HEBAE(x_dim=30, z_dim=3, reparameterization="qr"), "reparameterization must be"),
        (lambda: vl.HEBAE(x_dim=30, z_dim=3, momentum=0), "momentum"),
    ],
)
def test_hebae_bad_input_gives_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fit_refuses_a_hebae_batch_smaller_than_z_dim_plus_one():
    model = vl.HEBAE(x_dim=30, z_dim=8, hidden=[16])
    with pytest.raises(ValueError, match="batch_size >= 9"):
        vl.fit(model, small_data(100), epochs=1, batch_size=4, progress=False)
