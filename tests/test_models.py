"""vaelab.models, the VAE class: the ELBO's terms against the closed-form KL and the likelihood at the sample
computed directly, several samples, the KL weight, samples and reconstructions as data-space means, and clear
refusals of bad settings, custom networks of the wrong width and bad data."""

import math

import pytest
import torch
from helpers import small_data, small_model
from torch import nn

import vaelab as vl
from vaelab.likelihoods import Bernoulli


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


def test_samples_and_reconstructions_are_data_space_means():
    torch.manual_seed(0)
    model = vl.VAE(x_dim=20, z_dim=2, hidden=[8])
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 20) and samples.min() >= 0 and samples.max() <= 1
    rec = model.reconstruct(torch.rand(4, 20))
    assert rec.shape == (4, 20) and not rec.requires_grad
    assert math.isclose(float(model.sample(3, generator=torch.Generator().manual_seed(1)).sum()),
                        float(model.sample(3, generator=torch.Generator().manual_seed(1)).sum()))


# ---- bad settings and bad input ----------------------------------------------------------------------------------
def test_custom_networks_of_the_wrong_width_are_named():
    with pytest.raises(ValueError, match=r"encoder returned shape \[5, 4\].*\[N, 6\]"):
        vl.VAE(x_dim=30, z_dim=3, encoder=nn.Linear(30, 4)).terms(torch.rand(5, 30))
    with pytest.raises(ValueError, match=r"decoder returned shape \[5, 29\]"):
        vl.VAE(x_dim=30, z_dim=3, decoder=nn.Linear(3, 29)).terms(torch.rand(5, 30))


def test_other_bad_model_settings():
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'"):
        vl.VAE(likelihood="poisson")
    with pytest.raises(ValueError, match="gamma is the decoder variance"):
        vl.VAE(likelihood="gaussian", gamma=0)
    with pytest.raises(ValueError, match=r"Unknown activation 'swish'; choose one of .*'gated'"):
        vl.VAE(activation="swish")
    with pytest.raises(ValueError, match=r"hidden\[1\]"):
        vl.VAE(hidden=[10, 0])


def test_data_with_nan_or_inf_is_refused():
    x = small_data()
    x[7, 3] = float("nan")
    with pytest.raises(ValueError, match=r"1 NaN and 0 infinite values \(the first in row 7\)"):
        vl.fit(small_model(), x, epochs=1, progress=False)
    x[7, 3], x[9, 0] = 0.5, float("inf")
    with pytest.raises(ValueError, match="0 NaN and 1 infinite"):
        vl.elbo(small_model(), x)


def test_bernoulli_needs_data_in_unit_interval():
    with pytest.raises(ValueError, match=r"needs data in \[0, 1\].*divide by 255"):
        vl.fit(small_model(), small_data() * 255, epochs=1, progress=False)
    vl.fit(small_model(likelihood="gaussian"), small_data() * 2 - 1, epochs=1, batch_size=100, progress=False)


def test_wrong_feature_count_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"shape \[N, 30\].*got shape \[400, 31\]"):
        vl.fit(small_model(), torch.rand(400, 31), epochs=1, progress=False)
    with pytest.raises(ValueError, match="Their 1024 values per example do not match x_dim=784"):
        vl.log_likelihood(vl.VAE(x_dim=784, z_dim=2), torch.rand(10, 32, 32), k=2)  # images of another size


@pytest.mark.parametrize("z_dim", [0, -1, 2.5, True])
def test_z_dim_must_be_a_positive_integer(z_dim):
    with pytest.raises(ValueError, match="z_dim .*positive integer"):
        vl.VAE(x_dim=30, z_dim=z_dim)


def test_calling_the_model_is_its_loss_so_pytorch_tooling_can_call_it():
    torch.manual_seed(0)
    model, x = vl.VAE(x_dim=30, z_dim=3, hidden=[16]), torch.rand(8, 30)
    torch.manual_seed(1)
    called = model(x)
    torch.manual_seed(1)
    direct = model.loss(x)
    assert isinstance(called, vl.Loss) and torch.equal(called.loss, direct.loss)
    called.loss.backward()  # a training step any trainer can take
    assert all(p.grad is not None for p in model.encoder.parameters())
    torch.manual_seed(1)
    functional = torch.func.functional_call(model, dict(model.named_parameters()), (x,))  # as torch.func wraps it
    assert torch.equal(functional.loss, direct.loss)
