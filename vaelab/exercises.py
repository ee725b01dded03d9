"""Checkers for the book's exercises: ``vaelab.exercises.check(label, answer)``.

A checker runs the student's function on fixed, seeded inputs and compares the result with a reference computed here
from an independent route (``torch.distributions`` or the library's tested formulas), never from a stored number.
When the answer is wrong it says *how* in plain words: the shape, a sign, a factor of 2, a missing term, off by a
constant.  It recognizes the usual mistakes by computing them too, and naming the one the answer matches.

    import vaelab as vl
    def kl(mu1, sigma1, mu2, sigma2): ...
    vl.exercises.check("ex-1-kl", kl)          # prints what is right or wrong; returns a Feedback

``TEMPLATES[label]`` is the code a student starts from (the student edition inserts it after the exercise).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .hebae import gaussian_kl_full
from .mmd import kernel_matrix


@dataclass
class Feedback:
    """The outcome of a check: ``passed`` and a message in plain words."""

    label: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.label}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol))


def _as_tensor(value, what: str) -> torch.Tensor:
    if value is None:
        raise _AnswerError(f"{what} returned None: did you forget the `return` statement?")
    try:
        return torch.as_tensor(value).double()
    except Exception as err:  # noqa: BLE001 - reported to the student
        raise _AnswerError(f"{what} returned a {type(value).__name__}, which is not a number or a tensor "
                           f"({err}).") from err


class _AnswerError(Exception):
    """Raised inside a checker with the message to show."""


def _diagnose(got: torch.Tensor, expected: torch.Tensor, mistakes: dict[str, torch.Tensor], what: str) -> str:
    """Name what is wrong with ``got``: its shape, or the typical mistake it matches, or how far it is."""
    if got.shape != expected.shape:
        if got.numel() == 1 and expected.numel() > 1:
            return (f"{what} returned a single number, but one value per example (shape {list(expected.shape)}) was "
                    "expected: do not average or sum over the examples.")
        return f"{what} returned shape {list(got.shape)}, but shape {list(expected.shape)} was expected."
    if not bool(torch.isfinite(got).all()):
        return f"{what} returned NaN or infinite values; check logarithms and divisions."
    for message, wrong in mistakes.items():
        if _close(got, wrong):
            return message
    if _close(got, -expected):
        return "The sign is flipped: you return the negative of the quantity asked for."
    for factor in (2.0, 0.5):
        if _close(got, factor * expected):
            return f"Off by a factor of {factor:g}: check the ½ in front of the expression (or a doubled term)."
    diff = got - expected
    if float(diff.std()) < 1e-6 * (1 + float(expected.abs().mean())) and expected.numel() > 1:
        return (f"Off by the constant {float(diff.mean()):+.4f} for every input: a constant term is missing or extra "
                "(e.g. −½, −1 or log 2π).")
    worst = int(diff.abs().argmax())
    return (f"Not the expected values: at input {worst} you return {float(got.flatten()[worst]):.6g} where "
            f"{float(expected.flatten()[worst]):.6g} was expected.")


def _call(answer: Callable, *args):
    try:
        return answer(*args)
    except NotImplementedError as err:
        raise _AnswerError("Not implemented yet: replace the `...` or `raise NotImplementedError` with your "
                           "code.") from err
    except Exception as err:  # noqa: BLE001 - reported to the student
        line = traceback.format_exception_only(type(err), err)[-1].strip()
        raise _AnswerError(f"Your function raised {line}") from err


# ---------------------------------------------------------------------------------------------------- the checkers


def _ex_1_kl(answer: Callable) -> str:
    """KL(N(μ1, σ1²) || N(μ2, σ2²)) in one dimension, σ the standard deviations (chapter 1, exercise)."""
    g = torch.Generator().manual_seed(11)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    s1, s2 = (torch.rand(6, generator=g, dtype=torch.float64) + 0.3 for _ in range(2))
    normal = torch.distributions.Normal
    expected = torch.distributions.kl_divergence(normal(mu1, s1), normal(mu2, s2))
    got = _as_tensor(_call(answer, mu1, s1, mu2, s2), "kl(mu1, sigma1, mu2, sigma2)")
    quad = (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2)
    mistakes = {
        "You used the standard deviations where the variances belong (σ instead of σ²) in the quadratic term.":
            torch.log(s2 / s1) + (s1 + (mu1 - mu2) ** 2) / (2 * s2) - 0.5,
        "The log term is inverted: it is log(σ2/σ1), which is ½ log(σ2²/σ1²).": torch.log(s1 / s2) + quad - 0.5,
        "The log term has no ½: log(σ2²/σ1²) should be ½ log(σ2²/σ1²) = log(σ2/σ1).":
            torch.log(s2**2 / s1**2) + quad - 0.5,
        "You computed KL(N(μ2, σ2²) || N(μ1, σ1²)): the KL is not symmetric, swap the roles.":
            torch.log(s1 / s2) + (s2**2 + (mu1 - mu2) ** 2) / (2 * s1**2) - 0.5,
    }
    if not _close(got, expected):
        raise _AnswerError(_diagnose(got, expected, mistakes, "kl(mu1, sigma1, mu2, sigma2)"))
    return "matches torch.distributions.kl_divergence on 6 random pairs of Gaussians."


def _ex_1_elbo_code(answer: Callable) -> str:
    """my_elbo(model, x): per-example ELBO with one reparameterized sample (chapter 1, exercise)."""
    from .models import VAE

    torch.manual_seed(0)
    model = VAE(x_dim=12, z_dim=3, hidden=[8]).double().eval()
    x = torch.bernoulli(torch.full((7, 12), 0.4, dtype=torch.float64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.manual_seed(5)
        got = _as_tensor(_call(answer, model, x), "my_elbo(model, x)")
        mu, logvar = model.encode(x)
        torch.manual_seed(5)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # the same noise, drawn the same way
        recon = model.likelihood.log_prob(x, model.decode(z))
        from .priors import gaussian_kl

        kl = gaussian_kl(mu, logvar)
    expected = recon - kl
    mistakes = {
        "This is the reconstruction term alone: subtract the KL term (1.6).": recon,
        "You added the KL term: the ELBO is the reconstruction term *minus* the KL (1.3).": recon + kl,
        "Your KL term has no ½ (1.6).": recon - 2 * kl,
        "You return the loss, −ELBO: the ELBO is positive-is-better (recon − KL).": -expected,
    }
    if not _close(got, expected, rtol=1e-5):
        message = _diagnose(got, expected, mistakes, "my_elbo(model, x)")
        if message.startswith("Not the expected"):
            message += (" If your formula is right, draw the noise with one call `torch.randn_like(mu)` so that the "
                        "checker can reproduce it.")
        raise _AnswerError(message)
    return "the per-example ELBO of a small VAE, to rounding, with the same noise."


def _ex_2_units(answer: Callable) -> str:
    """kl_per_dimension(mu, logvar) -> [z_dim]: KL_j averaged over the examples (chapter 2, exercise)."""
    g = torch.Generator().manual_seed(21)
    mu, logvar = (torch.randn(50, 4, generator=g, dtype=torch.float64) for _ in range(2))
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)).mean(0)
    got = _as_tensor(_call(answer, mu, logvar), "kl_per_dimension(mu, logvar)")
    mistakes = {
        "You summed over the examples: average them (the KL per dimension is a mean over the data).": expected * 50,
        "You forgot the −log σ² term of (1.6).": (0.5 * (mu**2 + logvar.exp() - 1)).mean(0),
        "You used σ where σ² belongs: exp(logvar) is the variance σ².":
            (0.5 * (mu**2 + (0.5 * logvar).exp() - 1 - logvar)).mean(0),
    }
    if got.shape == torch.Size([50, 4]):
        raise _AnswerError("You returned one KL per example and dimension, shape [N, z_dim]: average over the "
                           "examples.")
    if got.shape == torch.Size([50]):
        raise _AnswerError("You summed over the latent dimensions: keep them apart (shape [z_dim]) and average over "
                           "examples.")
    if not _close(got, expected):
        raise _AnswerError(_diagnose(got, expected, mistakes, "kl_per_dimension(mu, logvar)"))
    return "matches torch.distributions, dimension by dimension."


def _ex_4_unbalanced(answer: Callable) -> str:
    """t_star(log_ratio, m, n): the optimal logit with m samples of q for every n of p (chapter 4, exercise)."""
    log_ratio = torch.linspace(-2, 2, 5, dtype=torch.float64)
    cases = [(3, 1), (1, 4), (2, 5)]
    for m, n in cases:
        got = _as_tensor(_call(answer, log_ratio, m, n), "t_star(log_ratio, m, n)")
        # the optimum of the weighted logistic loss, found numerically: σ(t) = m q / (m q + n p)
        probability = m * log_ratio.exp() / (m * log_ratio.exp() + n)
        expected = torch.log(probability / (1 - probability))
        mistakes = {
            "The correction has the wrong sign: with more samples of q (m > n) the logit grows, by log(m/n).":
                log_ratio - math.log(m / n),
            "No correction: with unequal classes the optimal logit is not log q/p.": log_ratio,
        }
        if not _close(got, expected):
            raise _AnswerError(_diagnose(got, expected, mistakes, f"t_star(log_ratio, m={m}, n={n})"))
    return "the optimal logit for three class ratios."


def _ex_5_bias(answer: Callable) -> str:
    """mmd2_biased(x, y): the V-statistic, averaging k over all pairs including i = j (chapter 5, exercise)."""
    g = torch.Generator().manual_seed(51)
    x = torch.randn(9, 2, generator=g, dtype=torch.float64)
    y = torch.randn(11, 2, generator=g, dtype=torch.float64) + 0.3
    kxx, kyy, kxy = (kernel_matrix(a, b, "imq") for a, b in ((x, x), (y, y), (x, y)))
    expected = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    got = _as_tensor(_call(answer, x, y), "mmd2_biased(x, y)")
    unbiased = (kxx.sum() - kxx.trace()) / 72 + (kyy.sum() - kyy.trace()) / 110 - 2 * kxy.mean()
    mistakes = {
        "This is the unbiased estimate (5.4): the biased one keeps the i = j terms in the within-set averages.":
            unbiased,
        "The cross term needs the factor 2: −2 · mean k(x_i, y_j).": kxx.mean() + kyy.mean() - kxy.mean(),
        "You used another kernel or scale: use the IMQ kernel with C = 2·d (vaelab.mmd.kernel_matrix(x, y, 'imq')).":
            kernel_matrix(x, x, "rbf").mean() + kernel_matrix(y, y, "rbf").mean()
            - 2 * kernel_matrix(x, y, "rbf").mean(),
    }
    got = got.reshape(()) if got.numel() == 1 else got
    if not _close(got, expected):
        raise _AnswerError(_diagnose(got, expected, mistakes, "mmd2_biased(x, y)"))
    return "the biased (V-statistic) estimate, with the IMQ kernel."


def _ex_6_normalization(answer: Callable) -> str:
    """kl_with(mu, ddof): KL(N(β̂, Σ̂) || N(0, I)) with Σ̂ normalized by m − ddof (chapter 6, exercise)."""
    g = torch.Generator().manual_seed(61)
    mixing = torch.randn(3, 3, generator=g, dtype=torch.float64)
    mu = torch.randn(30, 3, generator=g, dtype=torch.float64) @ mixing + 0.4
    for ddof in (0, 1):
        beta = mu.mean(0)
        sigma = (mu - beta).T @ (mu - beta) / (len(mu) - ddof)
        reference = torch.distributions.kl_divergence(
            torch.distributions.MultivariateNormal(beta, sigma),
            torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                                                   torch.eye(3, dtype=torch.float64)))
        got = _as_tensor(_call(answer, mu, ddof), f"kl_with(mu, ddof={ddof})")
        got = got.reshape(()) if got.numel() == 1 else got
        other = (mu - beta).T @ (mu - beta) / (len(mu) - (1 - ddof))
        mistakes = {
            f"With ddof={ddof} divide by m − {ddof}; you used the other normalization.":
                gaussian_kl_full(beta, torch.linalg.cholesky(other)),
            "The βᵀβ term has the wrong sign (the paper's eq. 11 typo): it is +βᵀβ.":
                reference - beta.pow(2).sum(),
        }
        if not _close(got, reference):
            raise _AnswerError(_diagnose(got, reference, mistakes, f"kl_with(mu, ddof={ddof})"))
    return "KL(N(β̂, Σ̂) || N(0, I)) for both normalizations."


def _ex_7_gamma_star(answer: Callable) -> str:
    """gamma_star(x, mean): the optimal decoder variance (7.2), the mean squared error per dimension (chapter 7)."""
    g = torch.Generator().manual_seed(71)
    x, mean = torch.rand(40, 10, generator=g, dtype=torch.float64), torch.rand(40, 10, generator=g, dtype=torch.float64)
    expected = (x - mean).pow(2).mean()
    got = _as_tensor(_call(answer, x, mean), "gamma_star(x, mean)")
    if got.numel() != 1:
        raise _AnswerError(f"gamma_star returned shape {list(got.shape)}: γ is one number, averaged over examples and "
                     "dimensions.")
    got = got.reshape(())
    mistakes = {
        "You summed over the d dimensions: γ* is the error per dimension, (1/d) E‖x − μ‖².":
            (x - mean).pow(2).sum(1).mean(),
        "That is a standard deviation: γ is a variance, do not take the square root.": (x - mean).pow(2).mean().sqrt(),
        "You averaged |x − μ|, not the squared error.": (x - mean).abs().mean(),
    }
    if not _close(got, expected):
        raise _AnswerError(_diagnose(got, expected, mistakes, "gamma_star(x, mean)"))
    return "the mean squared error per dimension, γ* of (7.2)."


CHECKERS: dict[str, Callable[[Callable], str]] = {
    "ex-1-kl": _ex_1_kl,
    "ex-1-elbo-code": _ex_1_elbo_code,
    "ex-2-units": _ex_2_units,
    "ex-4-unbalanced": _ex_4_unbalanced,
    "ex-5-bias": _ex_5_bias,
    "ex-6-normalization": _ex_6_normalization,
    "ex-7-gamma-star": _ex_7_gamma_star,
}

TEMPLATES: dict[str, str] = {
    "ex-1-kl": '''def kl(mu1, sigma1, mu2, sigma2):
    """KL(N(mu1, sigma1²) || N(mu2, sigma2²)) in one dimension; sigma = standard deviation (tensors)."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-1-kl", kl)''',
    "ex-1-elbo-code": '''def my_elbo(model, x):
    """Per-example ELBO [N] of a Bernoulli vl.VAE with one sample z (draw the noise with torch.randn_like(mu))."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-1-elbo-code", my_elbo)''',
    "ex-2-units": '''def kl_per_dimension(mu, logvar):
    """KL(q(z_j|x) || N(0, 1)) for each latent dimension j, averaged over the examples: shape [z_dim]."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-2-units", kl_per_dimension)''',
    "ex-4-unbalanced": '''def t_star(log_ratio, m, n):
    """The optimal logit T*(z) given log q(z)/p(z), with m samples of q for every n samples of p."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-4-unbalanced", t_star)''',
    "ex-5-bias": '''def mmd2_biased(x, y):
    """The biased MMD² estimate (all pairs, i = j included) with the IMQ kernel: vl.mmd.kernel_matrix(a, b, "imq")."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-5-bias", mmd2_biased)''',
    "ex-6-normalization": '''def kl_with(mu, ddof):
    """KL(N(β̂, Σ̂) || N(0, I)) for a batch mu [m, k], with Σ̂ normalized by m − ddof."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-6-normalization", kl_with)''',
    "ex-7-gamma-star": '''def gamma_star(x, mean):
    """The optimal decoder variance (7.2) for data x and decoder means, both [N, d]: one number."""
    raise NotImplementedError  # your code

vl.exercises.check("ex-7-gamma-star", gamma_star)''',
}


def check(label: str, answer: Callable, quiet: bool = False) -> Feedback:
    """Check ``answer`` for the exercise ``label`` (e.g. ``"ex-1-kl"``); print and return the :class:`Feedback`."""
    if label not in CHECKERS:
        raise KeyError(f"No checker for {label!r}; the exercises with checkers are: {', '.join(CHECKERS)}.")
    if not callable(answer):
        feedback = Feedback(label, False, f"Pass your function itself (e.g. check({label!r}, my_function)), not "
                                          f"its result ({type(answer).__name__}).")
    else:
        try:
            feedback = Feedback(label, True, "Correct: " + CHECKERS[label](answer))
        except _AnswerError as wrong:
            feedback = Feedback(label, False, str(wrong))
    if not quiet:
        print(feedback)
    return feedback
