"""Evaluating a trained model: ELBO, importance-weighted log-likelihood, active units, KL per dimension.

All results are in nats per example (summed over dimensions, averaged over examples), positive-is-better
log-likelihoods.  Everything runs under ``torch.no_grad()`` in large chunks on the model's device, and each function
takes a ``seed`` so its Monte Carlo estimate is repeatable and leaves the global random state untouched.
Data marked ``binarize="dynamic"`` are evaluated on one fixed binarization drawn with that seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .nets import _check_size
from .priors import gaussian_kl


@contextmanager
def seeded(seed: int):
    """Run a block with its own seeded random state, restoring the global state afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def prepare(model, data, seed: int = 0) -> torch.Tensor:
    """Validate ``data`` for ``model``, move it to the model's device, binarize it once if it is marked dynamic."""
    x = model.check_data(data)
    dynamic = getattr(data, "binarize", None) == "dynamic"
    x = x.to(model.device)
    if dynamic:
        generator = torch.Generator(device=x.device).manual_seed(seed)
        x = torch.bernoulli(x, generator=generator)
    return x


def _batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    _check_size(batch_size, "batch_size")
    return iter(x.split(batch_size))


@contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def elbo_parts(model, data, n_samples: int = 1, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """ELBO = E_q[log p(x|z)] − KL(q(z|x) || p(z)) and its two parts, averaged over ``data`` (nats)."""
    return prepared_elbo_parts(model, prepare(model, data, seed), n_samples, batch_size, seed)


@torch.no_grad()
def prepared_elbo_parts(model, x: torch.Tensor, n_samples: int = 1, batch_size: int = 1000,
                        seed: int = 0) -> dict[str, float]:
    """:func:`elbo_parts` of data already through :func:`prepare` (``fit`` prepares its test set once)."""
    with _eval_mode(model), seeded(seed):
        total = torch.zeros(2, device=x.device, dtype=torch.float64)
        for xb in _batches(x, batch_size):
            terms = model.terms(xb, n_samples=n_samples)
            total += torch.stack((terms.recon.sum(), terms.kl.sum())).double()
        recon, kl = (total / len(x)).tolist()
    return {"elbo": recon - kl, "recon": recon, "kl": kl}


def elbo(model, data, n_samples: int = 1, batch_size: int = 1000, seed: int = 0) -> float:
    """The ELBO averaged over ``data``, in nats per example (a lower bound on log p(x))."""
    return elbo_parts(model, data, n_samples=n_samples, batch_size=batch_size, seed=seed)["elbo"]


@torch.no_grad()
def log_likelihood(
    model,
    data,
    k: int = 5000,
    batch_size: int = 100,
    chunk_elements: int = 2**24,
    seed: int = 0,
    per_example: bool = False,
):
    """Importance-weighted estimate of log p(x) (Burda, Grosse & Salakhutdinov, 2016), nats per example:

        log p(x) ≈ log (1/k) Σ_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x),    z_i ~ q(z|x).

    It is a lower bound for every k that tightens as k grows (k = 5000 in the papers).  The k samples are drawn in
    chunks so that a decoder output never holds more than ``chunk_elements`` numbers, whatever k is; the chunks are
    combined with a running log-sum-exp.  Returns the mean over ``data``, or a tensor of per-example values.
    """
    _check_size(k, "k (the number of importance samples)")
    _check_size(chunk_elements, "chunk_elements")
    x = prepare(model, data, seed)
    out = torch.empty(len(x), device=x.device)
    with _eval_mode(model), seeded(seed):
        start = 0
        for xb in _batches(x, batch_size):
            mu, logvar = model.encode(xb)
            samples_per_chunk = max(1, min(k, chunk_elements // (len(xb) * x.shape[1])))
            log_sum = torch.full((len(xb),), -math.inf, device=x.device)
            done = 0
            while done < k:
                m = min(samples_per_chunk, k - done)
                z = model.reparameterize(mu, logvar, m).reshape(m, *mu.shape)
                log_w = (
                    model.likelihood.log_prob(xb, model.decode(z))
                    + model.prior.log_prob(z)
                    - model.posterior_log_prob(z, mu, logvar)
                )
                log_sum = torch.logaddexp(log_sum, log_w.logsumexp(0))
                done += m
            out[start : start + len(xb)] = log_sum - math.log(k)
            start += len(xb)
    return out.cpu() if per_example else float(out.double().mean())


@torch.no_grad()
def encode(model, data, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """μ(x) and log σ²(x) for every example of ``data``, on the CPU (for plots and statistics)."""
    x = prepare(model, data)
    with _eval_mode(model):
        parts = [model.encode(xb) for xb in _batches(x, batch_size)]
    mu = torch.cat([p[0] for p in parts]).cpu()
    logvar = torch.cat([p[1] for p in parts]).cpu()
    return mu, logvar


def active_units(model, data, threshold: float = 0.01, batch_size: int = 1000) -> int:
    """Number of active latent units: A_u = Cov_x(E_q(z|x)[z_u]) > threshold (Burda et al., 2016)."""
    mu, _ = encode(model, data, batch_size)
    return int((mu.double().var(0, unbiased=True) > threshold).sum())


def kl_per_dimension(model, data, batch_size: int = 1000) -> torch.Tensor:
    """KL(q(z_j|x) || N(0, 1)) for each latent dimension j, averaged over ``data`` (nats).

    ½ (μ_j² + σ_j² − 1 − log σ_j²), chapter 1 eq. 1.6 before the sum over j; the values add up to the KL term of
    the standard VAE.  Collapsed dimensions have a KL near 0.
    """
    mu, logvar = encode(model, data, batch_size)
    # gaussian_kl sums over the last axis; a trailing axis of size 1 keeps the dimensions apart
    return gaussian_kl(mu.double().unsqueeze(-1), logvar.double().unsqueeze(-1)).mean(0)
