"""vaelab.priors: the standard normal, the VampPrior, the density-ratio trick and the implicit prior against
independent references (torch.distributions, closed forms, direct computations)."""

import math

import pytest
import torch
from helpers import diagonal_normal, implicit_model, params, results, same, small_data, vamp_model
from torch import distributions as D
from torch import nn

import vaelab as vl


def test_standard_normal_prior_log_prob_and_sample():
    prior = vl.StandardNormal(3)
    z = torch.randn(10, 3)
    torch.testing.assert_close(prior.log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(-1))
    samples = prior.sample(20000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (20000, 3)
    torch.testing.assert_close(samples.mean(0), torch.zeros(3), atol=0.03, rtol=0)
    torch.testing.assert_close(samples.var(0), torch.ones(3), atol=0.05, rtol=0)


def test_vampprior_log_prob_is_the_mixture_of_the_pseudo_inputs_posteriors():
    model = vamp_model()
    mu, logvar = model.encode(model.prior.pseudo_inputs())
    mixture = D.MixtureSameFamily(D.Categorical(logits=torch.zeros(6)), diagonal_normal(mu, logvar))
    z = torch.randn(4, 10, 3)
    assert torch.allclose(model.prior.log_prob(z), mixture.log_prob(z), atol=1e-4)
    assert model.prior.log_prob(z).shape == (4, 10)


def test_vampprior_with_identical_components_is_that_single_gaussian():
    init = torch.rand(1, 30).repeat(5, 1)
    model = vamp_model(k=5, init=init)
    mu, logvar = model.encode(init.clamp(0, 1)[:1])
    z = torch.randn(20, 3)
    assert torch.allclose(model.prior.log_prob(z), vl.gaussian_log_prob(z, mu, logvar), atol=1e-4)


def test_vampprior_is_stable_far_from_every_component():
    model = vamp_model(k=500)
    z = torch.full((3, 3), 60.0)
    assert torch.isfinite(model.prior.log_prob(z)).all()


def test_vampprior_kl_is_log_posterior_minus_log_prior_and_elbo_uses_it():
    model = vamp_model()
    x = small_data(50)
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)
    expected = diagonal_normal(mu, logvar).log_prob(z) - model.prior.log_prob(z)
    assert torch.allclose(model.prior.kl(mu, logvar, z), expected, atol=1e-4)


def test_vampprior_samples_come_from_the_learned_mixture_not_from_n01():
    # a linear encoder puts the three components far from N(0, I): means 5, −5 and 10 on every axis, σ² = 1/4
    model = vl.VAE(x_dim=30, z_dim=3, encoder=nn.Linear(30, 6), prior=vl.VampPrior(3, 30))
    with torch.no_grad():
        model.encoder.weight.zero_()
        model.encoder.weight[:3, 0], model.encoder.weight[:3, 1] = -10.0, 5.0
        model.encoder.bias[:3], model.encoder.bias[3:] = 5.0, math.log(0.25)
        model.prior.u.zero_()
        model.prior.u[1, 0], model.prior.u[2, 1] = 1, 1
    mu, _ = model.prior.components()
    assert torch.allclose(mu[:, 0], torch.tensor([5.0, -5.0, 10.0]))
    z = model.prior.sample(30000, generator=torch.Generator().manual_seed(0))
    expected_mean = mu.mean(0)
    expected_var = 0.25 + mu.pow(2).mean(0) - expected_mean.pow(2)
    assert torch.allclose(z.mean(0), expected_mean, atol=0.1)
    assert torch.allclose(z.var(0), expected_var, rtol=0.05)
    # and every sample sits near one of the components
    nearest = (z[:, None, :] - mu[None]).norm(dim=-1).min(1).values
    assert (nearest < 3).float().mean() > 0.99


def test_vampprior_trains_with_fit_and_its_pseudo_inputs_move():
    model = vamp_model()
    before = model.prior.u.detach().clone()
    history = vl.fit(model, small_data(), epochs=3, batch_size=50, progress=False)
    assert not torch.equal(before, model.prior.u.detach())
    assert history.train_elbo[-1] > history.train_elbo[0]
    assert model.sample(5).shape == (5, 30)


