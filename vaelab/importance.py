"""The importance-sampled log-likelihood, with a proposal that stays tight when the encoder is too sharp.

Importance sampling with a proposal r(z|x) estimates the marginal likelihood (chapter 1, eq. 1.8, with r in place of
the encoder):

    log p(x) ≈ log (1/k) Σ_i w_i,    w_i = p(x|z_i) p(z_i) / r(z_i|x),    z_i ~ r(z|x).

log p(x) is a property of the decoder and the prior; the proposal only decides how fast the estimate converges (its
expectation is a lower bound that tightens as k grows, Burda et al., 2016).  The encoder q(z|x) is the natural
proposal, and with it k = 1 is the ELBO.  But a proposal much narrower than the posterior p(z|x) (HEBAE's σ_i² of
order 1e-5, chapter 6; the two-stage VAE's first stage, chapter 7) never visits the bulk of the posterior, and the
estimate falls by tens of nats for any affordable k.  This module's default proposal is the *defensive mixture*

    r(z|x) = ½ q(z|x) + ½ N(z; m(x), H(x)⁻¹)

of the encoder and a Laplace approximation of the posterior computed from the decoder and the prior alone: m is the
mode of log p(x|z) + log p(z), reached by damped Newton steps from μ(x), and H the Gauss–Newton curvature there,

    H = Jᵀ W J + C(z),    J = ∂η/∂z (the decoder's Jacobian),    W = −∂² log p(x|η)/∂η² (diagonal),

with C the prior's curvature −∇² log p(z) (the identity for N(0, I); negative eigenvalues of a mixture prior's
curvature are dropped).  Every weight is at most twice what one component alone would give it (defensive importance
sampling, Hesterberg 1995), so the mixture is never much worse than the better of the two; when the encoder is too
sharp the Laplace half carries the estimate, when the posterior is far from Gaussian the encoder half does.  Half of
the k samples come from each component, and every weight uses the mixture's density (the balance heuristic, which
keeps the estimate of p(x) unbiased).

The estimate's Monte Carlo standard error comes from the same weights by the delta method:
Var[log p̂] ≈ Var[w] / (k E[w]²) = Σw²/(Σw)² − 1/k.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from .checks import choice, positive_int
from .gaussians import LOG_2PI

__all__ = ["Estimate", "LogLikelihood", "PROPOSALS", "laplace_proposal", "log_likelihood_parts"]

PROPOSALS = ("mixture", "encoder", "laplace")


class Estimate(float):
    """A Monte Carlo estimate in nats: a ``float`` that also carries its standard error (``stderr``), the number of
    samples ``k`` and the ``proposal``.  Arithmetic gives plain floats; ``repr`` shows "value ± stderr"."""

    stderr: float
    k: int
    proposal: str

    def __new__(cls, value: float, stderr: float, k: int, proposal: str) -> Estimate:
        obj = super().__new__(cls, value)
        obj.stderr, obj.k, obj.proposal = float(stderr), int(k), proposal
        return obj

    def __repr__(self) -> str:
        return f"{float(self):.3f} ± {self.stderr:.3f}"

    def __reduce__(self):
        return (Estimate, (float(self), self.stderr, self.k, self.proposal))


class LogLikelihood(NamedTuple):
    """Per-example results of :func:`log_likelihood_parts` (on the CPU)."""

    values: torch.Tensor  # log p̂(x_n), [N]
    variances: torch.Tensor  # Monte Carlo variance of each log p̂(x_n), [N]
    ess: torch.Tensor  # effective sample size of each example's weights, (Σw)²/Σw², [N]

    def estimate(self, k: int, proposal: str) -> Estimate:
        """The mean over the examples, with the standard error of its Monte Carlo part."""
        n = len(self.values)
        return Estimate(float(self.values.double().mean()), float(self.variances.double().sum().sqrt() / n), k,
                        proposal)


class Gaussian(NamedTuple):
    """N(m, H⁻¹) per example, held as its mean ``[B, D]`` and the lower Cholesky factor L of its precision
    H = L Lᵀ ``[B, D, D]``."""

    mean: torch.Tensor
    precision_chol: torch.Tensor

    def sample(self, n: int) -> torch.Tensor:
        """``[n, B, D]``: z = m + L⁻ᵀ ε, whose covariance is L⁻ᵀ L⁻¹ = H⁻¹."""
        eps = torch.randn(n, *self.mean.shape, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.linalg.solve_triangular(self.precision_chol.mT, eps.unsqueeze(-1),
                                                         upper=True).squeeze(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; m, H⁻¹) = −½ D log 2π + Σ_j log L_jj − ½ ‖Lᵀ (z − m)‖², for z ``[n, B, D]``."""
        d = self.mean.shape[-1]
        whitened = torch.einsum("bji,nbj->nbi", self.precision_chol, z - self.mean)  # Lᵀ (z − m)
        log_det = self.precision_chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * d * LOG_2PI + log_det - 0.5 * whitened.pow(2).sum(-1)


