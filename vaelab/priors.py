"""Priors p(z) and the KL regularizer they put on the encoder.

Every model of the book answers one question differently: *what keeps the latent code in shape?*  Here the answer
is an object with

- ``log_prob(z)``: log p(z) summed over latent dimensions (used by the importance-weighted log-likelihood);
- ``sample(n)``: z ~ p(z) (used to generate data);
- ``kl(mu, logvar, z)``: the per-example regularizer KL(q(z|x) || p(z)) of the ELBO, in closed form where one
  exists, else a Monte Carlo estimate from the reparameterized sample ``z``.

This file also holds the two diagonal-Gaussian formulas every chapter uses (chapter 1, eqs. 1.5 and 1.6).
Later chapters add VampPrior, the implicit optimal prior, MMD and HEBAE as further pieces of the same shape.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) = −½ Σ_j [log 2π + log σ_j² + (z_j − μ_j)² / σ_j²]      (chapter 1, eq. 1.5)"""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)              (chapter 1, eq. 1.6)"""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


class StandardNormal(nn.Module):
    """The standard VAE prior p(z) = N(0, I), with the KL term in closed form (Kingma & Welling, 2014)."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.z_dim = z_dim
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) = −½ Σ_j (z_j² + log 2π)"""
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        a = self._anchor
        return torch.randn(n, self.z_dim, generator=generator, device=a.device, dtype=a.dtype)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form KL(q(z|x) || N(0, I)); the sample ``z`` is not needed."""
        return gaussian_kl(mu, logvar)
