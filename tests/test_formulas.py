"""Every formula of the core against an independent reference (torch.distributions or a direct computation)."""

import math

import pytest
import torch
from torch import distributions as D

import vaelab as vl
from vaelab.likelihoods import Bernoulli, Gaussian


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


def test_standard_normal_prior_log_prob_and_sample():
    prior = vl.StandardNormal(3)
    z = torch.randn(10, 3)
    torch.testing.assert_close(prior.log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(-1))
    samples = prior.sample(20000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (20000, 3)
    torch.testing.assert_close(samples.mean(0), torch.zeros(3), atol=0.03, rtol=0)
    torch.testing.assert_close(samples.var(0), torch.ones(3), atol=0.05, rtol=0)


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


def test_bernoulli_log_prob_matches_torch_distributions_including_broadcast():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 8, 10, generator=g) * 3  # 7 samples of z for 8 examples
    x = torch.bernoulli(torch.full((8, 10), 0.4), generator=g)
    reference = D.Bernoulli(logits=logits).log_prob(x.expand_as(logits)).sum(-1)
    torch.testing.assert_close(Bernoulli().log_prob(x, logits), reference)
    torch.testing.assert_close(Bernoulli().mean(logits), torch.sigmoid(logits))


def test_gaussian_likelihood_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.randn(6, 9, generator=g), torch.randn(6, 9, generator=g)
    for gamma in (0.01, 0.1, 2.5):
        reference = D.Normal(mean, math.sqrt(gamma)).log_prob(x).sum(-1)  # γ is the variance
        torch.testing.assert_close(Gaussian(gamma=gamma).log_prob(x, mean), reference)


def test_learned_gamma_includes_its_log_term_and_finds_the_mean_squared_error():
    """With the d·log γ term, the maximizing γ is the mean squared error per dimension; without it γ would run off."""
    g = torch.Generator().manual_seed(0)
    x, mean = torch.randn(200, 6, generator=g), torch.zeros(200, 6)
    likelihood = Gaussian(gamma=1.0, learn_gamma=True)
    assert [name for name, _ in likelihood.named_parameters()] == ["log_gamma"]
    optimizer = torch.optim.Adam(likelihood.parameters(), lr=0.05)
    for _ in range(800):
        optimizer.zero_grad()
        (-likelihood.log_prob(x, mean).mean()).backward()
        optimizer.step()
    torch.testing.assert_close(likelihood.gamma.detach(), (x - mean).pow(2).mean(), rtol=1e-3, atol=0)


def test_fixed_gamma_is_not_a_parameter():
    assert list(Gaussian(gamma=0.3).parameters()) == []
    model = vl.VAE(x_dim=4, z_dim=2, hidden=[3], likelihood="gaussian", gamma=0.3)
    torch.testing.assert_close(model.likelihood.gamma, torch.tensor(0.3))


def test_elbo_terms_are_the_closed_form_kl_and_the_likelihood_at_the_sample():
    torch.manual_seed(0)
    model = vl.VAE(x_dim=12, z_dim=3, hidden=[8])
    x = torch.rand(5, 12)
    torch.manual_seed(1)
    terms = model.terms(x)
    mu, logvar = model.encode(x)
    torch.manual_seed(1)
    z = model.reparameterize(mu, logvar)
    torch.testing.assert_close(terms.kl, vl.gaussian_kl(mu, logvar))
    torch.testing.assert_close(terms.recon, Bernoulli().log_prob(x, model.decode(z)))
    torch.testing.assert_close(terms.elbo, terms.recon - terms.kl)
    loss = model.loss(x, kl_weight=0.5)
    assert loss.loss.shape == () and loss.recon.shape == ()


def test_several_samples_average_the_reconstruction_term():
    torch.manual_seed(0)
    model = vl.VAE(x_dim=12, z_dim=3, hidden=[8], n_samples=4)
    x = torch.rand(5, 12)
    torch.manual_seed(3)
    terms = model.terms(x)
    mu, logvar = model.encode(x)
    torch.manual_seed(3)
    z = model.reparameterize(mu, logvar, 4)
    assert z.shape == (4, 5, 3)
    torch.testing.assert_close(terms.recon, Bernoulli().log_prob(x, model.decode(z)).mean(0))


def test_kl_weight_scales_only_the_kl_term():
    torch.manual_seed(0)
    model = vl.VAE(x_dim=12, z_dim=3, hidden=[8])
    x = torch.rand(5, 12)
    torch.manual_seed(0)
    a = model.loss(x, kl_weight=0.0)
    torch.manual_seed(0)
    b = model.loss(x, kl_weight=2.0)
    torch.testing.assert_close(a.loss, -a.recon)
    torch.testing.assert_close(b.loss, 2.0 * b.kl - b.recon)


def test_mlp_matches_kingma_welling_configuration():
    net = vl.MLP(784, [500], 100, activation="tanh")
    assert [type(m).__name__ for m in net] == ["Linear", "Tanh", "Linear"]
    assert net[0].weight.shape == (500, 784) and net[2].weight.shape == (100, 500)
    model = vl.VAE(x_dim=784, z_dim=50, hidden=[500], activation="tanh")
    assert model.encoder[0].out_features == 500 and model.decoder[-1].out_features == 784


def test_gated_layer_is_a_linear_map_times_a_sigmoid_gate():
    # Dauphin et al. (2017), Tomczak & Welling's hidden layer: h = (W x + b) ⊙ σ(V x + c), computed directly
    torch.manual_seed(0)
    layer = vl.nets.GatedLinear(7, 5)
    W, V = layer.both.weight[:5], layer.both.weight[5:]
    b, c = layer.both.bias[:5], layer.both.bias[5:]
    x = torch.randn(11, 7)
    expected = (x @ W.T + b) * torch.sigmoid(x @ V.T + c)
    torch.testing.assert_close(layer(x), expected)
    # a gate far below zero shuts its unit; far above, the unit is the plain linear map
    with torch.no_grad():
        layer.both.bias[5:] = torch.tensor([-100.0, -100.0, 100.0, 100.0, 100.0])
    h = layer(x)
    assert h[:, :2].abs().max() < 1e-30
    torch.testing.assert_close(h[:, 2:], x @ W[2:].T + b[2:])


def test_gated_mlp_is_the_vampprior_papers_network():
    net = vl.MLP(784, [300, 300], 80, activation="gated")
    assert [type(m).__name__ for m in net] == ["GatedLinear", "GatedLinear", "Linear"]
    assert net[0].both.weight.shape == (600, 784) and net[1].both.weight.shape == (600, 300)
    model = vl.VAE(x_dim=784, z_dim=40, hidden=[300, 300], activation="gated", prior=vl.VampPrior(5, 784))
    x = torch.rand(4, 784).bernoulli()
    out = model.loss(x)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.encoder[0].both.weight.grad.abs().sum() > 0
