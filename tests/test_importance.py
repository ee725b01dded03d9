"""vaelab.importance: the importance-sampled log-likelihood with the defensive mixture proposal, against a model whose
log p(x) is known exactly (probabilistic PCA, helpers.ppca), against itself with only the encoder's variance shrunk
(log p(x) does not depend on the encoder), and its standard error against the spread of repeated estimates."""

import pickle
import statistics

import pytest
import torch
from helpers import X_DIM, ppca, small_data
from torch import nn

import vaelab as vl
from vaelab import importance


class ShrunkEncoder(nn.Module):
    """The same encoder with every posterior variance divided by exp(shift): a proposal far sharper than p(z|x)."""

    def __init__(self, encoder, shift):
        super().__init__()
        self.encoder, self.shift = encoder, shift

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, -1)
        return torch.cat([mu, logvar - self.shift], -1)


@pytest.fixture(scope="module")
def trained():
    """A small VAE trained for a few epochs, and test data."""
    torch.manual_seed(0)
    x = small_data(600)
    model = vl.VAE(x_dim=30, z_dim=3, hidden=[32])
    vl.fit(model, x[:500], epochs=20, batch_size=50, lr=3e-3, progress=False)
    return model, torch.bernoulli(x[500:], generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("proposal", importance.PROPOSALS)
def test_every_proposal_recovers_the_exact_ppca_log_likelihood(proposal):
    model, exact, x = ppca(posterior_scale=1.5, mean_shift=0.2)
    estimate = vl.log_likelihood(model, x, k=400, proposal=proposal)
    assert abs(estimate - exact) < max(0.02, 4 * estimate.stderr), (estimate, exact)


def test_the_laplace_proposal_of_ppca_is_its_exact_posterior_from_any_start():
    """For a linear Gaussian decoder the Laplace approximation is exact: every weight equals p(x)."""
    model, _, x = ppca(mean_shift=3.0)  # the encoder's means are far off: the Newton steps must find the mode
    exact = torch.distributions.MultivariateNormal(model.decoder.bias.detach(), model.decoder.weight.detach()
                                                   @ model.decoder.weight.detach().T + 0.3 * torch.eye(X_DIM))
    estimate = vl.log_likelihood(model, x, k=3, proposal="laplace", per_example=True)
    torch.testing.assert_close(estimate, exact.log_prob(x), atol=2e-3, rtol=0)
    assert vl.log_likelihood(model, x, k=3, proposal="laplace").stderr < 1e-3


def test_shrinking_only_the_encoders_variance_leaves_the_estimate_unchanged(trained):
    model, x = trained
    normal = vl.log_likelihood(model, x, k=200)
    encoder = model.encoder
    try:
        model.encoder = ShrunkEncoder(encoder, shift=10.0)  # σ divided by e⁵ ≈ 150
        shrunk = vl.log_likelihood(model, x, k=200)
        shrunk_encoder_only = vl.log_likelihood(model, x, k=200, proposal="encoder")
    finally:
        model.encoder = encoder
    encoder_only = vl.log_likelihood(model, x, k=200, proposal="encoder")
    error = 3 * (normal.stderr**2 + shrunk.stderr**2) ** 0.5
    assert abs(shrunk - normal) < error, (normal, shrunk)
    # the encoder alone as the proposal falls far below: the failure the mixture exists for
    assert shrunk_encoder_only < encoder_only - 5, (encoder_only, shrunk_encoder_only)
    # and the mixture is at least as tight as the encoder alone on the unshrunk model
    assert normal > encoder_only - 3 * (normal.stderr**2 + encoder_only.stderr**2) ** 0.5


def test_the_standard_error_matches_the_spread_of_repeated_estimates(trained):
    model, x = trained
    runs = [vl.log_likelihood(model, x[:40], k=20, seed=seed) for seed in range(16)]
    spread = statistics.stdev(float(r) for r in runs)
    stderr = statistics.mean(r.stderr for r in runs)
    assert 0.5 < stderr / spread < 2, (stderr, spread)


def test_the_standard_error_shrinks_like_one_over_root_k(trained):
    model, x = trained
    small, large = (vl.log_likelihood(model, x, k=k).stderr for k in (25, 400))
    assert 2.5 < small / large < 6.5, (small, large)  # √16 = 4


def test_a_poor_proposal_shows_in_the_effective_sample_size(trained):
    """With heavy-tailed weights the delta-method error is optimistic; the effective sample size says so."""
    model, x = trained
    prepared = vl.evaluate.prepare(model, x)
    with torch.no_grad():
        good = importance.log_likelihood_parts(model, prepared, k=50, batch_size=100, chunk_elements=2**20)
        model.encoder = ShrunkEncoder(model.encoder, shift=6.0)
        try:
            poor = importance.log_likelihood_parts(model, prepared, k=50, batch_size=100, chunk_elements=2**20,
                                                   proposal="encoder")
        finally:
            model.encoder = model.encoder.encoder
    assert good.ess.median() > 10 > poor.ess.median(), (good.ess.median(), poor.ess.median())


def test_an_estimate_is_a_float_with_its_error():
    e = importance.Estimate(-100.25, 0.125, k=10, proposal="mixture")
    assert e == -100.25 and isinstance(e, float) and e + 1 == -99.25 and type(e + 1) is float
    assert repr(e) == "-100.250 ± 0.125" and f"{e:.1f}" == "-100.2"
    again = pickle.loads(pickle.dumps(e))
    assert (again, again.stderr, again.k, again.proposal) == (e, 0.125, 10, "mixture")


def test_a_deterministic_encoder_gets_the_laplace_proposal():
    torch.manual_seed(0)
    x = torch.bernoulli(small_data(50))
    wae = vl.WAE(x_dim=30, z_dim=2, hidden=[16])
    estimate = vl.log_likelihood(wae, x, k=20)
    assert estimate.proposal == "mixture" and estimate < 0 and estimate.stderr >= 0
    with pytest.raises(ValueError, match="deterministic encoder"):
        vl.log_likelihood(wae, x, k=20, proposal="encoder")


def test_bad_proposals_and_counts_are_refused():
    model, _, x = ppca()
    with pytest.raises(ValueError, match="proposal must be one of 'mixture', 'encoder', 'laplace'"):
        vl.log_likelihood(model, x, proposal="prior")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        vl.log_likelihood(model, x, batch_size=0)
