"""vaelab.twostage (chapter 7): stage 1's learned γ falls on manifold data, stage 2 matches q(z) better than N(0, I)
does (MMD against samples of q(z)), stage 2's codes are redrawn every epoch, mismatched stages are refused."""

import pytest
import torch

import vaelab as vl
from vaelab.mmd import mmd2


def stage_one(x, seed=0, epochs=60):
    torch.manual_seed(seed)
    model = vl.VAE(x_dim=x.shape[1], z_dim=2, hidden=[64, 64], likelihood="gaussian", gamma=1.0, learn_gamma=True)
    history = vl.fit(model, x, epochs=epochs, batch_size=25, lr=3e-3, progress=False)
    return model, history


def test_learned_gamma_decreases_on_manifold_data_and_stage_two_matches_q_z_better_than_the_prior():
    x = vl.manifold(1000, r=2, d=8, seed=0, clusters=3)  # a density with holes: q(z) is far from N(0, I)
    first, history = stage_one(x)
    assert float(first.likelihood.gamma.detach()) < 0.02  # from 1.0
    codes = vl.latent_codes(first, x)
    torch.manual_seed(1)
    second = vl.VAE(x_dim=2, z_dim=2, hidden=[64, 64], likelihood="gaussian", gamma=1.0, learn_gamma=True)
    vl.fit(second, codes, epochs=60, batch_size=25, lr=3e-3, progress=False)
    model = vl.TwoStageVAE(first, second)
    q_z = codes.draw(torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    from_stage_two = model.sample_codes(1000, generator=g)
    from_prior = torch.randn(1000, 2, generator=g)
    assert float(mmd2(from_stage_two, q_z)) < 0.5 * float(mmd2(from_prior, q_z))
    # and in data space: two-stage samples are closer to the data than stage 1 decoding z ~ N(0, I)
    assert float(mmd2(model.sample(1000, generator=g), x)) < float(mmd2(first.sample(1000, generator=g), x))


def test_stage_two_codes_are_redrawn_every_epoch():
    codes = vl.LatentCodes(torch.zeros(200, 2), torch.zeros(200, 2))
    seen = []

    class Spy(vl.VAE):
        def loss(self, x, kl_weight=1.0):
            seen.append(x.clone())
            return super().loss(x, kl_weight)

    torch.manual_seed(0)
    model = Spy(x_dim=2, z_dim=2, hidden=[8], likelihood="gaussian")
    vl.fit(model, codes, epochs=2, batch_size=200, progress=False)
    assert not torch.equal(seen[0], seen[1])
    assert float(torch.cat(seen).std()) == pytest.approx(1.0, rel=0.1)  # z = 0 + 1·ε


def test_two_stage_refuses_mismatched_stages():
    first = vl.VAE(x_dim=8, z_dim=2, hidden=[8], likelihood="gaussian")
    with pytest.raises(ValueError, match="x_dim must equal the first stage's z_dim"):
        vl.TwoStageVAE(first, vl.VAE(x_dim=3, z_dim=2, hidden=[8], likelihood="gaussian"))
