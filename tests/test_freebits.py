"""vaelab.freebits: the free-bits loss (eq. 2.4) against a direct computation with torch.distributions, the VAE's
loss when τ = 0, no KL gradient below τ, and the inputs it refuses."""

import pytest
import torch
from torch import distributions as D

import vaelab as vl


def _pair(free_bits: float, seed: int = 0):
    torch.manual_seed(seed)
    model = vl.FreeBitsVAE(x_dim=12, z_dim=5, hidden=[16], free_bits=free_bits)
    x = torch.bernoulli(torch.full((32, 12), 0.4))
    return model, x


def _loss_with_noise(model, x, seed=1, **kwargs):
    torch.manual_seed(seed)  # the same reparameterization noise for every call
    return model.loss(x, **kwargs)


def test_free_bits_loss_is_the_clamped_kl_per_dimension_plus_the_reconstruction():
    model, x = _pair(free_bits=0.04)  # a fresh model's KL per dimension is a few hundredths of a nat
    loss = _loss_with_noise(model, x, kl_weight=2.0)
    mu, logvar = model.encode(x)
    per_dimension = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).mean(0)  # [z_dim]
    torch.manual_seed(1)
    recon = model.terms(x).recon.mean()
    expected = 2.0 * per_dimension.clamp(min=0.04).sum() - recon
    torch.testing.assert_close(loss.loss, expected)
    torch.testing.assert_close(loss.recon, recon)
    torch.testing.assert_close(loss.kl, per_dimension.sum(), msg="the reported KL is the ELBO's, unclamped")
    assert (per_dimension < 0.04).any() and (per_dimension > 0.04).any(), "the test covers both sides of τ"


def test_zero_free_bits_is_the_vae_loss():
    model, x = _pair(free_bits=0.0)
    vae = vl.VAE(x_dim=12, z_dim=5, hidden=[16])
    vae.load_state_dict(model.state_dict())
    torch.testing.assert_close(_loss_with_noise(model, x).loss, _loss_with_noise(vae, x).loss)


def test_no_kl_gradient_reaches_the_encoder_below_the_free_bits():
    """With τ above every dimension's KL, the loss is the reconstruction plus a constant: its encoder gradient is
    the reconstruction's alone."""
    model, x = _pair(free_bits=50.0)
    _loss_with_noise(model, x).loss.backward()
    with_free_bits = [p.grad.clone() for p in model.encoder.parameters()]
    model.zero_grad()
    torch.manual_seed(1)
    (-model.terms(x).recon.mean()).backward()
    for a, b in zip(with_free_bits, (p.grad for p in model.encoder.parameters()), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.5"])
def test_bad_free_bits_are_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match="free_bits is τ.*>= 0"):
        vl.FreeBitsVAE(x_dim=4, z_dim=2, free_bits=bad)


def test_free_bits_need_the_standard_normal_prior_with_its_closed_form_kl():
    with pytest.raises(ValueError, match="standard normal prior.*VampPrior"):
        vl.FreeBitsVAE(x_dim=4, z_dim=2, prior=vl.VampPrior(3, 4))
    with pytest.raises(ValueError, match="closed-form KL"):
        vl.FreeBitsVAE(x_dim=4, z_dim=2, prior=vl.StandardNormal(2, kl="monte-carlo"))


def test_the_free_bits_kind_builds_trains_saves_and_loads(tmp_path):
    spec = vl.experiments.Spec("fb", "free-bits", z_dim=2, hidden=[8], epochs=1, options={"free_bits": 0.25})
    model = vl.experiments.build(spec, x_dim=6)
    assert isinstance(model, vl.FreeBitsVAE) and model.free_bits == 0.25 and model.config["free_bits"] == 0.25
    vl.fit(model, torch.bernoulli(torch.full((40, 6), 0.5)), epochs=1, batch_size=20, progress=False)
    model.save(tmp_path / "fb")
    loaded = vl.load_model(tmp_path / "fb")
    assert isinstance(loaded, vl.FreeBitsVAE) and loaded.free_bits == 0.25
    with pytest.raises(ValueError, match="no option"):
        vl.experiments.check_spec(vl.experiments.Spec("fb", "free-bits", options={"delta": 1.0}))
