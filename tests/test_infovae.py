"""vaelab.infovae (chapter 5): the InfoVAE loss against eq. 5.1 with the batch MMD computed directly and against the
VAE it reduces to, the WAE's deterministic encoder, refused weights and settings, and MMD training pulling q(z)
towards the prior (measured against an autoencoder without the penalty)."""

import pytest
import torch
from helpers import small_data

import vaelab as vl
from vaelab.mmd import mmd2


def small_info(seed=0, **kw):
    torch.manual_seed(seed)
    return vl.InfoVAE(x_dim=30, z_dim=3, hidden=[16], **kw)


def test_infovae_loss_is_eq_5_1_with_the_batch_mmd():
    model = small_info(alpha=0.3, mmd_lambda=50.0)
    x = torch.bernoulli(small_data(64))
    torch.manual_seed(5)
    out = model.loss(x, kl_weight=0.5)
    torch.manual_seed(5)  # the same noise: z ~ q(z|x), then the prior samples of the MMD
    (recon, kl), z = model.terms_and_codes(x)
    prior = torch.randn(64, 3)
    mmd = mmd2(z, prior, "imq")
    expected = 0.5 * (1 - 0.3) * kl.mean() - recon.mean() + (0.3 + 50 - 1) * mmd
    assert torch.allclose(out.loss, expected) and torch.allclose(out.penalties["mmd2"], mmd)


def test_infovae_with_alpha_0_and_lambda_1_is_the_vae():
    x = torch.bernoulli(small_data(64))
    info, vae = small_info(alpha=0.0, mmd_lambda=1.0), vl.VAE(x_dim=30, z_dim=3, hidden=[16])
    vae.load_state_dict(info.state_dict())
    torch.manual_seed(0)
    a = info.loss(x)
    torch.manual_seed(0)
    b = vae.loss(x)
    assert torch.allclose(a.loss, b.loss) and float(a.penalties["mmd2"].detach()) != 0


@pytest.mark.parametrize(
    "kw, message",
    [({"alpha": 0.0, "mmd_lambda": 0.5}, r"alpha \+ mmd_lambda − 1 = -0.5 < 0"),
     ({"alpha": 1.5, "mmd_lambda": 10.0}, "alpha = 1.5 > 1"),
     ({"alpha": float("nan")}, "finite number"), ({"kernel": "polynomial"}, "kernel must be one of 'rbf', 'imq'")],
)
def test_infovae_refuses_weights_that_reward_a_divergence(kw, message):
    with pytest.raises(ValueError, match=message):
        small_info(**kw)


def test_wae_encoder_is_deterministic_and_has_no_elbo():
    torch.manual_seed(0)
    model = vl.WAE(x_dim=30, z_dim=3, hidden=[16], mmd_lambda=10.0)
    x = torch.bernoulli(small_data(64))
    assert model.encoder[-1].out_features == 3  # z_dim numbers: no variance head
    (recon, kl), z = model.terms_and_codes(x)
    assert torch.equal(z, model.encoder(x)) and torch.equal(kl, torch.zeros(64))
    out = model.loss(x)
    assert torch.allclose(out.loss, -recon.mean() + 10.0 * out.penalties["mmd2"])  # α = 1: no KL term
    for call in (lambda: vl.elbo(model, x), lambda: vl.log_likelihood(model, x, k=2, proposal="encoder"),
                 lambda: vl.elbo_surgery(model, x), lambda: vl.kl_per_dimension(model, x)):
        with pytest.raises(ValueError, match="deterministic encoder"):
            call()
    # but its decoder and prior define p(x): the Laplace proposal estimates it, below the best single code's joint
    estimate = vl.log_likelihood(model, x, k=50, per_example=True)
    assert torch.isfinite(estimate).all() and estimate.shape == (64,)
    moments = vl.aggregate_posterior(model, x)  # point masses: q(z)'s covariance is that of μ(x)
    mu = model.encoder(x).detach().double()
    assert torch.allclose(moments.covariance, torch.cov(mu.T, correction=0), atol=1e-6)


def test_wae_refuses_several_samples_per_example():
    with pytest.raises(ValueError, match="n_samples"):
        vl.WAE(x_dim=30, z_dim=3, hidden=[16], n_samples=2)


def test_mmd_training_pulls_the_aggregate_posterior_to_the_prior():
    """Against an autoencoder without the penalty (λ = 0 via alpha = 1, mmd_lambda = 0), the WAE's MMD to N(0, I) is
    smaller."""
    x = small_data(400)
    far = {}
    for lam in (0.0, 100.0):
        torch.manual_seed(0)
        model = vl.WAE(x_dim=30, z_dim=2, hidden=[32], mmd_lambda=lam)
        history = vl.fit(model, x, epochs=15, batch_size=50, progress=False)
        far[lam] = vl.mmd_to_prior(model, x, n=400)
        assert len(history.penalties["mmd2"]) == 15
    assert far[100.0] < 0.5 * far[0.0]
