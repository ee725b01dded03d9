"""Decoder likelihoods p(x | z): the reconstruction term E_q[log p(x|z)] of the ELBO (chapter 1, eq. 1.3).

Each likelihood turns what the decoder outputs into a log-density summed over the data dimensions, one value per
example, like ``torch.distributions`` objects do (the tests compare against them).

- :class:`Bernoulli`: the decoder outputs logits η; p(x|z) = ∏_d Bern(x_d; sigmoid(η_d)).
- :class:`Gaussian`: the decoder outputs a mean μ; p(x|z) = N(x; μ, γ I).  **γ is a variance**, fixed or learned
  (the two-stage VAE learns it, chapter 7).
- :class:`AutoregressiveBernoulli`: the decoder outputs logits η(z) and each pixel also sees the pixels before it,
  p(x|z) = ∏_d Bern(x_d; sigmoid(η_d + Σ_{d'<d} w_{dd'} x_{d'})): a decoder strong enough to model the data
  without z (chapter 5's information preference, eq. 5.6).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .gaussians import LOG_2PI
from .saving import Rebuildable


class Bernoulli(Rebuildable, nn.Module):
    """Bernoulli decoder for data in [0, 1] (binary pixels; grey values act as soft targets)."""

    name = "bernoulli"

    def log_prob(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x|z) = Σ_d [x_d log sigmoid(η_d) + (1 − x_d) log(1 − sigmoid(η_d))], computed stably from η."""
        if x.shape != logits.shape:
            x = x.expand_as(logits)  # one x against several samples of z
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        """E[x|z] = sigmoid(η)."""
        return torch.sigmoid(logits)

    def curvature(self, logits: torch.Tensor) -> torch.Tensor:
        """−∂² log p(x|η)/∂η_d² = sigmoid(η_d)(1 − sigmoid(η_d)), whatever x is (the Laplace proposal of
        ``vaelab.importance`` uses it)."""
        p = torch.sigmoid(logits)
        return p * (1 - p)

    def sample(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(logits), generator=generator)

    def check(self, x: torch.Tensor) -> None:
        """A Bernoulli decoder needs data in [0, 1]."""
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"A Bernoulli decoder needs data in [0, 1], but the data lie in [{lo:g}, {hi:g}]. Rescale the data "
                "(for 8-bit images divide by 255) or use likelihood='gaussian'."
            )


