"""Priors p(z): what keeps the latent code in shape, and the regularizer each puts on the encoder.

Every model of the book answers one question differently: *what keeps the latent code in shape?*  A prior here is
a :class:`Prior`, a small ``nn.Module`` in the spirit of ``torch.distributions`` whose methods every prior fills in:

- ``log_prob(z)``: log p(z) summed over latent dimensions (the importance-weighted log-likelihood uses it);
- ``sample(n)``: z ~ p(z) (to generate data);
- ``kl(mu, logvar, z)``: the per-example regularizer KL(q(z|x) || p(z)) of the ELBO, in closed form where one exists,
  else (the default) the Monte Carlo estimate log q(z|x) − log p(z) at the reparameterized sample ``z``;
- ``attach(model)``: called once by the model that owns the prior (VampPrior encodes its pseudo-inputs with the
  model's encoder);
- ``normalized``: ``False`` when ``log_prob`` is known only up to a constant (the implicit prior).

A prior that trains something of its own besides the model's loss uses two optional hooks, which ``fit`` calls with
no knowledge of what they do: ``after_step(model, x, optimizer)`` after every model step on the batch ``x``, and
``after_epoch(model, x, optimizer, batch_size, generator)`` after every epoch.  ``optimizer`` is an Adam optimizer
that ``fit`` builds, checkpoints and resumes for ``auxiliary_parameters()`` at ``auxiliary_lr``; those parameters are
kept out of the model's own optimizer.  Each hook returns named statistics (``{"discriminator_loss": tensor}``) that
``History.auxiliary`` records by name.  The implicit prior trains its density-ratio network T_ψ this way; the
VampPrior keeps its projected pseudo-inputs inside the data range.

The priors: ``StandardNormal`` (chapter 1), ``VampPrior`` (chapter 3) and ``ImplicitPrior`` with its
``DensityRatio`` network (chapter 4).  The Gaussian formulas they share are in ``vaelab.gaussians``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .checks import choice, number, positive_int
from .gaussians import (
    gaussian_kl,
    gaussian_log_prob,
    gaussian_log_prob_pairwise,
    reparameterize,
    standard_normal_log_prob,
)
from .nets import MLP
from .saving import Rebuildable

__all__ = ["Prior", "StandardNormal", "VampPrior", "DensityRatio", "fit_density_ratio", "ImplicitPrior"]


class Prior(Rebuildable, nn.Module):
    """The interface of a prior p(z) over ``z_dim`` latent dimensions (see the module's notes).

    Subclasses fill in :meth:`log_prob` and :meth:`sample`, and override :meth:`kl` where the KL term has a closed
    form.  ``z_dim`` may be left ``None`` until :meth:`attach` learns it from the model.
    """

    normalized: bool = True  # log_prob is a normalized log-density
    auxiliary_lr: float = 1e-3  # learning rate of the optimizer fit builds for auxiliary_parameters()

    def __init__(self, z_dim: int | None = None):
        super().__init__()
        self.z_dim = None if z_dim is None else positive_int(z_dim, "z_dim")

    @property
    def config(self) -> str:
        """A short description recorded in checkpoints, to tell one prior from another."""
        return type(self).__name__

    def attach(self, model) -> None:
        """Called once by the model that owns this prior: learn or check the number of latent dimensions."""
        if self.z_dim is None:
            self.z_dim = model.z_dim
        elif self.z_dim != model.z_dim:
            raise ValueError(
                f"The prior is over {self.z_dim} latent dimensions but the model has z_dim={model.z_dim}; build the "
                f"prior with z_dim={model.z_dim}."
            )

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for every row of ``z`` ``[..., z_dim]``: returns ``[...]``."""
        raise NotImplementedError(f"{type(self).__name__} must define log_prob(z).")

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples z ~ p(z), ``[n, z_dim]``."""
        raise NotImplementedError(f"{type(self).__name__} must define sample(n, generator=None).")

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per example: by default the Monte Carlo estimate log q(z|x) − log p(z) at the
        reparameterized sample ``z`` (``[N, z]`` or ``[L, N, z]``), with q(z|x) = N(μ, diag σ²) (eq. 1.5)."""
        return gaussian_log_prob(z, mu, logvar) - self.log_prob(z)

    def gradient_and_curvature(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """∇ log p(z) ``[N, z_dim]`` and the curvature −∇² log p(z) ``[N, z_dim, z_dim]`` at every row of ``z``
        (the Laplace proposal of the log-likelihood estimate uses them); by default with autograd."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_prob(z).sum(), z, create_graph=True)
            rows = [torch.autograd.grad(grad[:, j].sum(), z, retain_graph=True)[0] for j in range(z.shape[-1])]
        return grad.detach(), -torch.stack(rows, 1).detach()

    # -- training hooks (optional) ---------------------------------------------------------------------------
    def auxiliary_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by this prior's hooks with their own optimizer, not by the model's loss."""
        return []

    def after_step(self, model, x: torch.Tensor, optimizer) -> dict[str, torch.Tensor]:
        """Called by ``fit`` after every model step on the batch ``x``; returns named statistics."""
        return {}

    def after_epoch(self, model, x: torch.Tensor, optimizer, batch_size: int,
                    generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Called by ``fit`` after every epoch with the epoch's training data ``x``; returns named statistics."""
        return {}


KL_ESTIMATES = ("closed-form", "monte-carlo")


class StandardNormal(Prior):
    """The standard VAE prior p(z) = N(0, I), with the KL term in closed form (Kingma & Welling, 2014).

    ``kl="monte-carlo"`` estimates the KL term instead from the reparameterized sample, log q(z|x) − log p(z), as a
    prior without a closed form must (VampPrior, chapter 3): the same expectation with a noisier gradient, the fair
    baseline when the cost of that noise is part of a comparison.
    """

    def __init__(self, z_dim: int, kl: str = "closed-form"):
        super().__init__(positive_int(z_dim, "z_dim"))
        self.kl_estimate = choice(kl, "kl (how the KL term is computed)", KL_ESTIMATES)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device)

    @property
    def config(self) -> str:
        return "StandardNormal" if self.kl_estimate == "closed-form" else f"StandardNormal(kl={self.kl_estimate})"

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) = −½ Σ_j (z_j² + log 2π)"""
        return standard_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        a = self._anchor
        return torch.randn(positive_int(n, "n (the number of samples)"), self.z_dim, generator=generator,
                           device=a.device, dtype=a.dtype)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Closed-form KL(q(z|x) || N(0, I)) (eq. 1.6; the sample ``z`` is not needed), or with
        ``kl="monte-carlo"`` the one-sample estimate log q(z|x) − log N(z; 0, I) at ``z``."""
        if self.kl_estimate == "monte-carlo":
            return super().kl(mu, logvar, z)
        return gaussian_kl(mu, logvar)

    def gradient_and_curvature(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """∇ log N(z; 0, I) = −z and −∇² log N(z; 0, I) = I."""
        eye = torch.eye(z.shape[-1], device=z.device, dtype=z.dtype)
        return -z, eye.expand(*z.shape[:-1], -1, -1)


def _check_prior_inputs(what: str, x_dim: int, pseudo_inputs: torch.Tensor) -> None:
    if pseudo_inputs.dim() != 2 or pseudo_inputs.shape[1] != x_dim:
        raise ValueError(
            f"{what} must have shape [K, x_dim] = [K, {x_dim}], got {list(pseudo_inputs.shape)}. Give one row per "
            "pseudo-input, flattened like the data (x.reshape(len(x), -1))."
        )


PSEUDO_INPUT_PARAMETERIZATIONS = ("projected", "hardtanh", "sigmoid")


class VampPrior(Prior):
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
        bounds: the data range of the pseudo-inputs (``(0, 1)`` for images, ``None`` for no bounds).
        seed: seeds the random initialisation.
        parameterization: how the pseudo-inputs are kept within ``bounds`` (:data:`PSEUDO_INPUT_PARAMETERIZATIONS`):
            ``"projected"`` (the default) trains them directly and clamps them back into the bounds after every step
            (projected gradient descent, through the prior's ``after_step`` hook), so a pixel at a bound still gets
            its gradient and can move inwards; ``"hardtanh"`` clips them in the forward pass, as Tomczak & Welling's
            code does, which gives a pixel at or beyond a bound no gradient at all (a pseudo-input initialized from
            binary data, or the one-hot toy's, never moves); ``"sigmoid"`` trains an unconstrained logit, whose
            gradient vanishes smoothly near the bounds.  From the default noise start, projected and hard tanh
            trained the same model (book budget, 10 epochs, 3 seeds: log p(x) equal within 0.05 nats); the
            difference shows from a start at the bounds, which chapter 3's exercise ex-3-init measures.

    ``VAE(prior=VampPrior(...))`` attaches the prior to the model's encoder.
    """

    def __init__(self, n_components: int = 500, x_dim: int = 784, init: torch.Tensor | None = None,
                 bounds: tuple[float, float] | None = (0.0, 1.0), seed: int = 0,
                 parameterization: str = "projected"):
        super().__init__()
        self.parameterization = choice(parameterization, "parameterization", PSEUDO_INPUT_PARAMETERIZATIONS)
        if bounds is not None:
            lo, hi = (number(b, "bounds") for b in bounds)
            if not lo < hi:
                raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}.")
            bounds = (lo, hi)
        n_components = positive_int(n_components, "n_components (K, the number of pseudo-inputs)")
        x_dim = positive_int(x_dim, "x_dim")
        if init is None:
            generator = torch.Generator().manual_seed(seed)
            init = 0.05 + 0.01 * torch.randn(n_components, x_dim, generator=generator)
        else:
            init = torch.as_tensor(init, dtype=torch.float32).detach().clone()
            _check_prior_inputs("init (the starting pseudo-inputs)", x_dim, init)
            if len(init) != n_components:
                raise ValueError(f"init has {len(init)} rows but n_components={n_components}; give K rows.")
        self.n_components, self.x_dim, self.bounds = n_components, x_dim, bounds
        if bounds is not None and parameterization == "projected":
            init = init.clamp(*bounds)
        elif bounds is not None and parameterization == "sigmoid":
            unit = ((init - bounds[0]) / (bounds[1] - bounds[0])).clamp(1e-4, 1 - 1e-4)
            init = torch.log(unit) - torch.log1p(-unit)  # the logit: sigmoid(u) is the pseudo-input in [0, 1]
        self.u = nn.Parameter(init)  # the trained parameter; pseudo_inputs() maps it into the data range
        self._encode = None

    @property
    def config(self) -> str:
        return f"VampPrior(K={self.n_components}, {self.parameterization})"

    def attach(self, model) -> None:
        """Use ``model.encode`` for the mixture components (called by the VAE that owns this prior)."""
        if model.x_dim != self.x_dim:
            raise ValueError(
                f"The VampPrior's pseudo-inputs have x_dim={self.x_dim} features, but the model's data have "
                f"{model.x_dim}. Build it with VampPrior(n_components, x_dim={model.x_dim})."
            )
        super().attach(model)
        # a plain attribute, not a submodule: the encoder's weights belong to the model, not to the prior
        object.__setattr__(self, "_encode", model.encode)

    def pseudo_inputs(self) -> torch.Tensor:
        """The pseudo-inputs u_k in the data range: what the encoder sees."""
        if self.bounds is None or self.parameterization == "projected":
            return self.u
        lo, hi = self.bounds
        if self.parameterization == "hardtanh":
            return nn.functional.hardtanh(self.u, lo, hi)
        return lo + (hi - lo) * torch.sigmoid(self.u)

    def after_step(self, model, x: torch.Tensor, optimizer) -> dict[str, torch.Tensor]:
        """``"projected"``: clamp the pseudo-inputs back into the bounds after the model's step."""
        if self.parameterization == "projected" and self.bounds is not None:
            with torch.no_grad():
                self.u.clamp_(*self.bounds)
        return {}

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
        n = positive_int(n, "n (the number of samples)")
        mu, logvar = self.components()
        k = torch.randint(self.n_components, (n,), generator=generator, device=mu.device)
        return reparameterize(mu[k], logvar[k], generator=generator)


class DensityRatio(nn.Module):
    """A network T_ψ(z) trained to estimate the log density ratio log q(z)/p(z) (chapter 4).

    Logistic regression that tells samples of q (label 1) from samples of p (label 0) minimizes

        −E_q[log σ(T(z))] − E_p[log(1 − σ(T(z)))]                                          (eq. 4.2)

    and, with as many samples of each, its optimum is T*(z) = log q(z)/p(z) (eq. 4.3): the density-ratio trick.
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (100, 100), activation: str = "relu"):
        super().__init__()
        dim = positive_int(dim, "dim (the dimension of the samples)")
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
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
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


class ImplicitPrior(Prior):
    """The implicit optimal prior (Takahashi et al., 2019), chapter 4: the aggregated posterior q(z) as the prior,
    without a model of q(z).  Its KL term is

        KL(q(z|x) || q(z)) = KL(q(z|x) || N(0, I)) − E_q(z|x)[log q(z)/N(z; 0, I)]                        (eq. 4.1)
                           ≈ KL(q(z|x) || N(0, I)) − T_ψ(z),   z ~ q(z|x)                                 (eq. 4.4)

    with the closed-form Gaussian KL (eq. 1.6) and a :class:`DensityRatio` T_ψ trained, alternately with the VAE,
    to tell encoder samples z ~ q(z) from z ~ N(0, I).  T_ψ is this prior's auxiliary network: through the
    :class:`Prior` hooks, after every VAE batch (``every="batch"``) or every VAE epoch (``every="epoch"``) ``fit``
    lets it take ``steps`` discriminator steps (batches, or epochs of batches) with its own Adam optimizer at ``lr``.

    The prior density is only known up to its normalizing constant, log p(z) = log N(z; 0, I) + T(z) + const, so
    the importance-weighted "log-likelihood" of such a model is not a bound on log p(x): ``log_prob`` says so with
    ``normalized = False``, and :func:`vaelab.log_likelihood` warns.
    """

    normalized = False

    def __init__(self, z_dim: int, hidden: Sequence[int] = (100, 100), activation: str = "relu",
                 every: str = "batch", steps: int = 1, lr: float = 1e-3):
        super().__init__(positive_int(z_dim, "z_dim"))
        every = choice(every, "every (when the discriminator trains)", ("batch", "epoch"))
        steps = positive_int(steps, "steps (discriminator updates per VAE " + every + ")",
                             hint="With no discriminator steps T(z) would stay at its random start and the KL "
                                  "estimate would be meaningless.")
        self.every, self.steps = every, steps
        self.lr = self.auxiliary_lr = number(lr, "lr (the discriminator's learning rate)", low=0, low_open=True)
        self.ratio = DensityRatio(z_dim, hidden, activation)  # T_ψ

    @property
    def config(self) -> str:
        return f"ImplicitPrior(every={self.every}, steps={self.steps})"

    # -- the density ratio T_ψ, trained through the Prior hooks --------------------------------------------------
    def discriminator_loss(self, z_q: torch.Tensor) -> torch.Tensor:
        """Eq. 4.2 with z_q ~ q(z) (encoder samples, detached) against as many z ~ N(0, I)."""
        return self.ratio.loss(z_q.detach(), torch.randn_like(z_q))

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        return list(self.ratio.parameters())

    def _ratio_step(self, model, x: torch.Tensor, optimizer) -> torch.Tensor:
        """One update of T_ψ on encoder samples z ~ q(z|x) of the batch ``x`` (eq. 4.2)."""
        with torch.no_grad():
            mu, logvar = model.encode(x)
            z = model.reparameterize(mu, logvar)
        loss = self.discriminator_loss(z)
        optimizer.zero_grad(set_to_none=True)  # also drops the gradients the VAE's loss left on T_ψ
        loss.backward()
        optimizer.step()
        return loss.detach()

    def after_step(self, model, x: torch.Tensor, optimizer) -> dict[str, torch.Tensor]:
        """``every="batch"``: ``steps`` updates of T_ψ on the batch the model just trained on."""
        if self.every != "batch":
            return {}
        return {"discriminator_loss": torch.stack([self._ratio_step(model, x, optimizer) for _ in range(self.steps)])}

    def after_epoch(self, model, x: torch.Tensor, optimizer, batch_size: int,
                    generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``every="epoch"``: ``steps`` epochs of T_ψ updates over the epoch's data, in random batches."""
        if self.every != "epoch":
            return {}
        losses = []
        for _ in range(self.steps):
            order = torch.randperm(len(x), device=x.device, generator=generator)
            losses += [self._ratio_step(model, x[index], optimizer) for index in order.split(batch_size)]
        return {"discriminator_loss": torch.stack(losses)}

    # -- the distribution -----------------------------------------------------------------------------------------
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalized log q(z) ≈ log N(z; 0, I) + T(z)."""
        return standard_normal_log_prob(z) + self.ratio(z)

    @torch.no_grad()
    def log_normalizer(self, n: int = 100_000, seed: int = 0):
        """Monte Carlo estimate of log Z = log E_N(0,I)[exp T(z)], the constant ``log_prob`` leaves out (0 when T is
        exactly log q/p).  Subtract it from an importance-weighted estimate to normalize the prior; like every such
        estimate it is biased low for finite ``n`` (Jensen), and noisy when q(z) is far from N(0, I).

        Returns a :class:`vaelab.importance.Estimate`: a float with ``stderr``, the delta-method standard error
        √(Var[e^T] / n) / E[e^T] of the estimate (optimistic when a few samples dominate the sum).
        """
        from .importance import Estimate  # importance imports nothing from here at import time; keep it that way

        n = positive_int(n, "n (the number of samples)")
        anchor = next(self.ratio.parameters())
        generator = torch.Generator(device=anchor.device).manual_seed(seed)
        t = torch.cat([self.ratio(torch.randn(len(chunk), self.z_dim, generator=generator, device=anchor.device))
                       for chunk in torch.arange(n).split(50_000)]).double()
        log_sum, log_sum_sq = torch.logsumexp(t, 0), torch.logsumexp(2 * t, 0)
        variance = (torch.exp(log_sum_sq - 2 * log_sum) - 1 / n).clamp_min(0)  # Σe^{2T}/(Σe^T)² − 1/n
        return Estimate(float(log_sum - math.log(n)), float(variance.sqrt()), n, "N(0, I)")

    def sample(self, n: int, generator: torch.Generator | None = None, candidates: int = 32) -> torch.Tensor:
        """Sampling-importance-resampling: ``candidates`` draws from N(0, I) per sample, one kept with probability
        ∝ exp T(z) ≈ q(z)/p(z).  (The paper does not sample; this is our addition, exact as candidates → ∞.)"""
        n = positive_int(n, "n (the number of samples)")
        candidates = positive_int(candidates, "candidates")
        anchor = next(self.ratio.parameters())
        z = torch.randn(n, candidates, self.z_dim, generator=generator, device=anchor.device, dtype=anchor.dtype)
        pick = torch.multinomial(torch.softmax(self.ratio(z), dim=-1), 1, generator=generator).squeeze(-1)
        return z[torch.arange(n, device=z.device), pick]

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Eq. 4.4: closed-form KL to N(0, I) minus T_ψ at the reparameterized sample."""
        return gaussian_kl(mu, logvar) - self.ratio(z)
