"""Evaluating a trained model: ELBO, importance-weighted log-likelihood, active units, KL per dimension, the
aggregate posterior's statistics and ELBO surgery.

All results are in nats per example (summed over dimensions, averaged over examples), positive-is-better
log-likelihoods.  Everything runs under ``torch.no_grad()`` in large chunks on the model's device, and each function
takes a ``seed`` so its Monte Carlo estimate is repeatable and leaves the global random state untouched.
Data marked ``binarize="dynamic"`` are evaluated on one fixed binarization drawn with that seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch

from . import importance
from .checks import choice, number, positive_int, random_seed
from .gaussians import gaussian_kl, gaussian_log_prob_pairwise
from .mmd import mmd2


@contextmanager
def own_random_state():
    """Run a block on a copy of the global random state (CPU and every CUDA device), restored afterwards: its draws
    leave the state that the code after it sees unchanged."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        yield


@contextmanager
def seeded(seed: int):
    """Run a block with its own seeded random state, restoring the global state afterwards."""
    seed = random_seed(seed)
    with own_random_state():
        torch.manual_seed(seed)
        yield


def prepare(model, data, seed: int = 0) -> torch.Tensor:
    """Validate ``data`` for ``model``, move it to the model's device, binarize it once if it is marked dynamic."""
    seed = random_seed(seed)
    x = model.check_data(data)
    dynamic = getattr(data, "binarize", None) == "dynamic"
    x = x.to(model.device)
    if dynamic:
        generator = torch.Generator(device=x.device).manual_seed(seed)
        x = torch.bernoulli(x, generator=generator)
    return x


def _require_posterior(model, what: str) -> None:
    """Refuse a model whose encoder is deterministic (WAE, chapter 5): it has no q(z|x) density, hence no ELBO."""
    if getattr(model, "deterministic_encoder", False):
        raise ValueError(
            f"{type(model).__name__} has a deterministic encoder z = μ(x): q(z|x) is a point mass, so {what} is not "
            "defined for it. Compare it by its reconstruction term (vaelab.elbo_parts(model, data)['recon']), by "
            "vaelab.mmd_to_prior and vaelab.aggregate_posterior, or by sample quality (vaelab.metrics)."
        )


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    return iter(x.split(positive_int(batch_size, "batch_size")))