def _likelihood_curvature(likelihood, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """W = −∂² log p(x|η)/∂η², elementwise ``[B, X]``: the likelihood's own formula where it has one, else autograd
    (exact for likelihoods that factorize over the data dimensions, as vaelab's do)."""
    if hasattr(likelihood, "curvature"):
        return likelihood.curvature(params).expand_as(params)
    with torch.enable_grad():
        eta = params.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(likelihood.log_prob(x, eta).sum(), eta, create_graph=True)
        (second,) = torch.autograd.grad(grad.sum(), eta)
    return (-second).clamp_min(0)


def _log_joint(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x|z) + log p(z) per example."""
    return model.likelihood.log_prob(x, model.decode(z)) + model.prior.log_prob(z)


def _gradient(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """∇_z [log p(x|z) + log p(z)] ``[B, D]`` (each example's log joint depends on its own z only)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(_log_joint(model, x, z).sum(), z)
    return grad


def _decoder_jacobian(model, z: torch.Tensor) -> torch.Tensor:
    """J = ∂η/∂z of the decoder at every row of ``z`` ``[B, D]``: ``[B, X, D]``, by forward-mode differentiation of
    one pass over D copies of the batch, copy j pushed along the j-th unit vector."""
    b, d = z.shape
    tangents = torch.eye(d, device=z.device, dtype=z.dtype).repeat_interleave(b, 0)  # [D·B, D]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch's forward-mode set-up uses torch.jit internally
        _, columns = torch.func.jvp(model.decode, (z.detach().repeat(d, 1),), (tangents,))
    return columns.reshape(d, b, -1).permute(1, 2, 0)


def _gradient_and_curvature(model, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """∇_z [log p(x|z) + log p(z)] ``[B, D]`` and the Gauss–Newton curvature H = Jᵀ W J + C ``[B, D, D]`` (float64),
    C the prior's curvature with its negative eigenvalues dropped."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        params = model.decode(z)
        (grad,) = torch.autograd.grad(model.likelihood.log_prob(x, params).sum(), z)
    grad_prior, prior_curvature = model.prior.gradient_and_curvature(z.detach())
    jacobian = _decoder_jacobian(model, z).double()  # J = ∂η/∂z, [B, X, D]
    weight = _likelihood_curvature(model.likelihood, x, params.detach()).double()
    h_likelihood = jacobian.mT @ (weight.unsqueeze(-1) * jacobian)  # Jᵀ W J
    prior_curvature = 0.5 * (prior_curvature + prior_curvature.mT).double()
    if not bool((prior_curvature == torch.eye(z.shape[-1], device=z.device, dtype=prior_curvature.dtype)).all()):
        values, vectors = torch.linalg.eigh(prior_curvature)
        prior_curvature = (vectors * values.clamp_min(0).unsqueeze(-2)) @ vectors.mT
    h = 0.5 * (h_likelihood + h_likelihood.mT) + prior_curvature
    values, vectors = torch.linalg.eigh(h)
    floor = 1e-6 * values.amax(-1, keepdim=True).clamp_min(1.0)  # a direction no term curves: wide, not infinite
    h = (vectors * values.clamp_min(floor).unsqueeze(-2)) @ vectors.mT
    return (grad + grad_prior).detach(), h


def laplace_proposal(model, x: torch.Tensor, start: torch.Tensor, newton_steps: int = 2,
                     scale: float = 1.0) -> Gaussian:
    """N(m, scale² H⁻¹): the Laplace approximation of p(z|x) at the mode m of log p(x|z) + log p(z), found by
    ``newton_steps`` damped Newton steps from ``start`` (the encoder's mean), with the Gauss–Newton curvature H.

    A Newton step z ← z + t H⁻¹ ∇ is taken with the largest t in {1, ½, ¼, ⅛} that raises the log joint, example by
    example; an example whose log joint no step raises stays where it is.
    """
    z = start.detach().clone()
    grad, h = _gradient_and_curvature(model, x, z)
    chol = torch.linalg.cholesky(h)  # the curvature at the start serves every Newton step; recomputed at the end
    for step_number in range(newton_steps):
        if step_number:
            grad = _gradient(model, x, z)
        step = torch.cholesky_solve(grad.double().unsqueeze(-1), chol).squeeze(-1).to(z.dtype)
        current = _log_joint(model, x, z)
        moved = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        for t in (1.0, 0.5, 0.25, 0.125):
            candidate = z + t * step
            better = (_log_joint(model, x, candidate) > current) & ~moved
            z = torch.where(better.unsqueeze(-1), candidate, z)
            moved |= better
            if bool(moved.all()):
                break
    _, h = _gradient_and_curvature(model, x, z)
    chol = torch.linalg.cholesky(h / scale**2).to(z.dtype)
    return Gaussian(z, chol)


@torch.no_grad()
def _batch_log_likelihood(model, xb: torch.Tensor, k: int, samples_per_chunk: int, proposal: str,
                          newton_steps: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p̂(x), its Monte Carlo variance and the effective sample size for one batch."""
    deterministic = getattr(model, "deterministic_encoder", False)
    mu, logvar = model.encode(xb)
    laplace = laplace_proposal(model, xb, mu, newton_steps, scale) if proposal != "encoder" else None
    # the mixture r(z|x) = ½ q(z|x) + ½ N(z; ẑ, H⁻¹) draws k − ⌊k/2⌋ samples from its encoder half and ⌊k/2⌋ from its
    # Laplace half (stratified: the same mixture density as drawing each half at random, with less variance)
    n_encoder = 0 if (proposal == "laplace" or deterministic) else (k if proposal == "encoder" else k - k // 2)
    counts = {"encoder": n_encoder, "laplace": k - n_encoder}
    log_share = {name: math.log(n / k) for name, n in counts.items() if n}
    sum_w = torch.full((len(xb),), -math.inf, device=xb.device, dtype=torch.float64)
    sum_w2 = sum_w.clone()
    for source, total in counts.items():
        done = 0
        while done < total:
            m = min(samples_per_chunk, total - done)
            if source == "encoder":
                z = model.reparameterize(mu, logvar, m).reshape(m, *mu.shape)
            else:
                z = laplace.sample(m)
            log_r = [log_share["encoder"] + model.posterior_log_prob(z, mu, logvar)] if "encoder" in log_share else []
            if "laplace" in log_share:
                log_r.append(log_share["laplace"] + laplace.log_prob(z))
            # log r(z|x) = log Σ_s π_s r_s(z|x): the whole mixture's density, whichever half drew z
            log_proposal = torch.logsumexp(torch.stack(log_r), 0) if len(log_r) > 1 else log_r[0]
            # log w = log p(x|z) + log p(z) − log r(z|x), the importance weight of eq. 1.8
            log_w = (model.likelihood.log_prob(xb, model.decode(z)) + model.prior.log_prob(z) - log_proposal).double()
            sum_w = torch.logaddexp(sum_w, log_w.logsumexp(0))
            sum_w2 = torch.logaddexp(sum_w2, (2 * log_w).logsumexp(0))
            done += m
    values = sum_w - math.log(k)  # log p̂(x) = log (1/k) Σ_i w_i                                   (eq. 1.8)
    # Var[log p̂(x)] ≈ Var[p̂]/p̂² (the delta method), estimated by Σw²/(Σw)² − 1/k
    variances = (torch.exp(sum_w2 - 2 * sum_w) - 1 / k).clamp_min(0)
    ess = torch.exp(2 * sum_w - sum_w2)
    return values, variances, ess


def log_likelihood_parts(model, x: torch.Tensor, k: int, batch_size: int, chunk_elements: int,
                         proposal: str = "mixture", newton_steps: int = 2, scale: float = 1.0,
                         progress: bool = False) -> LogLikelihood:
    """Per-example log p̂(x), Monte Carlo variances and effective sample sizes for prepared data ``x`` (on the
    model's device), drawing at most ``chunk_elements`` decoder outputs at a time.  See the module's notes."""
    choice(proposal, "proposal", PROPOSALS)
    positive_int(k, "k (the number of importance samples)")
    positive_int(newton_steps + 1, "newton_steps + 1")
    values, variances, ess = [], [], []
    batches = x.split(positive_int(batch_size, "batch_size"))
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"log p(x), k = {k}", unit="batch", disable=False)
    for xb in batches:
        samples_per_chunk = max(1, min(k, chunk_elements // (len(xb) * x.shape[1])))
        v, var, e = _batch_log_likelihood(model, xb, k, samples_per_chunk, proposal, newton_steps, scale)
        values.append(v.cpu())
        variances.append(var.cpu())
        ess.append(e.cpu())
    return LogLikelihood(torch.cat(values), torch.cat(variances), torch.cat(ess))
