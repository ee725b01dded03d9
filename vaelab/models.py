"""The variational autoencoder, built from the pieces of the other modules.

    encoder   x ↦ (μ(x), log σ²(x))            q(z|x) = N(μ, diag σ²)            (nets.py)
    decoder   z ↦ parameters of p(x|z)          Bernoulli logits / Gaussian mean  (nets.py, likelihoods.py)
    prior     p(z) and the KL regularizer        N(0, I), VampPrior, implicit     (priors.py)

The per-example ELBO (chapter 1, eq. 1.3) is

    L(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) || p(z)),

its first term estimated with L reparameterized samples z = μ + σ ⊙ ε, ε ~ N(0, I) (eq. 1.4).  Training
minimizes ``−(recon − λ·kl)`` averaged over a batch, λ the KL weight (λ = 1 is the ELBO).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import torch
from torch import nn

from .checks import choice, positive_int
from .data import from_dataset
from .gaussians import gaussian_log_prob, reparameterize
from .likelihoods import make_likelihood
from .nets import MLP, check_hidden
from .priors import Prior, StandardNormal
from .saving import Rebuildable, save_model

NO_PENALTIES: Mapping[str, torch.Tensor] = MappingProxyType({})
PRECISIONS = ("float32", "bfloat16")


_FLATTENING_SAID: set[tuple[int, ...]] = set()  # image shapes check_data has said it flattens


class ELBOTerms(NamedTuple):
    """Per-example parts of the ELBO, in nats: ``recon`` = E_q[log p(x|z)], ``kl`` = KL(q(z|x) || p(z))."""

    recon: torch.Tensor
    kl: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        return self.recon - self.kl


class Loss(NamedTuple):
    """A batch's training loss and the batch means of its parts (nats per example).

    ``loss`` is what the optimizer minimizes: −(recon − λ·kl) for the VAE, plus each model's extra terms.
    ``penalties`` names those extra batch-level terms (unweighted), e.g. ``{"mmd2": MMD²(q(z), p(z))}`` for InfoVAE
    and the WAE (chapter 5); ``fit`` records each in ``History.penalties`` under its name.
    """

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    penalties: Mapping[str, torch.Tensor] = NO_PENALTIES

    def __repr__(self) -> str:
        parts = {"loss": self.loss, "recon": self.recon, "kl": self.kl, **self.penalties}
        return "Loss(" + ", ".join(f"{name}={float(value.detach()):.4g}" for name, value in parts.items()) + ")"


class VAE(Rebuildable, nn.Module):
    """Variational autoencoder with a Gaussian encoder and a swappable decoder likelihood and prior.

    Args:
        x_dim: features per example (784 for 28×28 images).
        z_dim: latent dimensions.
        hidden: widths of the hidden layers of the encoder; the decoder mirrors them.
        likelihood: ``"bernoulli"`` (decoder outputs logits), ``"gaussian"`` (decoder outputs a mean) or
            ``"autoregressive-bernoulli"`` (logits, and each pixel also sees the pixels before it; chapter 5).
        activation: hidden-layer activation, e.g. ``"relu"`` or ``"tanh"`` (Kingma & Welling used tanh).
        encoder: optional module mapping x to ``[N, 2·z_dim]`` (μ then log σ²); replaces the MLP encoder.
        decoder: optional module mapping z to ``[N, x_dim]`` likelihood parameters; replaces the MLP decoder.
        gamma, learn_gamma: variance γ of the Gaussian decoder, fixed or learned (ignored for Bernoulli).
        gamma_lr: a learning rate of its own for a learned γ (default: the one ``fit`` gives the whole model).
        n_samples: L, the number of reparameterized samples per example in the reconstruction term.
        prior: optional prior object (default N(0, I)); see ``vaelab.priors``.
    """

    def __init__(
        self,
        x_dim: int = 784,
        z_dim: int = 20,
        hidden: Sequence[int] = (500,),
        likelihood: str | nn.Module = "bernoulli",
        activation: str = "relu",
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        gamma: float = 0.1,
        learn_gamma: bool = False,
        gamma_lr: float | None = None,
        n_samples: int = 1,
        prior: Prior | None = None,
    ):
        super().__init__()
        x_dim = positive_int(x_dim, "x_dim")
        z_dim = positive_int(z_dim, "z_dim (the number of latent dimensions)")
        n_samples = positive_int(n_samples, "n_samples (L, samples per example)")
        hidden = check_hidden(hidden)
        for module, what in ((encoder, "encoder"), (decoder, "decoder")):
            if module is not None and not isinstance(module, nn.Module):
                raise TypeError(f"{what} must be a torch.nn.Module, got {type(module).__name__}.")
        if prior is not None and not isinstance(prior, Prior):
            raise TypeError(
                f"prior must be a vaelab prior (a subclass of vaelab.priors.Prior, e.g. vl.VampPrior(500, {x_dim})), "
                f"got {type(prior).__name__}: {prior!r}."
            )
        self.x_dim, self.z_dim, self.n_samples = x_dim, z_dim, n_samples
        self.encoder = encoder if encoder is not None else MLP(x_dim, hidden, self.encoder_width(z_dim), activation)
        self.decoder = decoder if decoder is not None else MLP(z_dim, hidden[::-1], x_dim, activation)
        self.likelihood = make_likelihood(likelihood, gamma=gamma, learn_gamma=learn_gamma, gamma_lr=gamma_lr,
                                          x_dim=x_dim)
        self.prior = prior if prior is not None else StandardNormal(z_dim)
        self.prior.attach(self)  # e.g. VampPrior encodes its pseudo-inputs with this model's encoder
        self._network_dtype: torch.dtype | None = None  # set by network_precision("bfloat16")
        # What a checkpoint records to rebuild the model or to tell it apart from another one.
        self.config = {
            "x_dim": x_dim,
            "z_dim": z_dim,
            "hidden": hidden,
            "likelihood": getattr(self.likelihood, "name", type(self.likelihood).__name__),
            "activation": activation,
            "encoder": None if encoder is None else f"custom:{type(encoder).__name__}",
            "decoder": None if decoder is None else f"custom:{type(decoder).__name__}",
            "gamma": float(gamma),
            "learn_gamma": bool(learn_gamma),
            **({} if gamma_lr is None else {"gamma_lr": float(gamma_lr)}),
            "n_samples": n_samples,
            "prior": self.prior.config,
        }

    encoder_layout = "μ then log σ²"  # what the encoder's outputs mean, for error messages

    @staticmethod
    def encoder_width(z_dim: int) -> int:
        """How many numbers the encoder outputs per example: μ and log σ² (2·z_dim)."""
        return 2 * z_dim

    def parameter_groups(self, lr: float, exclude=()) -> list[dict]:
        """The optimizer's parameter groups: every parameter at ``lr``, except those a part of the model trains at
        a rate of its own (a learned γ with ``gamma_lr``); parameters in ``exclude`` (a prior's auxiliary network,
        trained by its hooks) are left out.  Each group records its starting rate as ``base_lr``."""
        excluded = {id(p) for p in exclude}
        own = getattr(self.likelihood, "gamma_lr", None)
        special = [self.likelihood.log_gamma] if own is not None else []
        special_ids = {id(p) for p in special}
        rest = [p for p in self.parameters() if id(p) not in excluded and id(p) not in special_ids]
        groups = [{"params": rest, "lr": lr, "base_lr": lr}]
        if special:
            groups.append({"params": special, "lr": own, "base_lr": own})
        return groups

    @property
    def device(self) -> torch.device:
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    # -- running the networks ---------------------------------------------------------------------------------
    def _run(self, network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """``network(inputs)``, in bfloat16 under :meth:`network_precision`, the result always in float32."""
        if self._network_dtype is None:
            return network(inputs)
        with torch.autocast(inputs.device.type, dtype=self._network_dtype):
            return network(inputs).float()

    @contextlib.contextmanager
    def network_precision(self, precision: str = "float32"):
        """Run the encoder and decoder at ``precision`` inside the block (``fit(precision=...)`` uses it).

        ``"bfloat16"`` runs the two networks under ``torch.autocast`` and hands their outputs back in float32, so that
        every formula of the loss (log-densities, KL, MMD, batch covariances, whose expanded squares would lose
        digits in bfloat16's 8-bit mantissa) stays float32; parameters and optimizer stay float32 throughout.
        """
        precision = choice(precision, "precision", PRECISIONS,
                           hint="float16 needs loss scaling, which fit does not do; use 'bfloat16'."
                           if precision == "float16" else "")
        previous = self._network_dtype
        self._network_dtype = torch.bfloat16 if precision == "bfloat16" else None
        try:
            yield self
        finally:
            self._network_dtype = previous

    def _encoder_output(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's raw output, checked to have :meth:`encoder_width` features."""
        h = self._run(self.encoder, x)
        width = self.encoder_width(self.z_dim)
        if h.shape[-1] != width:
            raise ValueError(
                f"The encoder returned shape {list(h.shape)}, but {type(self).__name__}'s encoder must map x to "
                f"[N, {width}] ({self.encoder_layout}, z_dim = {self.z_dim}). Make its last layer output {width} "
                "features."
            )
        return h

    # -- the encoder and the reparameterization trick ---------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) = N(μ(x), diag σ²(x)): returns μ and log σ², each ``[N, z_dim]``."""
        mu, logvar = self._encoder_output(x).chunk(2, dim=-1)
        return mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
        """z = μ + σ ⊙ ε, ε ~ N(0, I)  (chapter 1, eq. 1.4).  Shape ``[N, z]``, or ``[L, N, z]`` when L > 1."""
        return reparameterize(mu, logvar, n_samples)

    def posterior_log_prob(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """log q(z|x) for the diagonal Gaussian posterior (used by the importance-weighted estimate)."""
        return gaussian_log_prob(z, mu, logvar)

    # -- the decoder ------------------------------------------------------------------------------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output: the likelihood's parameters (Bernoulli logits, Gaussian mean)."""
        out = self._run(self.decoder, z)
        if out.shape[-1] != self.x_dim:
            raise ValueError(
                f"The decoder returned shape {list(out.shape)}, but it must map z to [N, x_dim] = [N, {self.x_dim}]"
                " (Bernoulli logits or a Gaussian mean)."
            )
        return out

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z] in data space (sigmoid of the logits, or the Gaussian mean)."""
        return self.likelihood.mean(self.decode(z))

    # -- the objective ----------------------------------------------------------------------------------------
    def terms(self, x: torch.Tensor, n_samples: int | None = None) -> ELBOTerms:
        """Per-example reconstruction term E_q[log p(x|z)] (L samples) and KL term (chapter 1, eq. 1.3)."""
        return self.terms_and_codes(x, n_samples)[0]

    def terms_and_codes(self, x: torch.Tensor, n_samples: int | None = None) -> tuple[ELBOTerms, torch.Tensor]:
        """:meth:`terms` and the reparameterized codes z it used (``[N, z]``, or ``[L, N, z]``)."""
        mu, logvar = self.encode(x)
        return self.terms_given_posterior(x, mu, logvar, n_samples)

    def terms_given_posterior(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                              n_samples: int | None = None) -> tuple[ELBOTerms, torch.Tensor]:
        """:meth:`terms_and_codes` for a posterior q(z|x) = N(μ, diag σ²) the caller has already encoded (a loss
        that also needs μ and log σ², such as free bits', encodes the batch once)."""
        n_samples = self.n_samples if n_samples is None else n_samples
        z = self.reparameterize(mu, logvar, n_samples)
        recon = self.likelihood.log_prob(x, self.decode(z))
        kl = self.prior.kl(mu, logvar, z)
        if n_samples > 1:  # average the L Monte Carlo samples
            recon = recon.mean(0)
            kl = kl.mean(0) if kl.dim() == 2 else kl
        return ELBOTerms(recon, kl), z

    def loss(self, x: torch.Tensor, kl_weight: float = 1.0) -> Loss:
        """Training loss −(E_q[log p(x|z)] − λ·KL) averaged over the batch; λ = 1 gives the negative ELBO."""
        recon, kl = self.terms(x)
        recon, kl = recon.mean(), kl.mean()
        return Loss(kl_weight * kl - recon, recon, kl)

    def save(self, folder) -> Path:
        """Write the model to ``folder`` (``model.json``: what to build; ``model.pt``: the weights), for
        :func:`vaelab.load_model`, which rebuilds it without the code that made it (``vaelab.saving``)."""
        return save_model(self, folder)

    def forward(self, x: torch.Tensor, kl_weight: float = 1.0) -> Loss:
        """``model(x)`` is :meth:`loss`: the batch's training loss and its parts, for any PyTorch tooling."""
        return self.loss(x, kl_weight)

    # -- using a trained model --------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Data-space mean of p(x | z = μ(x)): the reconstruction shown in figures."""
        x = self.check_data(x).to(self.device)
        mu, _ = self.encode(x)
        return self.decode_mean(mu)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new examples: z ~ p(z), then the data-space mean of p(x|z)."""
        n = positive_int(n, "n (the number of samples)")
        return self.decode_mean(self.prior.sample(n, generator=generator))

    def check_data(self, x) -> torch.Tensor:
        """Validate a data set for this model once (not per batch) and return it as a float tensor.

        Catches what would otherwise be silently wrong or fail deep inside torch: a wrong feature count, NaN/inf
        values, and values outside the likelihood's support (e.g. 0–255 pixels for a Bernoulli decoder).  Data of
        another dtype (float64, numpy's default; float16; integers; booleans) are cast once to the model's
        parameter dtype (float32), so they give exactly what the same values in float32 give.
        """
        x = from_dataset(x)  # a Dataset or DataLoader: its examples as one tensor
        if not isinstance(x, torch.Tensor):
            try:
                x = torch.as_tensor(x)
            except Exception as err:  # noqa: BLE001 - re-raised with advice
                raise TypeError(f"Data must be a tensor or an array of shape [N, {self.x_dim}], got "
                                f"{type(x).__name__}: {err}") from err
        if x.is_complex():
            raise TypeError(f"Data must be real numbers, got a {x.dtype} tensor.")
        dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
        if x.dtype != dtype:
            x = x.to(dtype)
        if x.dim() > 2 and math.prod(x.shape[1:]) == self.x_dim:  # images [N, 28, 28] or [N, 1, 28, 28]
            if tuple(x.shape[1:]) not in _FLATTENING_SAID:  # said once per shape and session
                _FLATTENING_SAID.add(tuple(x.shape[1:]))
                warnings.warn(f"vaelab flattens examples of shape {list(x.shape[1:])} to the model's "
                              f"x_dim={self.x_dim} features (x.reshape(len(x), -1)).", stacklevel=3)
            x = x.reshape(len(x), -1)
        if x.dim() != 2 or x.shape[1] != self.x_dim:
            hint = (f" Their {math.prod(x.shape[1:])} values per example do not match x_dim={self.x_dim}: build the "
                    "model with the data's size." if x.dim() > 2 else "")
            raise ValueError(
                f"The model expects data of shape [N, {self.x_dim}] (x_dim={self.x_dim} features per example), "
                f"but got shape {list(x.shape)}.{hint}"
            )
        if len(x) == 0:
            raise ValueError("The data set is empty.")
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            row = int(bad.any(1).nonzero()[0])
            raise ValueError(
                f"The data contain {int(torch.isnan(x).sum())} NaN and {int(torch.isinf(x).sum())} infinite values "
                f"(the first in row {row}). Remove or repair those examples before training or evaluating."
            )
        self.likelihood.check(x)
        return x