@contextmanager
def eval_mode(model):
    """Run a block with ``model`` in evaluation mode, restoring its training flag afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def elbo_parts(model, data, n_samples: int = 1, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """ELBO = E_q[log p(x|z)] − KL(q(z|x) || p(z)) and its two parts, averaged over ``data`` (nats).

    For a deterministic encoder (WAE) ``kl`` is 0 and ``elbo`` equals ``recon``: use ``recon`` only.
    """
    return prepared_elbo_parts(model, prepare(model, data, seed), n_samples, batch_size, seed)


@torch.no_grad()
def prepared_elbo_parts(model, x: torch.Tensor, n_samples: int = 1, batch_size: int = 1000,
                        seed: int = 0) -> dict[str, float]:
    """:func:`elbo_parts` of data already through :func:`prepare` (``fit`` prepares its test set once)."""
    positive_int(n_samples, "n_samples (draws z ~ q(z|x) per example)")
    with eval_mode(model), seeded(seed):
        total = torch.zeros(2, device=x.device, dtype=torch.float64)
        for xb in _batches(x, batch_size):
            terms = model.terms(xb, n_samples=n_samples)
            total += torch.stack((terms.recon.sum(), terms.kl.sum())).double()
        recon, kl = (total / len(x)).tolist()
    return {"elbo": recon - kl, "recon": recon, "kl": kl}


def elbo(model, data, n_samples: int = 1, batch_size: int = 1000, seed: int = 0) -> float:
    """The ELBO averaged over ``data``, in nats per example (a lower bound on log p(x))."""
    _require_posterior(model, "the ELBO")
    return elbo_parts(model, data, n_samples=n_samples, batch_size=batch_size, seed=seed)["elbo"]


def default_chunk_elements(device) -> int:
    """Decoder outputs per chunk of :func:`log_likelihood`: 2^22 (16 MB) on a CPU, 2^24 on a GPU.

    On two CPU cores, k = 5000 on the VampPrior paper's network ran 2.2 times faster with chunks of 2^22 than of
    2^24, and added 101 MB instead of 301 MB to the process (benchmarks/results/loglik_scale_cpu.md): a chunk that
    fits the processor's caches wins.  A GPU needs larger chunks to fill its cores.
    """
    return 2**24 if torch.device(device).type == "cuda" else 2**22


def log_likelihood(
    model,
    data,
    k: int = 5000,
    batch_size: int = 100,
    chunk_elements: int | None = None,
    seed: int = 0,
    per_example: bool = False,
    proposal: str = "mixture",
    progress: bool = False,
):
    """Importance-sampled estimate of log p(x) (Burda, Grosse & Salakhutdinov, 2016), nats per example:

        log p(x) ≈ log (1/k) Σ_{i=1..k} p(x|z_i) p(z_i) / r(z_i|x),    z_i ~ r(z|x)                  (eq. 1.8)

    Its expectation is a lower bound for every k that tightens as k grows (k = 5000 in the papers).  The proposal r
    is, by default, the defensive mixture of the encoder q(z|x) and a Laplace approximation of the posterior found
    from the decoder and the prior (``vaelab.importance``): unlike the encoder alone (``proposal="encoder"``, Burda et
    al.'s estimator) it stays tight when the encoder is much sharper than the posterior (HEBAE, chapter 6), and it
    also gives log p(x) for a deterministic encoder (the WAE: its decoder and prior still define p(x)).
    ``proposal="laplace"`` uses the Laplace part alone.

    The k samples are drawn in chunks so that a decoder output never holds more than ``chunk_elements`` numbers,
    whatever k is (default: 2^22 numbers on a CPU, 2^24 on a GPU, :func:`default_chunk_elements`).  Returns the mean
    over ``data`` as a :class:`vaelab.importance.Estimate` (a float with ``.stderr``, the Monte Carlo standard error
    of that mean), or with ``per_example=True`` a tensor of per-example values.  ``progress`` shows a bar over the
    batches.

    With a prior whose density is known only up to a constant (``prior.normalized`` false: the implicit prior of
    chapter 4) the estimate is shifted by that unknown constant; it is computed all the same, with a warning.
    """
    if getattr(model.prior, "normalized", True) is False:
        warnings.warn(
            f"{type(model.prior).__name__} is an unnormalized density (log p(z) up to an unknown constant), so this "
            "importance-weighted estimate is not a bound on log p(x) and is comparable with other models only "
            "approximately (Takahashi et al. report such values with '≈').",
            UserWarning, stacklevel=2,
        )
    choice(proposal, "proposal", importance.PROPOSALS)
    if proposal == "encoder":
        _require_posterior(model, "the encoder-proposal estimate of the log-likelihood (use proposal='mixture')")
    positive_int(k, "k (the number of importance samples)")
    positive_int(batch_size, "batch_size")
    if chunk_elements is not None:
        positive_int(chunk_elements, "chunk_elements")
    x = prepare(model, data, seed)
    chunk_elements = default_chunk_elements(x.device) if chunk_elements is None else chunk_elements
    with eval_mode(model), seeded(seed):
        parts = importance.log_likelihood_parts(model, x, k, batch_size, chunk_elements, proposal=proposal,
                                                progress=progress)
    return parts.values.float() if per_example else parts.estimate(k, proposal)


@torch.no_grad()
def encode_batched(model, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """μ(x) and log σ²(x) of prepared data ``x``, encoded in batches on the model's device (no gradients)."""
    with eval_mode(model):
        parts = [model.encode(xb) for xb in _batches(x, batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def encode_data(model, data, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """μ(x) and log σ²(x) for every example of a data set, on the CPU (for plots and statistics).

    ``model.encode(x)`` encodes one batch on the model's device, with gradients; this encodes a whole data set.
    """
    mu, logvar = encode_batched(model, prepare(model, data), batch_size)
    return mu.cpu(), logvar.cpu()


def encode(model, data, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Deprecated name of :func:`encode_data` (it is easily confused with ``model.encode``)."""
    warnings.warn("vaelab.encode(model, data) is now vaelab.encode_data(model, data).", DeprecationWarning,
                  stacklevel=2)
    return encode_data(model, data, batch_size)


def active_units(model, data, threshold: float = 0.01, batch_size: int = 1000) -> int:
    """Number of active latent units: dimensions j with A_j = Cov_x(E_q(z|x)[z_j]) > threshold (eq. 2.2; Burda et al.,
    2016)."""
    threshold = number(threshold, "threshold (the variance of E_q[z_j] above which a unit is active)", low=0)
    mu, _ = encode_data(model, data, batch_size)
    return int((mu.double().var(0, unbiased=True) > threshold).sum())


def kl_per_dimension(model, data, batch_size: int = 1000) -> torch.Tensor:
    """KL(q(z_j|x) || N(0, 1)) for each latent dimension j, averaged over ``data`` (nats).

    ½ (μ_j² + σ_j² − 1 − log σ_j²), chapter 1 eq. 1.6 before the sum over j; the values add up to the KL term of
    the standard VAE.  Collapsed dimensions have a KL near 0.
    """
    _require_posterior(model, "a KL per dimension")
    mu, logvar = encode_data(model, data, batch_size)
    # gaussian_kl sums over the last axis; a trailing axis of size 1 keeps the dimensions apart
    return gaussian_kl(mu.double().unsqueeze(-1), logvar.double().unsqueeze(-1)).mean(0)


class AggregatePosterior(NamedTuple):
    """Moments of the aggregate posterior q(z) = (1/N) Σ_n q(z|x_n) over a data set (chapter 3, eq. 3.2)."""

    mean: torch.Tensor         # E_q(z)[z], [z_dim]
    covariance: torch.Tensor   # Cov_q(z)[z], [z_dim, z_dim]
    correlation: torch.Tensor  # its correlation matrix
    logdet: float              # log det Cov_q(z)[z]: −∞ when q(z) is degenerate, large when it "explodes"


def aggregate_posterior(model, data, batch_size: int = 1000) -> AggregatePosterior:
    """Mean and covariance of q(z), exactly for the mixture of the N Gaussian posteriors (law of total covariance):

        E[z] = (1/N) Σ_n μ_n,    Cov[z] = (1/N) Σ_n (μ_n − E[z])(μ_n − E[z])ᵀ + (1/N) Σ_n diag σ_n².

    Normalized by N (not N − 1): these are the moments of the uniform mixture over the data set, not estimates of a
    population from a sample.  The prior N(0, I) has mean 0, covariance I and log det 0.
    """
    mu, logvar = encode_data(model, data, batch_size)
    mu, var = mu.double(), logvar.double().exp()
    mean = mu.mean(0)
    centred = mu - mean
    cov = centred.T @ centred / len(mu) + torch.diag(var.mean(0))
    std = cov.diagonal().sqrt()
    corr = cov / (std[:, None] * std[None, :])
    sign, logdet = torch.linalg.slogdet(cov)
    return AggregatePosterior(mean, cov, corr, float(logdet) if sign > 0 else -math.inf)


@torch.no_grad()
def elbo_surgery(model, data, n_samples: int = 10, batch_size: int = 500, seed: int = 0) -> dict[str, float]:
    """ELBO surgery (Hoffman & Johnson, 2016; chapter 3, eq. 3.3): the average KL term splits into

        (1/N) Σ_n KL(q(z|x_n) || p(z))  =  I(n; z)  +  KL(q(z) || p(z)),

    the mutual information between the index n of an example and its code under q(n, z) = q(z|x_n)/N, and the KL
    from the aggregate posterior q(z) = (1/N) Σ_m q(z|x_m) to the prior.  Both are estimated by Monte Carlo with
    ``n_samples`` draws z ~ q(z|x_n) per example, log q(z) evaluated exactly as the N-component mixture over
    ``data``:

        I(n; z)         ≈ mean of log q(z|x_n) − log q(z)       (between 0 and log N)
        KL(q(z) || p)   ≈ mean of log q(z) − log p(z)

    Returns both, their sum, the model's own average KL term (``kl``, closed form where the prior has one, to
    compare the sum with) and ``log_n`` = log N, the largest the mutual information can be.
    """
    _require_posterior(model, "ELBO surgery")
    positive_int(n_samples, "n_samples")
    positive_int(batch_size, "batch_size")
    x = prepare(model, data, seed)
    mu_all, logvar_all = encode_batched(model, x, batch_size)
    with eval_mode(model), seeded(seed):
        n = len(x)
        totals = torch.zeros(3, dtype=torch.float64, device=x.device)
        for start in range(0, n, batch_size):
            mu, logvar = mu_all[start:start + batch_size], logvar_all[start:start + batch_size]
            z = model.reparameterize(mu, logvar, n_samples).reshape(n_samples, *mu.shape)  # [S, B, D]
            log_q_cond = model.posterior_log_prob(z, mu, logvar)
            log_q = torch.logsumexp(gaussian_log_prob_pairwise(z, mu_all, logvar_all), -1) - math.log(n)
            log_p = model.prior.log_prob(z)
            kl = model.prior.kl(mu, logvar, z)
            kl = kl.mean(0) if kl.dim() == 2 else kl
            parts = ((log_q_cond - log_q).mean(0).sum(), (log_q - log_p).mean(0).sum(), kl.sum())
            totals += torch.stack(parts).double()
    mutual_info, marginal_kl, kl = (totals / n).tolist()
    return {"mutual_info": mutual_info, "marginal_kl": marginal_kl, "sum": mutual_info + marginal_kl, "kl": kl,
            "log_n": math.log(n)}


@torch.no_grad()
def mmd_to_prior(model, data, n: int = 2000, kernel: str = "imq", batch_size: int = 1000, seed: int = 0) -> float:
    """MMD²(q(z), p(z)) between codes z ~ q(z|x) of (up to) ``n`` examples of ``data`` and ``n`` samples of the
    model's prior: the InfoVAE paper's diagnostic of how far the aggregate posterior is from the prior (chapter 5).

    Unbiased estimate (vaelab.mmd, eq. 5.4) with the kernel scale C = 2·z_dim; 0 in expectation when q(z) = p(z).
    """
    positive_int(n, "n")
    x = prepare(model, data, seed)[:n]
    mu, logvar = encode_batched(model, x, batch_size)
    with eval_mode(model), seeded(seed):
        z = model.reparameterize(mu, logvar)
        p = model.prior.sample(len(z)).to(z)
        return float(mmd2(z.double(), p.double(), kernel))
