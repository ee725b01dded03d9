"""vaelab.likelihoods: the Bernoulli and Gaussian decoders' log-densities against torch.distributions, a learned γ
against the mean squared error that maximizes the likelihood, and a fixed γ that is no parameter."""

import math

import pytest
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


# --------------------------------------------------------------------------- the autoregressive Bernoulli decoder
def _random_autoregressive(x_dim: int, seed: int = 0):
    from vaelab.likelihoods import AutoregressiveBernoulli

    g = torch.Generator().manual_seed(seed)
    likelihood = AutoregressiveBernoulli(x_dim)
    with torch.no_grad():  # away from its zero start, so that the pixels really depend on each other
        likelihood.weight.copy_(torch.randn(x_dim, x_dim, generator=g) * 2)
        likelihood.bias.copy_(torch.randn(x_dim, generator=g))
    return likelihood, g


def _all_binary(x_dim: int) -> torch.Tensor:
    return torch.tensor([[(i >> d) & 1 for d in range(x_dim)] for i in range(2 ** x_dim)], dtype=torch.float32)


def test_autoregressive_bernoulli_is_the_chain_rule_of_its_conditionals():
    """log p(x|z) = Σ_d log Bern(x_d; sigmoid(η_d + Σ_{d'<d} W_dd' x_d' + b_d)), written out pixel by pixel with
    torch.distributions, for several samples of z against one x."""
    likelihood, g = _random_autoregressive(5)
    eta = torch.randn(3, 4, 5, generator=g)
    x = torch.bernoulli(torch.full((4, 5), 0.5), generator=g)
    by_hand = torch.zeros(3, 4)
    for d in range(5):
        logit = eta[..., d] + likelihood.bias[d].detach()
        for e in range(d):
            logit = logit + likelihood.weight[d, e].detach() * x[:, e]
        by_hand += D.Bernoulli(logits=logit).log_prob(x[:, d].expand_as(logit))
    torch.testing.assert_close(likelihood.log_prob(x, eta).detach(), by_hand)


def test_autoregressive_bernoulli_is_normalized_and_samples_from_itself():
    """Over all 2^4 images the probabilities sum to 1 for every z, and sample() draws them with those frequencies."""
    likelihood, g = _random_autoregressive(4, seed=1)
    images = _all_binary(4)
    eta = torch.randn(4, generator=g)
    with torch.no_grad():
        probabilities = likelihood.log_prob(images, eta.expand(len(images), 4)).exp()
        torch.testing.assert_close(probabilities.sum(), torch.tensor(1.0))
        draws = likelihood.sample(eta.expand(40_000, 4), generator=g)
    codes = (draws * 2 ** torch.arange(4)).sum(-1).long()
    frequencies = torch.bincount(codes, minlength=16).double() / len(codes)
    # binomial standard error of each frequency: 4 of them is a generous but failing-when-wrong margin
    se = (probabilities.double() * (1 - probabilities.double()) / len(codes)).sqrt()
    assert ((frequencies - probabilities.double()).abs() <= 4 * se + 1e-4).all(), (frequencies, probabilities)


def test_autoregressive_bernoulli_never_looks_at_the_pixel_it_predicts_or_later_ones():
    likelihood, g = _random_autoregressive(6, seed=2)
    x = torch.bernoulli(torch.full((1, 6), 0.5), generator=g).requires_grad_(True)
    logits = likelihood.logits(x, torch.zeros(1, 6))
    for d in range(6):
        (grad,) = torch.autograd.grad(logits[0, d], x, retain_graph=True)
        assert (grad[0, d:] == 0).all(), f"pixel {d}'s logit depends on pixels {d} and after"
        assert (grad[0, :d] != 0).all()


def test_autoregressive_bernoulli_starts_as_the_plain_bernoulli_decoder_and_says_what_it_cannot_do():
    from vaelab.likelihoods import AutoregressiveBernoulli, make_likelihood

    g = torch.Generator().manual_seed(3)
    eta, x = torch.randn(5, 7, generator=g), torch.bernoulli(torch.full((5, 7), 0.3), generator=g)
    torch.testing.assert_close(AutoregressiveBernoulli(7).log_prob(x, eta), Bernoulli().log_prob(x, eta))
    with pytest.raises(NotImplementedError, match="no closed-form E\\[x\\|z\\].*sample"):
        AutoregressiveBernoulli(7).mean(eta)
    with pytest.raises(ValueError, match="8 logits.*7 pixels"):
        AutoregressiveBernoulli(7).log_prob(torch.zeros(5, 8), torch.zeros(5, 8))
    with pytest.raises(ValueError, match="positive integer"):
        AutoregressiveBernoulli(0)
    with pytest.raises(ValueError, match="autoregressive-bernoulli"):
        make_likelihood("autoregressive")
    with pytest.raises(ValueError, match="needs the number of pixels.*x_dim"):
        make_likelihood("autoregressive-bernoulli")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vl.VAE(x_dim=7, z_dim=2, hidden=[8], likelihood="autoregressive-bernoulli").check_data(torch.full((3, 7), 2.0))


def test_a_vae_with_the_autoregressive_decoder_trains_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    data = torch.bernoulli(torch.full((64, 6), 0.5))
    model = vl.VAE(x_dim=6, z_dim=2, hidden=[8], likelihood="autoregressive-bernoulli")
    assert model.config["likelihood"] == "autoregressive-bernoulli"
    vl.fit(model, data, epochs=2, batch_size=16, progress=False)
    assert model.likelihood.weight.abs().sum() > 0, "W is learned with the rest of the model"
    model.save(tmp_path / "ar")
    loaded = vl.load_model(tmp_path / "ar")
    torch.testing.assert_close(loaded.likelihood.weight, model.likelihood.weight)
    torch.manual_seed(1)
    a = model.terms(data)
    torch.manual_seed(1)
    torch.testing.assert_close(loaded.terms(data), a)
