"""The two-stage VAE (Dai & Wipf, 2019; chapter 7).

Stage 1 is a VAE with a Gaussian decoder N(x; μ_θ(z), γ I) whose variance γ is learned (``learn_gamma=True``; γ is a
*variance*, held as log γ, and the d·log γ term of the log-density is kept, vaelab.likelihoods.Gaussian).  On data
that fill an r-dimensional manifold of R^d, γ → 0 and the loss falls like (d − r)/2 · log γ (eq. 7.3): the decoder
learns the manifold, but the aggregate posterior q(z) need not be N(0, I), so z ~ N(0, I) decodes to poor samples.

Stage 2 is a second VAE of its own (v ∈ R^J, learned γ'; Dai and Wipf call its code u) fitted to codes z ~ q(z|x)
of the training data, redrawn every epoch (:func:`latent_codes` and ``fit``).  Samples follow the ancestral process

    v ~ N(0, I),   z ~ N(μ_θ'(v), γ' I),   x = μ_θ(z)                                                     (eq. 7.4)

z is drawn with stage 2's noise γ' (on codes that fill R^J, γ' stays finite and is part of the model of q(z));
the image is the stage-1 decoder's mean (γ → 0 there, and noise would only speckle the pixels).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checks import positive_int
from .data import LatentCodes
from .evaluate import encode_data
from .saving import Rebuildable, save_model


def latent_codes(model, data, batch_size: int = 1000) -> LatentCodes:
    """The posteriors q(z|x) of ``data`` under ``model`` as a data set for stage 2: ``fit`` redraws z every epoch."""
    mu, logvar = encode_data(model, data, batch_size)
    return LatentCodes(mu, logvar)


class TwoStageVAE(Rebuildable, nn.Module):
    """Stage 1 (``first``: data ↔ z) and stage 2 (``second``: z ↔ v), trained separately, sampled together.

    Both are ordinary :class:`vaelab.VAE` objects; ``second`` must have ``x_dim`` equal to ``first.z_dim``.  As a
    model of the data the two-stage VAE is its first stage with a better sampler: ``encode``, ``decode``, the
    likelihood and the prior are the first stage's, so every function of ``vaelab.evaluate`` (ELBO, active units,
    q(z) statistics) measures the first stage, while :meth:`sample` goes through both (eq. 7.4).
    """

    def __init__(self, first: nn.Module, second: nn.Module):
        super().__init__()
        if second.x_dim != first.z_dim:
            raise ValueError(
                f"The second stage models the first stage's codes, so its x_dim must equal the first stage's z_dim "
                f"({first.z_dim}); it is {second.x_dim}. Build it with VAE(x_dim={first.z_dim}, ...)."
            )
        self.first, self.second = first, second

    # -- the data model: the first stage's ------------------------------------------------------------------------
    @property
    def x_dim(self) -> int:
        return self.first.x_dim

    @property
    def z_dim(self) -> int:
        return self.first.z_dim

    @property
    def likelihood(self) -> nn.Module:
        return self.first.likelihood

    @property
    def prior(self) -> nn.Module:
        return self.first.prior

    @property
    def device(self) -> torch.device:
        return self.first.device

    def check_data(self, x) -> torch.Tensor:
        return self.first.check_data(x)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.first.encode(x)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
        return self.first.reparameterize(mu, logvar, n_samples)

    def posterior_log_prob(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return self.first.posterior_log_prob(z, mu, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.first.decode(z)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        return self.first.decode_mean(z)

    def terms(self, x: torch.Tensor, n_samples: int | None = None):
        return self.first.terms(x, n_samples)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.first.reconstruct(x)

    def save(self, folder) -> Path:
        """Write both stages to ``folder`` for :func:`vaelab.load_model` (see :meth:`vaelab.VAE.save`)."""
        return save_model(self, folder)

    # -- sampling through both stages ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p_θ'(z|v) = N(μ_θ'(v), γ' I), v ~ N(0, I): stage 2's model of the aggregate posterior q(z)."""
        n = positive_int(n, "n (the number of samples)")
        u = self.second.prior.sample(n, generator=generator)
        return self.second.likelihood.sample(self.second.decode(u), generator=generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new examples by eq. 7.4: u → z → x, in data space."""
        return self.first.decode_mean(self.sample_codes(n, generator))