def test_vampprior_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="n_components"):
        vl.VampPrior(0, 30)
    with pytest.raises(ValueError, match=r"shape \[K, x_dim\] = \[K, 30\]"):
        vl.VampPrior(4, 30, init=torch.rand(4, 28, 28))
    with pytest.raises(ValueError, match="init has 3 rows but n_components=4"):
        vl.VampPrior(4, 30, init=torch.rand(3, 30))
    with pytest.raises(ValueError, match="x_dim=784"):
        vl.VAE(x_dim=30, z_dim=3, hidden=[8], prior=vl.VampPrior(4, 784))
    with pytest.raises(RuntimeError, match="not attached"):
        vl.VampPrior(4, 30).log_prob(torch.zeros(2, 3))


def test_a_prior_over_another_latent_size_is_refused():
    with pytest.raises(ValueError, match="z_dim=3"):
        vl.VAE(x_dim=30, z_dim=3, hidden=[8], prior=vl.StandardNormal(5))


# --------------------------------------------------------------------------------------- the density-ratio trick
def test_density_ratio_recovers_the_log_ratio_of_two_gaussians():
    q = D.Independent(D.Normal(torch.tensor([1.0, -0.5]), torch.tensor([0.6, 1.2])), 1)
    p = D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1)
    torch.manual_seed(0)
    zq, zp = q.sample((4000,)), p.sample((4000,))
    ratio = vl.fit_density_ratio(zq, zp, epochs=30, seed=0)
    # where both densities have mass (a sample of their even mixture), T(z) tracks log q(z)/p(z)
    z = torch.cat([q.sample((1000,)), p.sample((1000,))])
    with torch.no_grad():
        error = (ratio(z) - (q.log_prob(z) - p.log_prob(z))).abs()
    assert error.median() < 0.15 and error.mean() < 0.3, (error.median(), error.mean())


def test_density_ratio_of_a_distribution_to_itself_is_near_zero():
    torch.manual_seed(1)
    z1, z2 = torch.randn(3000, 2), torch.randn(3000, 2)
    ratio = vl.fit_density_ratio(z1, z2, epochs=10, seed=0)
    with torch.no_grad():
        assert ratio(torch.randn(1000, 2)).abs().mean() < 0.15


