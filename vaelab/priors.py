"""Priors p(z) and the KL regularizer they put on the encoder.

Every model of the book answers one question differently: *what keeps the latent code in shape?*  Here the answer
is an object with

- ``log_prob(z)``: log p(z) summed over latent dimensions (used by the importance-weighted log-likelihood);
- ``sample(n)``: z ~ p(z) (used to generate data);
- ``kl(mu, logvar, z)``: the per-example regularizer KL(q(z|x) || p(z)) of the ELBO, in closed form where one
  exists, else a Monte Carlo estimate from the reparameterized sample ``z``.

This file also holds the diagonal-Gaussian formulas every chapter uses (chapter 1, eqs. 1.5 and 1.6, and the
pairwise form of 1.5 for mixtures).  The priors: ``StandardNormal`` (chapter 1), ``VampPrior`` (chapter 3) and
``ImplicitPrior`` with its ``DensityRatio`` network (chapter 4).  A prior may also have

- ``attach(model)``: called by the model that owns it (VampPrior encodes its pseudo-inputs with the model's encoder);
- ``discriminator`` and ``discriminator_loss(z)``: a part that ``fit`` trains with its own optimizer, alternately
  with the model (the implicit prior's density ratio);
- ``normalized = False``: ``log_prob`` is known only up to a constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .nets import MLP, _check_size as _check_count

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) = −½ Σ_j [log 2π + log σ_j² + (z_j − μ_j)² / σ_j²]      (chapter 1, eq. 1.5)"""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)              (chapter 1, eq. 1.6)"""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = −½ Σ_j (z_j² + log 2π)  (eq. 1.5 with μ = 0, σ = 1)"""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


class StandardNormal(nn.Module):
    """The standard VAE prior p(z) = N(0, I), with the KL term in closed form (Kingma & Welling, 2014)."""

    def __init__(self, z_dim: int):
        super().__init__()
        _check_count(z_dim, "z_dim")
        self.z_dim = z_dim
        self.config = "StandardNormal"
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) = −½ Σ_j (z_j² + log 2π)"""
        return standard_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        a = self._anchor
        return torch.randn(n, self.z_dim, generator=generator, device=a.device, dtype=a.dtype)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form KL(q(z|x) || N(0, I)); the sample ``z`` is not needed."""
        return gaussian_kl(mu, logvar)


