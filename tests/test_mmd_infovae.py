"""MMD (eq. 5.4) against a direct double loop; InfoVAE and WAE objectives, refusals and diagnostics (chapter 5)."""

import math

import pytest
import torch

import vaelab as vl
from vaelab.mmd import WAE_SCALES, kernel_matrix, mmd2
from test_train import small_data


def direct_mmd2(x, y, k):
    """Eq. 5.4 written as loops over pairs, with the i = j terms left out of the within-sample sums."""
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("kernel", ["rbf", "imq", "polynomial"])
def test_mmd_equals_a_direct_double_loop(kernel):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(9, 3, generator=g, dtype=torch.float64) + 0.5
    c = 2 * 3  # C = 2·d·σ²
    k = {
        "rbf": lambda a, b: math.exp(-float((a - b).pow(2).sum()) / c),
        "imq": lambda a, b: c / (c + float((a - b).pow(2).sum())),
        "polynomial": lambda a, b: (float(a @ b) / 3 + 1) ** 3,
    }[kernel]
    assert float(mmd2(x, y, kernel)) == pytest.approx(direct_mmd2(x, y, k), rel=1e-10)


def test_multi_scale_kernel_is_the_sum_over_scales():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 4, generator=g), torch.randn(6, 4, generator=g)
    total = sum(kernel_matrix(x, y, "imq", scale=8.0 * s) for s in WAE_SCALES)
    assert torch.allclose(kernel_matrix(x, y, "imq", scale=8.0, scales=WAE_SCALES), total)


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_a_mean_shift():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(2000, 4, generator=g), torch.randn(2000, 4, generator=g)
    same = float(mmd2(x, y))
    shifted = [float(mmd2(x, y + shift)) for shift in (0.25, 0.5, 1.0, 2.0)]
    assert abs(same) < 2e-3
    assert all(a < b for a, b in zip([same, *shifted], shifted))
    assert shifted[0] > 10 * abs(same)


def test_unbiased_estimate_averages_to_zero_between_samples_of_one_distribution():
    g = torch.Generator().manual_seed(3)
    values = torch.stack([mmd2(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g)) for _ in range(400)])
    assert abs(float(values.mean())) < 3 * float(values.std()) / math.sqrt(len(values))
    assert float((values < 0).float().mean()) > 0.2  # unbiased: often below 0 (a biased V-statistic never is)


def test_mmd_gradients_flow_to_the_samples():
    x = torch.randn(50, 2, requires_grad=True)
    mmd2(x, torch.randn(50, 2) + 1).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 3)), "different widths"),
        (lambda: mmd2(torch.randn(1, 2), torch.randn(5, 2)), "at least 2 samples"),
        (lambda: mmd2(torch.randn(5), torch.randn(5, 1)), r"shape \[n, d\]"),
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 2), scale=-1.0), "positive number"),
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 2), kernel="gauss"), "Unknown kernel"),
        (lambda: mmd2(torch.randn(5, 2), torch.randn(5, 2), scales=(1.0, -2.0)), "positive multiples"),
    ],
)
def test_mmd_bad_input_gives_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------------- InfoVAE / WAE


def small_info(seed=0, **kw):
    torch.manual_seed(seed)
    return vl.InfoVAE(x_dim=30, z_dim=3, hidden=[16], **kw)


def test_infovae_loss_is_eq_5_1_with_the_batch_mmd():
    model = small_info(alpha=0.3, lam=50.0)
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
    info, vae = small_info(alpha=0.0, lam=1.0), vl.VAE(x_dim=30, z_dim=3, hidden=[16])
    vae.load_state_dict(info.state_dict())
    torch.manual_seed(0)
    a = info.loss(x)
    torch.manual_seed(0)
    b = vae.loss(x)
    assert torch.allclose(a.loss, b.loss) and float(a.penalties["mmd2"].detach()) != 0


@pytest.mark.parametrize(
    "kw, message",
    [({"alpha": 0.0, "lam": 0.5}, r"alpha \+ lam − 1 = -0.5 < 0"), ({"alpha": 1.5, "lam": 10.0}, "alpha = 1.5 > 1"),
     ({"alpha": float("nan")}, "finite number"), ({"kernel": "polynomial"}, "kernel must be one of 'rbf', 'imq'")],
)
def test_infovae_refuses_weights_that_reward_a_divergence(kw, message):
    with pytest.raises(ValueError, match=message):
        small_info(**kw)


def test_wae_encoder_is_deterministic_and_has_no_elbo():
    torch.manual_seed(0)
    model = vl.WAE(x_dim=30, z_dim=3, hidden=[16], lam=10.0)
    x = torch.bernoulli(small_data(64))
    assert model.encoder[-1].out_features == 3  # z_dim numbers: no variance head
    (recon, kl), z = model.terms_and_codes(x)
    assert torch.equal(z, model.encoder(x)) and torch.equal(kl, torch.zeros(64))
    out = model.loss(x)
    assert torch.allclose(out.loss, -recon.mean() + 10.0 * out.penalties["mmd2"])  # α = 1: no KL term
    for call in (lambda: vl.elbo(model, x), lambda: vl.log_likelihood(model, x, k=2),
                 lambda: vl.elbo_surgery(model, x), lambda: vl.kl_per_dimension(model, x)):
        with pytest.raises(ValueError, match="deterministic encoder"):
            call()
    moments = vl.aggregate_posterior(model, x)  # point masses: q(z)'s covariance is that of μ(x)
    mu = model.encoder(x).detach().double()
    assert torch.allclose(moments.covariance, torch.cov(mu.T, correction=0), atol=1e-6)


def test_wae_refuses_several_samples_per_example():
    with pytest.raises(ValueError, match="n_samples"):
        vl.WAE(x_dim=30, z_dim=3, hidden=[16], n_samples=2)


def test_mmd_training_pulls_the_aggregate_posterior_to_the_prior():
    """Against an autoencoder without the penalty (λ = 0 via alpha = 1, lam = 0), the WAE's MMD to N(0, I) is smaller."""
    x = small_data(400)
    far = {}
    for lam in (0.0, 100.0):
        torch.manual_seed(0)
        model = vl.WAE(x_dim=30, z_dim=2, hidden=[32], lam=lam)
        history = vl.fit(model, x, epochs=15, batch_size=50, progress=False)
        far[lam] = vl.mmd_to_prior(model, x, n=400)
        assert len(history.penalties["mmd2"]) == 15
    assert far[100.0] < 0.5 * far[0.0]


def test_mmd_to_prior_of_a_model_whose_codes_are_the_prior_is_near_zero():
    class Identity(torch.nn.Module):  # encoder: x ↦ (μ = x, log σ² = log 1e-8): q(z) is the data distribution
        def forward(self, x):
            return torch.cat([x, torch.full_like(x, math.log(1e-8))], -1)

    model = vl.VAE(x_dim=3, z_dim=3, likelihood="gaussian", encoder=Identity())
    g = torch.Generator().manual_seed(0)
    assert abs(vl.mmd_to_prior(model, torch.randn(2000, 3, generator=g))) < 2e-3
    assert vl.mmd_to_prior(model, torch.randn(2000, 3, generator=g) * 2) > 0.02