def test_density_ratio_bad_input():
    with pytest.raises(ValueError, match="dimension 2 but p_samples 3"):
        vl.fit_density_ratio(torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(ValueError, match="NaN"):
        vl.fit_density_ratio(torch.full((10, 2), math.nan), torch.randn(10, 2))
    with pytest.raises(ValueError, match="epochs"):
        vl.fit_density_ratio(torch.randn(10, 2), torch.randn(10, 2), epochs=0)
    with pytest.raises(ValueError, match="dimension 2"):
        vl.DensityRatio(2)(torch.zeros(4, 3))


# --------------------------------------------------------------------------------------- the implicit prior
def test_implicit_prior_kl_is_the_gaussian_kl_minus_the_density_ratio():
    model = implicit_model()
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    z = torch.randn(5, 3)
    expected = D.kl_divergence(diagonal_normal(mu, logvar), diagonal_normal(torch.zeros(3), torch.zeros(3)))
    assert torch.allclose(model.prior.kl(mu, logvar, z), expected - model.prior.ratio(z), atol=1e-5)
    assert torch.allclose(model.prior.log_prob(z), D.Normal(0, 1).log_prob(z).sum(-1) + model.prior.ratio(z))


def test_the_discriminator_trains_only_on_its_own_objective():
    # with a vanishing discriminator learning rate T_ψ must not move: the VAE's loss never updates it
    model = implicit_model(lr=1e-30)
    before = params(model.prior)
    encoder_before = params(model.encoder)
    history = vl.fit(model, small_data(), epochs=2, batch_size=50, progress=False)
    after = params(model.prior)
    assert all(torch.allclose(before[k], after[k], atol=1e-20) for k in before)
    assert not same(encoder_before, params(model.encoder))
    assert len(history.discriminator_loss) == 2


@pytest.mark.parametrize("every", ["batch", "epoch"])
def test_fit_trains_the_discriminator_towards_the_log_ratio_of_q_to_the_prior(every):
    # a frozen encoder with q(z|x) = N(1.5, 0.5 I) for every x, so q(z) is that Gaussian and log q/p is known
    encoder = nn.Linear(30, 6)
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.bias[:3], encoder.bias[3:] = 1.5, math.log(0.5)
    encoder.requires_grad_(False)
    torch.manual_seed(0)
    prior = vl.ImplicitPrior(3, hidden=[32, 32], every=every, steps=2, lr=3e-3)
    model = vl.VAE(x_dim=30, z_dim=3, hidden=[16], encoder=encoder, prior=prior)
    history = vl.fit(model, small_data(), epochs=15, batch_size=50, progress=False)
    # log 4 ≈ 1.39 is the logistic loss of a discriminator that cannot tell the two apart
    assert history.discriminator_loss[-1] < 0.5, history.discriminator_loss
    q = diagonal_normal(torch.full((3,), 1.5), torch.full((3,), math.log(0.5)))
    p = diagonal_normal(torch.zeros(3), torch.zeros(3))
    z = torch.cat([q.sample((1000,)), p.sample((1000,))])
    with torch.no_grad():
        learned, true = prior.ratio(z), q.log_prob(z) - p.log_prob(z)
    assert torch.corrcoef(torch.stack([learned, true]))[0, 1] > 0.95


def test_implicit_prior_resumes_exactly_with_its_discriminator(tmp_path):
    x = small_data()
    uninterrupted = implicit_model()
    h_full = vl.fit(uninterrupted, x, epochs=4, batch_size=50, progress=False)
    model = implicit_model()
    vl.fit(model, x, epochs=2, batch_size=50, progress=False, checkpoint=tmp_path / "run.pt")
    resumed = implicit_model(seed=5)  # other starting weights: everything must come from the checkpoint
    h_resumed = vl.fit(resumed, x, epochs=4, batch_size=50, progress=False, checkpoint=tmp_path / "run.pt")
    assert same(params(uninterrupted), params(resumed))
    assert results(h_full) == results(h_resumed)
    loaded = vl.load_checkpoint(tmp_path / "run.pt", model=implicit_model(seed=9)).model
    assert same(params(loaded.prior), params(uninterrupted.prior))


def test_implicit_prior_samples_follow_exp_t_times_the_standard_normal():
    prior = vl.ImplicitPrior(1, hidden=[4])
    # make T(z) = relu(z) − relu(−z) = z exactly: then q(z) ∝ N(z; 0, 1) e^z = N(z; 1, 1)
    with torch.no_grad():
        for layer in prior.ratio.net:
            if isinstance(layer, nn.Linear):
                layer.weight.zero_(), layer.bias.zero_()
        prior.ratio.net[0].weight[0, 0] = 1.0
        prior.ratio.net[0].weight[1, 0] = -1.0
        prior.ratio.net[-1].weight[0, :2] = torch.tensor([1.0, -1.0])
    z = prior.sample(20000, generator=torch.Generator().manual_seed(0), candidates=256)
    assert abs(float(z.mean()) - 1) < 0.05 and abs(float(z.var()) - 1) < 0.1


@pytest.mark.parametrize(
    "kwargs, message",
    [({"steps": 0}, r"steps \(discriminator updates per VAE batch\) must be a positive integer, got 0"),
     ({"every": "step"}, r"every \(when the discriminator trains\) must be one of 'batch', 'epoch'"),
     ({"lr": -1.0}, "learning rate")],
)
def test_implicit_prior_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vl.ImplicitPrior(3, **kwargs)


def test_implicit_prior_log_normalizer_is_log_e_exp_t_under_the_standard_normal():
    prior = vl.ImplicitPrior(1, hidden=[4])
    with torch.no_grad():  # T(z) = z: E[e^z] = e^{1/2} under N(0, 1)
        for layer in prior.ratio.net:
            if isinstance(layer, nn.Linear):
                layer.weight.zero_(), layer.bias.zero_()
        prior.ratio.net[0].weight[0, 0], prior.ratio.net[0].weight[1, 0] = 1.0, -1.0
        prior.ratio.net[-1].weight[0, :2] = torch.tensor([1.0, -1.0])
    estimate = prior.log_normalizer(200_000)
    # its standard error: Var[e^z]/E[e^z]² = e − 1 under N(0, 1), so √((e − 1)/n)
    assert estimate.stderr == pytest.approx(math.sqrt((math.e - 1) / 200_000), rel=0.1)
    assert abs(estimate - 0.5) < 4 * estimate.stderr
    with torch.no_grad():
        prior.ratio.net[-1].weight.zero_()  # T = 0: the prior is N(0, I) itself
    assert prior.log_normalizer(1000) == 0.0 and prior.log_normalizer(1000).stderr < 1e-8


def test_a_monte_carlo_kl_to_the_standard_normal_has_the_closed_form_as_its_mean_and_a_noisier_gradient():
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g) - 1
    closed, sampled = vl.StandardNormal(5), vl.StandardNormal(5, kl="monte-carlo")
    z = vl.reparameterize(mu, logvar, n_samples=200_000, generator=g)
    torch.testing.assert_close(sampled.kl(mu, logvar, z).mean(0), closed.kl(mu, logvar), atol=0.02, rtol=0)
    assert closed.config == "StandardNormal" and sampled.config == "StandardNormal(kl=monte-carlo)"
    # the gradient of the one-sample estimate with respect to μ varies from sample to sample; the closed form's not
    grads = []
    for _ in range(200):
        m = mu.clone().requires_grad_()
        sampled.kl(m, logvar, vl.reparameterize(m, logvar, generator=g)).sum().backward()
        grads.append(m.grad)
    spread = torch.stack(grads).std(0)
    assert spread.min() > 0.1 and torch.allclose(torch.stack(grads).mean(0), mu, atol=0.2)  # ∂KL/∂μ = μ
    with pytest.raises(ValueError, match=r"kl \(how the KL term is computed\) must be one of"):
        vl.StandardNormal(5, kl="exact")


