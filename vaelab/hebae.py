"""The hierarchical empirical-Bayes autoencoder, HEBAE (Cheng, Darnell, Ramachandran & Crawford, 2020; chapter 6).

HEBAE puts a Gaussian prior on the encoder's mean function, μ(x_i) ~ N(β, Σ) (eq. 6.1), estimates β and Σ from
each batch, and gives every example a posterior with the batch's correlation structure and a scale of its own:

    q(z_i | x_i) = N(μ(x_i), σ_i² Σ)                                                                       (eq. 6.2)

Its objective (the paper's eqs. 7 and 17) regularizes the batch statistics instead of every posterior:

    E_q[log p(x_i | z_i)] − λ KL(N(β̂, Σ̂) || N(0, I))                                                       (eq. 6.5)

and samples by the multivariate reparameterization z_i = μ(x_i) + σ_i R ε, ε ~ N(0, I), Σ̂ = R Rᵀ (eq. 6.6).
σ_i enters no penalty: only the reconstruction acts on it.
"""

from __future__ import annotations

import torch

from .checks import choice, number
from .gaussians import reparameterize
from .models import VAE, ELBOTerms

# ---------------------------------------------------------------------------------------------------------------
# HEBAE's batch-level regularizer (chapter 6): KL(N(β̂, Σ̂) || N(0, I)) from the batch moments of μ(x).


