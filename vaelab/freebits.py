"""Free bits: a KL term that charges nothing below τ nats per latent dimension (chapter 2, eq. 2.4).

Kingma et al. (2016) replace the ELBO's KL term, in training only, by

    Σ_j max(τ, E_x KL(q(z_j|x) || N(0, 1)))                                                              (eq. 2.4)

with the expectation over the batch.  A dimension whose average KL is below τ has no KL gradient at all: the
encoder may put up to τ nats of information into it for free, so the KL term cannot switch it off.  Above τ the
dimension pays the usual price.  The objective is no longer the ELBO (it is larger by Σ_j max(0, τ − KL_j)); the
model is evaluated with the ELBO as every other model is.  The per-dimension KL is the closed form of eq. 1.6
before its sum, so free bits need the standard normal prior.
"""

from __future__ import annotations

import math

import torch

from .gaussians import gaussian_kl
from .models import VAE, Loss
from .priors import StandardNormal


class FreeBitsVAE(VAE):
    """VAE trained with free bits (eq. 2.4): the KL term is Σ_j max(τ, batch mean of KL_j).

    Args (besides :class:`vaelab.VAE`'s):
        free_bits: τ, the nats per latent dimension the KL term does not charge (≥ 0; 0 is the VAE's loss).

    ``fit``'s ``kl_weight`` multiplies the whole free-bits term, as it multiplies the KL term of every model.
    """

    def __init__(self, *args, free_bits: float = 0.5, **kwargs):
        if isinstance(free_bits, bool) or not isinstance(free_bits, (int, float)) or not math.isfinite(free_bits) \
                or free_bits < 0:
            raise ValueError(f"free_bits is τ, a number of nats per latent dimension (>= 0, e.g. 0.5), got "
                             f"{free_bits!r}.")
        super().__init__(*args, **kwargs)
        if not isinstance(self.prior, StandardNormal) or self.prior.kl_estimate != "closed-form":
            raise ValueError(
                "Free bits clamp the closed-form KL of each latent dimension (eq. 2.4), which needs the standard "
                f"normal prior with its closed-form KL; this model has {type(self.prior).__name__}. Use "
                "FreeBitsVAE without a prior argument."
            )
        self.free_bits = float(free_bits)
        self.config.update(free_bits=self.free_bits)

    def loss(self, x: torch.Tensor, kl_weight: float = 1.0) -> Loss:
        """−E log p(x|z) + λ Σ_j max(τ, mean over the batch of KL_j), batch means (eq. 2.4); the returned ``kl``
        is the ELBO's KL term (unclamped), so training curves read as every other model's."""
        mu, logvar = self.encode(x)
        (recon, kl), _ = self.terms_given_posterior(x, mu, logvar)
        # gaussian_kl sums over the last axis; a trailing axis of size 1 keeps the dimensions apart
        kl_per_dimension = gaussian_kl(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(0)
        charged = kl_per_dimension.clamp(min=self.free_bits).sum()
        recon = recon.mean()
        return Loss(kl_weight * charged - recon, recon, kl.mean())
