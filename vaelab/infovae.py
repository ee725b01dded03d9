"""InfoVAE and the Wasserstein autoencoder: penalize a divergence between q(z) and p(z) (chapter 5).

InfoVAE (Zhao, Song & Ermon, 2019) maximizes, per example and averaged over the data,

    E_q(z|x)[log p(x|z)] − (1 − α) KL(q(z|x) || p(z)) − (α + λ − 1) D(q(z) || p(z))                        (eq. 5.1)

with the aggregate posterior q(z) = E_x q(z|x).  α = 0, λ = 1 is the ELBO; α = 1 drops the per-example KL.  Here
D = MMD² (vaelab.mmd), estimated on every batch from the batch's codes z ~ q(z|x) against as many fresh samples of
p(z).  A negative weight would *reward* a divergence, and InfoVAE's objective is then unbounded: α > 1 or
α + λ − 1 < 0 is refused (a peer library shipped such defaults).

The WAE-MMD (Tolstikhin et al., 2018) is the case α = 1 with a deterministic encoder z = μ(x):

    E[log p(x | μ(x))] − λ MMD²(q(z), p(z))                                                                   (eq. 5.2)

(the WAE's reconstruction cost c(x, G(z)) here is the decoder's negative log-likelihood).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from .checks import choice, number
from .mmd import KERNELS, mmd2
from .models import VAE, ELBOTerms, Loss


class InfoVAE(VAE):
    """VAE with InfoVAE's objective (eq. 5.1), D = MMD² between the batch's codes and samples of the prior.

    Args (besides :class:`vaelab.VAE`'s):
        alpha: α; the per-example KL is weighted by 1 − α (must be ≤ 1).
        mmd_lambda: InfoVAE's λ (λ_MMD in the book, to tell it from the KL weight λ that ``fit``'s ``kl_weight``
            sets); the divergence is weighted by α + λ − 1 (must be ≥ 0).  The paper's MMD runs used α = 0,
            λ = 1000 (weight 999), the default here: MMD² of a batch is tiny next to the nats of log p(x|z).
        kernel: ``"imq"`` or ``"rbf"``; ``kernel_scales`` multiples of C = 2·z_dim summed (vaelab.mmd).

    ``fit``'s ``kl_weight`` multiplies the per-example KL term as for every model (and a warm-up ramps it).
    """

    def __init__(self, *args, alpha: float = 0.0, mmd_lambda: float = 1000.0, kernel: str = "imq",
                 kernel_scales: Sequence[float] = (1.0,), lam: float | None = None, **kwargs):
        if lam is not None:  # the name of vaelab 0.1
            warnings.warn("InfoVAE(lam=...) is now InfoVAE(mmd_lambda=...).", DeprecationWarning, stacklevel=2)
            mmd_lambda = lam
        alpha = number(alpha, "alpha (α)")
        lam = number(mmd_lambda, "mmd_lambda (InfoVAE's λ)")
        if alpha > 1:
            raise ValueError(
                f"alpha = {alpha:g} > 1 gives the per-example KL the weight 1 − α = {1 - alpha:g} < 0, which rewards "
                "q(z|x) for moving away from the prior without bound. Choose alpha <= 1 (alpha = 1 drops the KL)."
            )
        if alpha + lam - 1 < 0:
            raise ValueError(
                f"alpha + mmd_lambda − 1 = {alpha + lam - 1:g} < 0 weights the divergence D(q(z) || p(z)) negatively, "
                "which rewards q(z) for moving away from the prior (InfoVAE, eq. 5.1). Choose mmd_lambda >= 1 − alpha "
                f"(>= {1 - alpha:g} here); the paper's MMD runs use alpha = 0, mmd_lambda = 1000."
            )
        choice(kernel, "kernel", KERNELS[:2])
        super().__init__(*args, **kwargs)
        self.alpha, self.mmd_lambda, self.kernel, self.kernel_scales = alpha, lam, kernel, tuple(kernel_scales)
        self.config.update(alpha=alpha, mmd_lambda=lam, kernel=kernel, kernel_scales=list(self.kernel_scales))

    @property
    def divergence_weight(self) -> float:
        """α + λ − 1, the weight of MMD²(q(z), p(z)) in eq. 5.1."""
        return self.alpha + self.mmd_lambda - 1

    def divergence(self, z: torch.Tensor) -> torch.Tensor:
        """MMD²(q(z), p(z)) estimated from a batch of codes z ~ q(z|x) and as many fresh prior samples (eq. 5.4)."""
        z = z.reshape(-1, z.shape[-1])
        return mmd2(z, self.prior.sample(len(z)).to(z), self.kernel, scales=self.kernel_scales)

    def loss(self, x: torch.Tensor, kl_weight: float = 1.0) -> Loss:
        """−[E log p(x|z) − λ_KL (1 − α) KL(q(z|x) || p) − (α + λ − 1) MMD²(q(z), p)], batch means (eq. 5.1)."""
        (recon, kl), z = self.terms_and_codes(x)
        recon, kl = recon.mean(), kl.mean()
        mmd = self.divergence(z)
        loss = kl_weight * (1 - self.alpha) * kl - recon + self.divergence_weight * mmd
        return Loss(loss, recon, kl, {"mmd2": mmd})


class WAE(InfoVAE):
    """Wasserstein autoencoder with the MMD penalty (eq. 5.2): deterministic encoder z = μ(x), no KL term.

    ``mmd_lambda`` is the MMD weight λ of eq. 5.2 (its default 1000 matches InfoVAE's; see chapter 5 for the
    choice).  The encoder outputs z_dim numbers.  With no posterior variance the model has no ELBO: ``vaelab.elbo`` and
    ``vaelab.log_likelihood`` refuse it; ``terms`` returns the reconstruction term and a KL of 0.
    """

    deterministic_encoder = True
    encoder_layout = "z = μ(x)"

    def __init__(self, *args, mmd_lambda: float = 1000.0, kernel: str = "imq",
                 kernel_scales: Sequence[float] = (1.0,), lam: float | None = None, **kwargs):
        if lam is not None:  # the name of vaelab 0.1
            warnings.warn("WAE(lam=...) is now WAE(mmd_lambda=...).", DeprecationWarning, stacklevel=2)
            mmd_lambda = lam
        if "n_samples" in kwargs and kwargs["n_samples"] != 1:
            raise ValueError("A WAE's encoder is deterministic: n_samples (samples of z per example) must be 1.")
        super().__init__(*args, alpha=1.0, mmd_lambda=mmd_lambda, kernel=kernel, kernel_scales=kernel_scales, **kwargs)

    @staticmethod
    def encoder_width(z_dim: int) -> int:
        return z_dim  # z = μ(x) only

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = μ(x); the returned log σ² is −∞ (a point mass), so moments such as ``aggregate_posterior`` hold."""
        mu = self._encoder_output(x)
        return mu, torch.full_like(mu, -math.inf)

    def terms_and_codes(self, x: torch.Tensor, n_samples: int | None = None) -> tuple[ELBOTerms, torch.Tensor]:
        z, _ = self.encode(x)
        recon = self.likelihood.log_prob(x, self.decode(z))
        return ELBOTerms(recon, torch.zeros_like(recon)), z