def batch_moments(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The empirical mean β̂, covariance Σ̂ and Cholesky factor R (Σ̂ = R Rᵀ) of a batch of encoder means ``[m, k]``:

        β̂ = (1/m) Σ_i μ(x_i),      Σ̂ = (1/m) Σ_i (μ(x_i) − β̂)(μ(x_i) − β̂)ᵀ           (chapter 6, eq. 6.3)

    normalized by m, not m − 1: (β̂, Σ̂) are the maximum-likelihood estimates of the Gaussian μ(x) ~ N(β, Σ) of eq. 6.1
    (the same convention as ``vaelab.aggregate_posterior``).  Gradients flow through all three.
    """
    m, k = mu.shape
    if m < k + 1:
        raise ValueError(
            f"HEBAE estimates a {k}×{k} covariance from the batch, which needs at least z_dim + 1 = {k + 1} examples; "
            f"this batch has {m}. Use batch_size >= {k + 1} (the paper uses 128) or fewer latent dimensions."
        )
    beta = mu.mean(0)
    centred = mu - beta
    sigma = centred.T @ centred / m
    chol, info = torch.linalg.cholesky_ex(sigma)
    if bool(info.any()):
        raise ValueError(
            f"The batch covariance Σ̂ of μ(x) is singular (not positive definite; {k} latent dimensions, {m} examples): "
            "some latent dimension is constant or a linear combination of the others over the batch. HEBAE needs "
            "log det Σ̂; check for a collapsed encoder, NaN inputs, or use a larger batch."
        )
    return beta, sigma, chol


def gaussian_kl_full(mean: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """KL(N(β, Σ) || N(0, I)) = ½ [tr Σ + βᵀβ − J − log det Σ],  Σ = R Rᵀ given by its Cholesky factor R  (eq. 6.4).

    log det Σ = 2 Σ_j log R_jj.  HEBAE's paper writes this without the ½ (its eqs. 16–17: λ[tr Σ − J − log|Σ| +
    βᵀβ]), so its λ multiplies twice this KL: the paper's λ is our λ / 2, and the paper's λ = 1 is our λ = 2.  Its
    eq. 11 also has −βᵀβ, a sign slip (the appendix's derivation gives +βᵀβ, as here).
    """
    k = mean.shape[-1]
    trace = chol.pow(2).sum((-2, -1))  # tr(R Rᵀ) = Σ_ij R_ij²
    logdet = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + mean.pow(2).sum(-1) - k - logdet)


REPARAMETERIZATIONS = ("cholesky", "cholesky-detached", "diagonal")


class HEBAE(VAE):
    """VAE with HEBAE's posterior (eq. 6.2) and batch-level regularizer (eq. 6.5); ``fit``'s ``kl_weight`` is λ.

    The encoder outputs z_dim + 1 numbers per example: μ(x_i) and log σ_i².  ``terms(x)`` returns the reconstruction
    term and, for every example, the batch's KL(N(β̂, Σ̂) || N(0, I)): its "ELBO" is the paper's objective, not a
    bound on log p(x) under N(0, I) (chapter 6 says why).  Batches need at least z_dim + 1 examples.

    Args (besides :class:`vaelab.VAE`'s):
        reparameterization: how z is drawn in training (eq. 6.6):
            ``"cholesky"``: z = μ + σ_i R ε with gradients through R (the paper's equation);
            ``"cholesky-detached"``: the same z, but R is treated as a constant by the gradient;
            ``"diagonal"``: z = μ + σ_i ε, ignoring Σ (what the authors' released code ran: its Cholesky line is
            commented out).
        momentum: weight of each batch in the running estimate of Σ̂ kept for evaluation (as batch normalization
            does); :meth:`encode` reports the posterior's marginal variances σ_i² diag Σ from it, so the diagonal
            diagnostics of ``vaelab.evaluate`` apply, and ``log_likelihood`` uses that diagonal Gaussian as its
            importance-sampling proposal (still a valid lower bound on log p(x)).
    """

    encoder_layout = "μ, then log σ_i²"

    def __init__(self, *args, reparameterization: str = "cholesky", momentum: float = 0.05, **kwargs):
        choice(reparameterization, "reparameterization", REPARAMETERIZATIONS)
        momentum = number(momentum, "momentum", low=0, low_open=True, high=1)
        super().__init__(*args, **kwargs)
        self.reparameterization, self.momentum = reparameterization, momentum
        self.register_buffer("running_sigma", torch.eye(self.z_dim))
        self.config.update(reparameterization=reparameterization)

    @staticmethod
    def encoder_width(z_dim: int) -> int:
        return z_dim + 1  # μ(x_i) and log σ_i²

    def encode_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ(x_i) ``[N, z]`` and the per-example log σ_i² ``[N, 1]`` of eq. 6.2."""
        h = self._encoder_output(x)
        return h[..., :-1], h[..., -1:]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ(x_i) and the log marginal variances log(σ_i² diag Σ), Σ the running estimate (see the class notes)."""
        mu, log_scale = self.encode_scale(x)
        return mu, log_scale + self.running_sigma.diagonal().log()

    def terms_and_codes(self, x: torch.Tensor, n_samples: int | None = None) -> tuple[ELBOTerms, torch.Tensor]:
        """Reconstruction with z from eq. 6.6 and the batch KL of eq. 6.5 (the same value for every example)."""
        n_samples = self.n_samples if n_samples is None else n_samples
        mu, log_scale = self.encode_scale(x)
        beta, sigma, chol = batch_moments(mu)
        if self.training:
            with torch.no_grad():
                self.running_sigma.lerp_(sigma.detach(), self.momentum)
        shape = mu.shape if n_samples == 1 else (n_samples, *mu.shape)
        eps = torch.randn(shape, device=mu.device, dtype=mu.dtype)
        if self.reparameterization == "diagonal":
            noise = eps
        else:
            r = chol if self.reparameterization == "cholesky" else chol.detach()
            noise = eps @ r.T  # each row: R ε
        z = reparameterize(mu, log_scale, eps=noise)  # z_i = μ(x_i) + σ_i R ε (eq. 6.6)
        recon = self.likelihood.log_prob(x, self.decode(z))
        if n_samples > 1:
            recon = recon.mean(0)
        kl = gaussian_kl_full(beta, chol).expand(len(mu))
        return ELBOTerms(recon, kl), z
