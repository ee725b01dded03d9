"""The diagonal-Gaussian formulas every chapter uses, each written once (chapter 1):

    z = μ + σ ⊙ ε,  ε ~ N(0, I)                                                      reparameterization (eq. 1.4)
    log N(z; μ, diag σ²) = −½ Σ_j [log 2π + log σ_j² + (z_j − μ_j)² / σ_j²]                    log-density (eq. 1.5)
    KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)                     closed-form KL (eq. 1.6)

Variances are passed as log σ² (``logvar``), the encoder's output, so that σ² = exp(log σ²) is always positive.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "LOG_2PI",
    "reparameterize",
    "gaussian_log_prob",
    "gaussian_kl",
    "standard_normal_log_prob",
    "gaussian_log_prob_pairwise",
]

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 1,
                   generator: torch.Generator | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I)  (chapter 1, eq. 1.4): a sample of N(μ, diag σ²) that is a differentiable
    function of μ and log σ².

    Returns ``[N, z]``, or ``[L, N, z]`` for ``n_samples`` = L > 1.  ε is drawn from ``generator`` (default: the
    global random stream), or given as ``eps`` (any shape that broadcasts against μ, e.g. correlated noise R ε).
    """
    if eps is None:
        shape = mu.shape if n_samples == 1 else (n_samples, *mu.shape)
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) = −½ Σ_j [log 2π + log σ_j² + (z_j − μ_j)² / σ_j²]      (chapter 1, eq. 1.5)"""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)              (chapter 1, eq. 1.6)"""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = −½ Σ_j (z_j² + log 2π)  (eq. 1.5 with μ = 0, σ = 1)"""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def gaussian_log_prob_pairwise(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z_n; μ_k, diag σ_k²) for every row z_n of ``z`` ``[..., D]`` and every component k of ``mu``,
    ``logvar`` ``[K, D]``: returns ``[..., K]``.

    Eq. 1.5 with its square expanded, Σ_j (z_j − μ_kj)² / σ_kj² = z² · w_k − 2 z · (μ_k w_k) + μ_k² · w_k with
    w_k = 1/σ_k², so that the sums over j are matrix products: memory grows like N·K, not N·K·D.  This is what
    makes a mixture of K = 500 components (VampPrior) or of a whole data set (ELBO surgery) cheap.

    The three terms are large and nearly cancel where z is close to μ_k and σ_k is small: in float32 the result at a
    point's own component is off by about a nat for σ = 0.01 and by a hundred nats for σ = 0.001 (40 dimensions,
    |μ| ≈ 3).  The products are therefore accumulated in float64 (the sum is exact to about 1e-7 nats there) and the
    result returned in the input's precision; gradients flow as usual.
    """
    dtype = z.dtype
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    w = torch.exp(-logvar)  # 1/σ²,  [K, D]
    square = z.pow(2) @ w.T - 2 * (z @ (mu * w).T) + (mu.pow(2) * w).sum(-1)
    return (-0.5 * (square.clamp_min(0) + logvar.sum(-1) + z.shape[-1] * LOG_2PI)).to(dtype)
