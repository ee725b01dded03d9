"""vaelab.likelihoods: the Bernoulli and Gaussian decoders' log-densities against torch.distributions, a learned γ
against the mean squared error that maximizes the likelihood, and a fixed γ that is no parameter."""

import math

import torch
from torch import distributions as D

import vaelab as vl
from vaelab.likelihoods import Bernoulli, Gaussian


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