class Gaussian(Rebuildable, nn.Module):
    """Gaussian decoder N(x; μ_θ(z), γ I) with variance γ, fixed or learned through log γ.

    ``gamma_lr`` gives a learned log γ a learning rate of its own (the rest of the model keeps ``fit``'s): Adam moves a
    parameter by about its learning rate per step, and log γ may have to travel several units in a short budget
    (chapter 7) without raising the rate of every network weight.
    """

    name = "gaussian"

    def __init__(self, gamma: float = 0.1, learn_gamma: bool = False, gamma_lr: float | None = None):
        super().__init__()
        if gamma_lr is not None:
            if not learn_gamma:
                raise ValueError("gamma_lr is the learning rate of a learned γ: pass learn_gamma=True as well.")
            if isinstance(gamma_lr, bool) or not isinstance(gamma_lr, (int, float)) or not gamma_lr > 0:
                raise ValueError(f"gamma_lr must be a positive learning rate, got {gamma_lr!r}.")
        self.gamma_lr = None if gamma_lr is None else float(gamma_lr)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma <= 0:
            raise ValueError(
                f"gamma is the decoder variance and must be a positive finite number, got {gamma!r}."
            )
        log_gamma = torch.tensor(math.log(gamma), dtype=torch.float32)
        if learn_gamma:
            self.log_gamma = nn.Parameter(log_gamma)
        else:
            self.register_buffer("log_gamma", log_gamma)
        self.learn_gamma = learn_gamma

    @property
    def gamma(self) -> torch.Tensor:
        return self.log_gamma.exp()

    def log_prob(self, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """log N(x; μ, γ I) = −½ Σ_d [(x_d − μ_d)² / γ + log γ + log 2π].

        The d·log γ part matters when γ is learned: without it γ → ∞ would be free.
        """
        d = x.shape[-1]
        squared_error = (x - mean).pow(2).sum(-1)
        return -0.5 * (squared_error / self.gamma + d * (self.log_gamma + LOG_2PI))

    def mean(self, mean: torch.Tensor) -> torch.Tensor:
        return mean

    def curvature(self, mean: torch.Tensor) -> torch.Tensor:
        """−∂² log p(x|μ)/∂μ_d² = 1/γ for every dimension."""
        return (1 / self.gamma).expand_as(mean)

    def sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.gamma.sqrt() * noise

    def check(self, x: torch.Tensor) -> None:  # any real data is in the support
        return None


class AutoregressiveBernoulli(Rebuildable, nn.Module):
    """Bernoulli decoder in which pixel d also depends on the pixels before it (chapter 5, eq. 5.6):

        log p(x|z) = Σ_d log Bern(x_d; sigmoid(η_d(z) + Σ_{d'<d} w_{dd'} x_{d'} + b_d))

    η(z) is what the decoder network outputs; w is strictly lower triangular (a pixel never sees itself or a later
    pixel), so every factor is a normalized conditional and the product is a normalized density for every z.  With
    w and b alone it is a fully visible sigmoid belief net, a model of binarized images that needs no code at all.
    w and b start at 0 (the plain Bernoulli decoder) and are learned with the rest of the model.  E[x|z] has no
    closed form; :meth:`sample` draws exact samples pixel by pixel.
    """

    name = "autoregressive-bernoulli"

    def __init__(self, x_dim: int):
        super().__init__()
        if isinstance(x_dim, bool) or not isinstance(x_dim, int) or x_dim < 1:
            raise ValueError(f"x_dim is the number of pixels (a positive integer), got {x_dim!r}.")
        self.x_dim = x_dim
        self.weight = nn.Parameter(torch.zeros(x_dim, x_dim))
        self.bias = nn.Parameter(torch.zeros(x_dim))
        self.register_buffer("mask", torch.tril(torch.ones(x_dim, x_dim), diagonal=-1), persistent=False)

    def logits(self, x: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """η_d + Σ_{d'<d} w_{dd'} x_{d'} + b_d for every pixel d (teacher forcing: the data's own pixels)."""
        return eta + F.linear(x, self.weight * self.mask, self.bias)

    def log_prob(self, x: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        if eta.shape[-1] != self.x_dim:
            raise ValueError(f"The decoder outputs {eta.shape[-1]} logits per example, but this likelihood models "
                             f"{self.x_dim} pixels: build AutoregressiveBernoulli(x_dim) with the model's x_dim.")
        if x.shape != eta.shape:
            x = x.expand_as(eta)  # one x against several samples of z
        return -F.binary_cross_entropy_with_logits(self.logits(x, eta), x, reduction="none").sum(-1)

    def mean(self, eta: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "An autoregressive decoder has no closed-form E[x|z] (each pixel depends on the pixels drawn before it). "
            "Draw exact samples instead: model.likelihood.sample(model.decode(z))."
        )

    def sample(self, eta: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact samples, one pixel after the other (x_dim steps)."""
        x = torch.zeros_like(eta)
        weight = self.weight * self.mask
        for d in range(self.x_dim):
            logit = eta[..., d] + x @ weight[d] + self.bias[d]
            x[..., d] = torch.bernoulli(torch.sigmoid(logit), generator=generator)
        return x

    def check(self, x: torch.Tensor) -> None:
        Bernoulli.check(self, x)


LIKELIHOODS = ("bernoulli", "gaussian", "autoregressive-bernoulli")


def make_likelihood(likelihood: str | nn.Module, gamma: float = 0.1, learn_gamma: bool = False,
                    gamma_lr: float | None = None, x_dim: int | None = None) -> nn.Module:
    """Build a likelihood from its name (``"autoregressive-bernoulli"`` needs ``x_dim``), or accept a ready object
    with ``log_prob``, ``mean`` and ``check``."""
    if isinstance(likelihood, nn.Module):
        missing = [m for m in ("log_prob", "mean", "check") if not hasattr(likelihood, m)]
        if missing:
            raise TypeError(f"A likelihood object needs the methods {missing}; see vaelab.likelihoods.Bernoulli.")
        return likelihood
    if likelihood == "bernoulli":
        return Bernoulli()
    if likelihood == "gaussian":
        return Gaussian(gamma=gamma, learn_gamma=learn_gamma, gamma_lr=gamma_lr)
    if likelihood == "autoregressive-bernoulli":
        if x_dim is None:
            raise ValueError("The autoregressive decoder needs the number of pixels: make_likelihood("
                             "'autoregressive-bernoulli', x_dim=...), or VAE(..., likelihood=...) which passes it.")
        return AutoregressiveBernoulli(x_dim)
    raise ValueError(f"Unknown likelihood {likelihood!r}; choose one of {', '.join(map(repr, LIKELIHOODS))}.")