def gaussian_log_prob_pairwise(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z_n; μ_k, diag σ_k²) for every row z_n of ``z`` ``[..., D]`` and every component k of ``mu``,
    ``logvar`` ``[K, D]``: returns ``[..., K]``.

    Eq. 1.5 with its square expanded, Σ_j (z_j − μ_kj)² / σ_kj² = z² · w_k − 2 z · (μ_k w_k) + μ_k² · w_k with
    w_k = 1/σ_k², so that the sums over j are matrix products: memory grows like N·K, not N·K·D.  This is what
    makes a mixture of K = 500 components (VampPrior) or of a whole data set (ELBO surgery) cheap.
    """
    w = torch.exp(-logvar)  # 1/σ²,  [K, D]
    square = z.pow(2) @ w.T - 2 * (z @ (mu * w).T) + (mu.pow(2) * w).sum(-1)
    return -0.5 * (square + logvar.sum(-1) + z.shape[-1] * LOG_2PI)


def _check_prior_inputs(what: str, x_dim: int, pseudo_inputs: torch.Tensor) -> None:
    if pseudo_inputs.dim() != 2 or pseudo_inputs.shape[1] != x_dim:
        raise ValueError(
            f"{what} must have shape [K, x_dim] = [K, {x_dim}], got {list(pseudo_inputs.shape)}. Give one row per "
            "pseudo-input, flattened like the data (x.reshape(len(x), -1))."
        )


class VampPrior(nn.Module):
    """The variational mixture of posteriors prior (Tomczak & Welling, 2018), chapter 3:

        p(z) = (1/K) Σ_k q(z | u_k)                                                        (eq. 3.4)

    a mixture of the encoder's own posteriors at K learned pseudo-inputs u_k, an approximation of the aggregated
    posterior q(z) = (1/N) Σ_n q(z | x_n) (eq. 3.2) with K ≪ N "data points" that are trained with the model.
    Its KL term has no closed form and is estimated from the reparameterized sample, log q(z|x) − log p(z).

    Args:
        n_components: K, the number of pseudo-inputs.
        x_dim: features per example (the pseudo-inputs live in data space).
        init: ``[K, x_dim]`` starting pseudo-inputs (e.g. K random training examples), or ``None`` for
            N(0.05, 0.01²) noise as in Tomczak & Welling's code.
        bounds: the data range the pseudo-inputs are clipped to with a hard tanh (``(0, 1)`` for images, ``None``
            for no clipping).
        seed: seeds the random initialisation.

    ``VAE(prior=VampPrior(...))`` attaches the prior to the model's encoder.
    """

    def __init__(self, n_components: int = 500, x_dim: int = 784, init: torch.Tensor | None = None,
                 bounds: tuple[float, float] | None = (0.0, 1.0), seed: int = 0):
        super().__init__()
        _check_count(n_components, "n_components (K, the number of pseudo-inputs)")
        _check_count(x_dim, "x_dim")
        if init is None:
            generator = torch.Generator().manual_seed(seed)
            init = 0.05 + 0.01 * torch.randn(n_components, x_dim, generator=generator)
        else:
            init = torch.as_tensor(init, dtype=torch.float32).detach().clone()
            _check_prior_inputs("init (the starting pseudo-inputs)", x_dim, init)
            if len(init) != n_components:
                raise ValueError(f"init has {len(init)} rows but n_components={n_components}; give K rows.")
        self.n_components, self.x_dim, self.bounds = n_components, x_dim, bounds
        self.u = nn.Parameter(init)  # the pseudo-inputs, before clipping to the data range
        self._encode = None
        self.config = f"VampPrior(K={n_components})"

    def attach(self, model) -> None:
        """Use ``model.encode`` for the mixture components (called by the VAE that owns this prior)."""
        if model.x_dim != self.x_dim:
            raise ValueError(
                f"The VampPrior's pseudo-inputs have x_dim={self.x_dim} features, but the model's data have "
                f"{model.x_dim}. Build it with VampPrior(n_components, x_dim={model.x_dim})."
            )
        # a plain attribute, not a submodule: the encoder's weights belong to the model, not to the prior
        object.__setattr__(self, "_encode", model.encode)

    @property
    def z_dim(self) -> int | None:
        return None if self._encode is None else self._encode.__self__.z_dim

    def pseudo_inputs(self) -> torch.Tensor:
        """u_k clipped to the data range: what the encoder sees."""
        return self.u if self.bounds is None else nn.functional.hardtanh(self.u, *self.bounds)

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² of the K mixture components q(z | u_k), each ``[K, z_dim]``."""
        if self._encode is None:
            raise RuntimeError("This VampPrior is not attached to a model: pass it as VAE(..., prior=VampPrior(...)).")
        return self._encode(self.pseudo_inputs())

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_k log q(z | u_k) − log K, stable for any K (eq. 3.4)."""
        mu, logvar = self.components()
        return torch.logsumexp(gaussian_log_prob_pairwise(z, mu, logvar), dim=-1) - math.log(self.n_components)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling from the mixture: a component k uniformly at random, then z ~ q(z | u_k)."""
        mu, logvar = self.components()
        k = torch.randint(self.n_components, (n,), generator=generator, device=mu.device)
        eps = torch.randn(n, mu.shape[1], generator=generator, device=mu.device, dtype=mu.dtype)
        return mu[k] + torch.exp(0.5 * logvar[k]) * eps

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Monte Carlo KL(q(z|x) || p(z)) ≈ log q(z|x) − log p(z) at the reparameterized sample z."""
        return gaussian_log_prob(z, mu, logvar) - self.log_prob(z)


class DensityRatio(nn.Module):
    """A network T_ψ(z) trained to estimate the log density ratio log q(z)/p(z) (chapter 4).

    Logistic regression that tells samples of q (label 1) from samples of p (label 0) minimizes

        −E_q[log σ(T(z))] − E_p[log(1 − σ(T(z)))]                                          (eq. 4.2)

    and, with as many samples of each, its optimum is T*(z) = log q(z)/p(z) (eq. 4.3): the density-ratio trick.
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (100, 100), activation: str = "relu"):
        super().__init__()
        _check_count(dim, "dim (the dimension of the samples)")
        self.dim = dim
        self.net = MLP(dim, hidden, 1, activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """T_ψ(z) for every row of ``z`` ``[..., dim]``: returns ``[...]``."""
        if z.shape[-1] != self.dim:
            raise ValueError(f"The density ratio takes samples of dimension {self.dim}, got shape {list(z.shape)}.")
        return self.net(z).squeeze(-1)

    def loss(self, z_q: torch.Tensor, z_p: torch.Tensor) -> torch.Tensor:
        """Eq. 4.2, with −log σ(t) = softplus(−t) and −log(1 − σ(t)) = softplus(t)."""
        return nn.functional.softplus(-self(z_q)).mean() + nn.functional.softplus(self(z_p)).mean()


def fit_density_ratio(q_samples, p_samples, hidden: Sequence[int] = (64, 64), epochs: int = 200,
                      batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> DensityRatio:
    """Fit T(z) ≈ log q(z)/p(z) from samples of q and of p (the density-ratio trick, eq. 4.3) and return it.

    Both sets must have the same dimension; they are drawn in equal halves for every batch, so the trick's
    optimum is the log ratio whatever the sizes of the two sets.
    """
    q = torch.as_tensor(q_samples, dtype=torch.float32)
    p = torch.as_tensor(p_samples, dtype=torch.float32)
    for name, s in (("q_samples", q), ("p_samples", p)):
        if s.dim() != 2 or len(s) < 2:
            raise ValueError(f"{name} must be a [N, dim] array of at least 2 samples, got shape {list(s.shape)}.")
        if not torch.isfinite(s).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"q_samples have dimension {q.shape[1]} but p_samples {p.shape[1]}; both must be [N, dim].")
    _check_count(epochs, "epochs")
    _check_count(batch_size, "batch_size")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ratio = DensityRatio(q.shape[1], hidden)
    optimizer = torch.optim.Adam(ratio.parameters(), lr=lr)
    half = min(batch_size, len(q), len(p))
    steps = max(len(q), len(p)) // half
    for _ in range(epochs):
        for _ in range(steps):
            iq = torch.randint(len(q), (half,), generator=generator)
            ip = torch.randint(len(p), (half,), generator=generator)
            loss = ratio.loss(q[iq], p[ip])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return ratio.eval()


class ImplicitPrior(nn.Module):
    """The implicit optimal prior (Takahashi et al., 2019), chapter 4: the aggregated posterior q(z) as the prior,
    without a model of q(z).  Its KL term is

        KL(q(z|x) || q(z)) = KL(q(z|x) || N(0, I)) − E_q(z|x)[log q(z)/N(z; 0, I)]
                           ≈ KL(q(z|x) || N(0, I)) − T_ψ(z),   z ~ q(z|x)                 (eq. 4.5)

    with the closed-form Gaussian KL (eq. 1.6) and a :class:`DensityRatio` T_ψ trained, alternately with the VAE,
    to tell encoder samples z ~ q(z) from z ~ N(0, I).  ``fit`` does the alternation: after every VAE batch
    (``every="batch"``) or every VAE epoch (``every="epoch"``) it takes ``steps`` discriminator steps (batches, or
    epochs of batches) with its own Adam optimizer at ``lr``.

    The prior density is only known up to its normalizing constant, log p(z) = log N(z; 0, I) + T(z) + const, so
    the importance-weighted "log-likelihood" of such a model is not a bound on log p(x): ``log_prob`` says so with
    ``normalized = False``, and :func:`vaelab.log_likelihood` warns.
    """

    normalized = False

    def __init__(self, z_dim: int, hidden: Sequence[int] = (100, 100), activation: str = "relu",
                 every: str = "batch", steps: int = 1, lr: float = 1e-3):
        super().__init__()
        _check_count(z_dim, "z_dim")
        if every not in ("batch", "epoch"):
            raise ValueError(f"every must be 'batch' or 'epoch' (when the discriminator trains), got {every!r}.")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(
                f"steps must be an integer >= 1 (discriminator updates per VAE {every}), got {steps!r}. With no "
                "discriminator steps T(z) would stay at its random start and the KL estimate would be meaningless."
            )
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr (the discriminator's learning rate) must be a finite number > 0, got {lr!r}.")
        self.z_dim, self.every, self.steps, self.lr = z_dim, every, steps, float(lr)
        self.ratio = DensityRatio(z_dim, hidden, activation)  # T_ψ
        self.config = f"ImplicitPrior(every={every}, steps={steps})"

    @property
    def discriminator(self) -> nn.Module:
        """The module ``fit`` trains with its own optimizer, on :meth:`discriminator_loss`."""
        return self.ratio

    def discriminator_loss(self, z_q: torch.Tensor) -> torch.Tensor:
        """Eq. 4.2 with z_q ~ q(z) (encoder samples, detached) against as many z ~ N(0, I)."""
        return self.ratio.loss(z_q.detach(), torch.randn_like(z_q))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalized log q(z) ≈ log N(z; 0, I) + T(z)."""
        return standard_normal_log_prob(z) + self.ratio(z)

    @torch.no_grad()
    def log_normalizer(self, n: int = 100_000, seed: int = 0) -> float:
        """Monte Carlo estimate of log Z = log E_N(0,I)[exp T(z)], the constant ``log_prob`` leaves out (0 when T is
        exactly log q/p).  Subtract it from an importance-weighted estimate to normalize the prior; like every such
        estimate it is biased low for finite ``n`` (Jensen), and noisy when q(z) is far from N(0, I)."""
        _check_count(n, "n (the number of samples)")
        anchor = next(self.ratio.parameters())
        generator = torch.Generator(device=anchor.device).manual_seed(seed)
        t = torch.cat([self.ratio(torch.randn(len(chunk), self.z_dim, generator=generator, device=anchor.device))
                       for chunk in torch.arange(n).split(50_000)])
        return float(torch.logsumexp(t.double(), 0) - math.log(n))

    def sample(self, n: int, generator: torch.Generator | None = None, candidates: int = 32) -> torch.Tensor:
        """Sampling-importance-resampling: ``candidates`` draws from N(0, I) per sample, one kept with probability
        ∝ exp T(z) ≈ q(z)/p(z).  (The paper does not sample; this is our addition, exact as candidates → ∞.)"""
        anchor = next(self.ratio.parameters())
        z = torch.randn(n, candidates, self.z_dim, generator=generator, device=anchor.device, dtype=anchor.dtype)
        pick = torch.multinomial(torch.softmax(self.ratio(z), dim=-1), 1, generator=generator).squeeze(-1)
        return z[torch.arange(n, device=z.device), pick]

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Eq. 4.5: closed-form KL to N(0, I) minus T_ψ at the reparameterized sample."""
        return gaussian_kl(mu, logvar) - self.ratio(z)
