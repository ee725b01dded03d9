"""vaelab.evaluate: the importance-weighted log-likelihood and the ELBO against a model whose log p(x) is known
exactly, a linear Gaussian VAE; active units and the KL per dimension; the aggregate posterior's moments against
samples of the mixture, ELBO surgery against the closed-form KL, the MMD to the prior against codes that are the prior.
(The linear Gaussian VAE, probabilistic PCA, is ``helpers.ppca``.)
"""

import math
from itertools import pairwise

import pytest
import torch
from helpers import GAMMA, X_DIM, Z_DIM, implicit_model, ppca, small_data, small_model, vamp_model
from torch import distributions as D

import vaelab as vl


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
    estimate = vl.log_likelihood(model, x, k=3, per_example=True, proposal="encoder")
    torch.testing.assert_close(estimate, exact_per_example, atol=1e-4, rtol=0)
    # and the ELBO is then tight on average: KL(q || p(z|x)) = 0
    assert abs(vl.elbo(model, x, n_samples=200) - exact_per_example.mean().item()) < 0.02


def test_elbo_is_below_the_estimate_which_grows_with_k_on_average():
    model, exact, x = ppca(posterior_scale=3.0, mean_shift=0.5)
    bound = vl.elbo(model, x, n_samples=50)
    estimates = [vl.log_likelihood(model, x, k=k, seed=0) for k in (1, 10, 100, 1000)]
    assert bound < estimates[1]
    assert all(a < b for a, b in pairwise(estimates)), estimates
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


def test_log_likelihood_warns_that_the_implicit_prior_is_unnormalized():
    model = implicit_model()
    with pytest.warns(UserWarning, match="unnormalized"):
        value = vl.log_likelihood(model, small_data(20), k=10)
    assert math.isfinite(value)


# --------------------------------------------------------------------------------------- q(z) and ELBO surgery
def test_aggregate_posterior_moments_match_samples_of_the_mixture():
    model = small_model()
    x = torch.bernoulli(small_data(300))
    stats = vl.aggregate_posterior(model, x)
    mu, logvar = vl.encode_data(model, x)
    g = torch.Generator().manual_seed(0)
    z = (mu.double() + torch.exp(0.5 * logvar.double()) * torch.randn(400, *mu.shape, generator=g,
                                                                         dtype=torch.float64)).reshape(-1, 3)
    assert torch.allclose(stats.mean, z.mean(0), atol=0.02)
    assert torch.allclose(stats.covariance, torch.cov(z.T), atol=0.02)
    assert torch.allclose(stats.correlation.diagonal(), torch.ones(3, dtype=torch.float64))
    assert math.isclose(stats.logdet, float(torch.logdet(stats.covariance)), rel_tol=1e-9)


def test_elbo_surgery_parts_add_up_to_the_average_kl():
    torch.manual_seed(0)
    model = small_model()
    x = torch.bernoulli(small_data(200))
    vl.fit(model, x, epochs=3, batch_size=50, progress=False)
    parts = vl.elbo_surgery(model, x, n_samples=400)
    assert 0 < parts["mutual_info"] <= parts["log_n"] + 1e-9
    assert parts["marginal_kl"] > 0
    assert math.isclose(parts["sum"], parts["kl"], rel_tol=0.02), parts  # Monte Carlo vs the closed-form KL
    assert math.isclose(parts["kl"], vl.elbo_parts(model, x)["kl"], rel_tol=1e-4)


def test_elbo_surgery_of_an_encoder_that_ignores_x_has_no_mutual_information():
    model = small_model()
    with torch.no_grad():
        model.encoder[-1].weight.zero_()  # every q(z|x) is the same Gaussian, so q(z) is that Gaussian
    parts = vl.elbo_surgery(model, torch.bernoulli(small_data(100)), n_samples=50)
    assert abs(parts["mutual_info"]) < 1e-5
    assert math.isclose(parts["marginal_kl"], parts["kl"], rel_tol=0.05)  # Monte Carlo vs closed form


def test_elbo_surgery_with_a_vampprior_adds_up_exactly():
    parts = vl.elbo_surgery(vamp_model(), torch.bernoulli(small_data(100)), n_samples=5)
    assert math.isclose(parts["sum"], parts["kl"], rel_tol=1e-5, abs_tol=1e-5)


# ------------------------------------------------------------------------------------------ the MMD to the prior
def test_mmd_to_prior_of_a_model_whose_codes_are_the_prior_is_near_zero():
    class Identity(torch.nn.Module):  # encoder: x ↦ (μ = x, log σ² = log 1e-8): q(z) is the data distribution
        def forward(self, x):
            return torch.cat([x, torch.full_like(x, math.log(1e-8))], -1)

    model = vl.VAE(x_dim=3, z_dim=3, likelihood="gaussian", encoder=Identity())
    g = torch.Generator().manual_seed(0)
    assert abs(vl.mmd_to_prior(model, torch.randn(2000, 3, generator=g))) < 2e-3
    assert vl.mmd_to_prior(model, torch.randn(2000, 3, generator=g) * 2) > 0.02