@pytest.mark.parametrize("parameterization, moves", [("projected", True), ("sigmoid", True), ("hardtanh", False)])
def test_pseudo_inputs_at_the_bounds_get_a_gradient_unless_clipped_by_a_hard_tanh(parameterization, moves):
    """The one-hot toy's pseudo-inputs start at exactly 0 and 1: a hard tanh gives them no gradient at all."""
    torch.manual_seed(0)
    prior = vl.VampPrior(4, 4, init=torch.eye(4), parameterization=parameterization)
    model = vl.VAE(x_dim=4, z_dim=2, hidden=[16], prior=prior)
    torch.testing.assert_close(prior.pseudo_inputs(), torch.eye(4), atol=1e-3, rtol=0)
    x = vl.load("onehot", split="train", n=200, verbose=False)
    model.loss(x).loss.backward()
    assert (prior.u.grad.abs().sum() > 0) == moves
    before, raw = prior.pseudo_inputs().detach().clone(), prior.u.detach().clone()
    vl.fit(model, x, epochs=3, batch_size=50, lr=1e-2, progress=False)
    after = prior.pseudo_inputs().detach()
    assert not torch.equal(prior.u, raw) if moves else torch.equal(after, before)
    if parameterization == "projected":  # the sigmoid's gradient vanishes near the bounds: it moves, but slowly
        assert (after - before).abs().max() > 1e-3
    assert after.min() >= 0 and after.max() <= 1  # within the data range, whatever the parameterization


def test_projected_pseudo_inputs_are_trained_directly_and_clamped_after_every_step():
    prior = vl.VampPrior(3, 30, init=torch.full((3, 30), 1.5), parameterization="projected")
    assert prior.u.max() == 1.0  # the start is clamped into the bounds
    model = vl.VAE(x_dim=30, z_dim=3, hidden=[16], prior=prior)
    assert prior.pseudo_inputs() is prior.u and prior.config == "VampPrior(K=3, projected)"
    with pytest.raises(ValueError, match="parameterization must be one of 'projected', 'hardtanh', 'sigmoid'"):
        vl.VampPrior(3, 30, parameterization="tanh")
    assert model.prior is prior
