"""The importance-weighted log-likelihood against a model whose log p(x) is known exactly: a linear Gaussian VAE.

Decoder x = W z + b + noise, noise ~ N(0, γ I), prior z ~ N(0, I): probabilistic PCA, whose marginal is
p(x) = N(x; b, W Wᵀ + γ I) in closed form and whose posterior is q*(z|x) = N(M⁻¹Wᵀ(x − b), γ M⁻¹), M = WᵀW + γI.
"""

import math

import pytest
import torch
from torch import distributions as D
from torch import nn

import vaelab as vl

X_DIM, Z_DIM, GAMMA = 6, 2, 0.3


class LinearEncoder(nn.Module):
    """x ↦ (A x + c, log σ²) with a constant log-variance: enough to hold the exact PPCA posterior."""

    def __init__(self, A, c, logvar):
        super().__init__()
        self.A, self.c, self.logvar = nn.Parameter(A), nn.Parameter(c), nn.Parameter(logvar)

    def forward(self, x):
        mu = x @ self.A.T + self.c
        return torch.cat([mu, self.logvar.expand_as(mu)], dim=-1)


def ppca(posterior_scale=1.0, mean_shift=0.0, seed=0):
    """A PPCA model as a vaelab VAE, its exact log p(x), and data drawn from it."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(X_DIM, Z_DIM, generator=g)
    b = torch.randn(X_DIM, generator=g)
    decoder = nn.Linear(Z_DIM, X_DIM)
    with torch.no_grad():
        decoder.weight.copy_(W)
        decoder.bias.copy_(b)
    M = W.T @ W + GAMMA * torch.eye(Z_DIM)
    posterior_cov = GAMMA * torch.linalg.inv(M)
    A = torch.linalg.solve(M, W.T)  # posterior mean M⁻¹Wᵀ(x − b)
    c = -A @ b + mean_shift
    # a diagonal Gaussian encoder: the exact posterior's marginal variances, optionally widened
    logvar = torch.log(posterior_cov.diagonal() * posterior_scale)
    model = vl.VAE(
        x_dim=X_DIM, z_dim=Z_DIM, likelihood="gaussian", gamma=GAMMA,
        encoder=LinearEncoder(A, c, logvar), decoder=decoder,
    )
    marginal = D.MultivariateNormal(b, W @ W.T + GAMMA * torch.eye(X_DIM))
    x = marginal.sample((300,))
    return model, marginal.log_prob(x).mean().item(), x


def test_log_likelihood_recovers_exact_ppca_log_likelihood_within_a_tenth_of_a_nat():
    model, exact, x = ppca(posterior_scale=1.5, mean_shift=0.2)
    estimate = vl.log_likelihood(model, x, k=5000, seed=0)
    assert abs(estimate - exact) < 0.1, (estimate, exact)


def test_with_the_exact_posterior_every_importance_weight_is_p_of_x():
    """W with orthogonal columns makes the exact posterior diagonal, so the encoder can hold it exactly."""
    model, exact, x = ppca()
    W = model.decoder.weight.detach()
    Q, _ = torch.linalg.qr(W)
    with torch.no_grad():
        model.decoder.weight.copy_(Q * torch.tensor([2.0, 0.5]))
    W = model.decoder.weight.detach()
    b = model.decoder.bias.detach()
    M = W.T @ W + GAMMA * torch.eye(Z_DIM)
    with torch.no_grad():
        model.encoder.A.copy_(torch.linalg.solve(M, W.T))
        model.encoder.c.copy_(-model.encoder.A @ b)
        model.encoder.logvar.copy_(torch.log(GAMMA / M.diagonal()))
    exact_per_example = D.MultivariateNormal(b, W @ W.T + GAMMA * torch.eye(X_DIM)).log_prob(x)
    estimate = vl.log_likelihood(model, x, k=3, per_example=True)
    torch.testing.assert_close(estimate, exact_per_example, atol=1e-4, rtol=0)
    # and the ELBO is then tight on average: KL(q || p(z|x)) = 0
    assert abs(vl.elbo(model, x, n_samples=200) - exact_per_example.mean().item()) < 0.02


def test_elbo_is_below_the_estimate_which_grows_with_k_on_average():
    model, exact, x = ppca(posterior_scale=3.0, mean_shift=0.5)
    bound = vl.elbo(model, x, n_samples=50)
    estimates = [vl.log_likelihood(model, x, k=k, seed=0) for k in (1, 10, 100, 1000)]
    assert bound < estimates[1]
    assert all(a < b for a, b in zip(estimates, estimates[1:])), estimates
    assert estimates[-1] <= exact + 0.05


def test_log_likelihood_does_not_depend_on_the_memory_chunk():
    """Samples drawn in small chunks or all at once give the same estimate up to Monte Carlo noise."""
    model, exact, x = ppca(posterior_scale=1.5)
    small = vl.log_likelihood(model, x, k=2000, chunk_elements=50 * X_DIM * 100, seed=1)
    large = vl.log_likelihood(model, x, k=2000, chunk_elements=2**24, seed=2)
    assert abs(small - large) < 0.05 and abs(small - exact) < 0.1


def test_the_default_chunk_is_cache_sized_on_a_cpu_and_larger_on_a_gpu():
    assert vl.evaluate.default_chunk_elements("cpu") == 2**22
    assert vl.evaluate.default_chunk_elements("cuda") == 2**24
    model, _, x = ppca(posterior_scale=1.5)
    default = vl.log_likelihood(model, x, k=300, seed=3)
    assert default == vl.log_likelihood(model, x, k=300, seed=3, chunk_elements=2**22)
    with pytest.raises(ValueError, match="chunk_elements"):
        vl.log_likelihood(model, x, k=300, chunk_elements=0)


def test_evaluation_is_repeatable_and_leaves_the_global_random_state_alone():
    model, _, x = ppca(posterior_scale=2.0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = vl.log_likelihood(model, x, k=50, seed=7)
    b = vl.log_likelihood(model, x, k=50, seed=7)
    e1, e2 = vl.elbo(model, x, seed=3), vl.elbo(model, x, seed=3)
    assert a == b and e1 == e2
    assert torch.equal(before, torch.get_rng_state())


def test_elbo_parts_add_up():
    model, _, x = ppca(posterior_scale=2.0)
    parts = vl.elbo_parts(model, x)
    assert parts["elbo"] == pytest.approx(parts["recon"] - parts["kl"])
    assert parts["kl"] > 0


def test_active_units_and_kl_per_dimension():
    """A unit whose posterior mean ignores x is inactive and contributes its KL only through σ."""
    model, _, x = ppca()
    with torch.no_grad():
        model.encoder.A[1].zero_()
        model.encoder.c[1] = 0.0
        model.encoder.logvar[1] = 0.0  # q(z_2|x) = N(0, 1): collapsed onto the prior
    assert vl.active_units(model, x) == 1
    kl = vl.kl_per_dimension(model, x)
    assert kl.shape == (Z_DIM,) and kl[1].abs() < 1e-6 and kl[0] > 0.1
    # the per-dimension values add up to the model's KL term
    mu, logvar = vl.encode_data(model, x)
    assert float(kl.sum()) == pytest.approx(float(vl.gaussian_kl(mu, logvar).mean()), rel=1e-5)


def test_dynamic_data_are_evaluated_on_one_fixed_binarization():
    torch.manual_seed(0)
    model = vl.VAE(x_dim=20, z_dim=2, hidden=[8])
    x = torch.rand(50, 20)
    x.binarize = "dynamic"
    a, b = vl.elbo(model, x, seed=0), vl.elbo(model, x, seed=0)
    assert a == b
    binary = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
    assert vl.elbo(model, binary, seed=0) == pytest.approx(a)


@pytest.mark.parametrize("k", [0, -5, 2.5])
def test_log_likelihood_rejects_a_bad_number_of_samples(k):
    model, _, x = ppca()
    with pytest.raises(ValueError, match="k .*positive integer"):
        vl.log_likelihood(model, x, k=k)


def test_samples_and_reconstructions_are_data_space_means():
    torch.manual_seed(0)
    model = vl.VAE(x_dim=20, z_dim=2, hidden=[8])
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 20) and samples.min() >= 0 and samples.max() <= 1
    rec = model.reconstruct(torch.rand(4, 20))
    assert rec.shape == (4, 20) and not rec.requires_grad
    assert math.isclose(float(model.sample(3, generator=torch.Generator().manual_seed(1)).sum()),
                        float(model.sample(3, generator=torch.Generator().manual_seed(1)).sum()))
