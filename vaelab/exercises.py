"""Checkers for the book's exercises: ``vaelab.exercises.check(label, answer)``.

A checker runs the student's function on **fresh random inputs** (new ones at every call; ``seed=`` repeats a draw)
and judges it in two ways, both readable in this file:

- by **comparison** with a route the exercise does not ask for: ``torch.distributions`` or the library's own tested
  code (``model.terms``, ``vl.mmd.kernel_matrix``), or a numerical optimization of the objective the exercise is
  about (the optimal logit of chapter 4, the optimal γ of chapter 7);
- by **properties** every right answer has (a KL is zero between equal distributions and does not change with the
  units; an MMD² between empirical distributions is zero for a shuffled copy and unchanged when every sample is
  repeated), which is also how it names a mistake: the shape, a sign, a factor, a missing term, the wrong
  normalization, a library shortcut where the exercise asks for the formula.

This public module is not an answer key and does not pretend to be one: it holds no worked solution, but a student
who reads it learns what a right answer must satisfy.  The reference solutions and the hidden tests of graded
assignments live with the instructor (the ``course`` folder of the book's repository, not this package).

    import vaelab as vl
    def kl(mu1, sigma1, mu2, sigma2): ...
    vl.exercises.check("ex-1-kl", kl)          # prints what is right or wrong; returns a Feedback

``TEMPLATES[label]`` is the code a student starts from (the student edition inserts it after the exercise).
"""

from __future__ import annotations

import contextlib
import secrets
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from .hebae import gaussian_kl_full
from .mmd import kernel_matrix, mmd2


@dataclass
class Feedback:
    """The outcome of a check: ``passed`` and a message in plain words.

    ``check`` prints it; a notebook cell that ends with the ``check(...)`` call then shows it once, not twice.
    """

    label: str
    passed: bool
    message: str
    _printed: bool = field(default=False, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.label}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """IPython shows a cell's last value: skip it right after ``check`` printed the same text."""
        if self._printed:
            self._printed = False
        else:
            print(self)


class _AnswerError(Exception):
    """Raised inside a checker with the message to show."""


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


def _scalar(got: torch.Tensor, what: str) -> torch.Tensor:
    if got.numel() != 1:
        raise _AnswerError(f"{what} returned shape {list(got.shape)}, but it is one number.")
    return got.reshape(())


def _diagnose(got: torch.Tensor, expected: torch.Tensor, mistakes: dict[str, torch.Tensor], what: str,
              reference: str = "the reference") -> str:
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
    if expected.numel() > 1 and float(diff.std()) < 1e-6 * (1 + float(expected.abs().mean())):
        return (f"Off by the constant {float(diff.mean()):+.4f} for every input: a constant term is missing or extra "
                "(e.g. −½, −1 or log 2π).")
    worst = int(diff.abs().argmax())
    where = f"at input {worst} " if expected.numel() > 1 else ""
    return (f"Not the expected values: {where}you return {float(got.flatten()[worst]):.6g} where {reference} gives "
            f"{float(expected.flatten()[worst]):.6g}.")


def _call(answer: Callable, *args):
    try:
        return answer(*args)
    except NotImplementedError as err:
        raise _AnswerError("Not implemented yet: replace the `...` or `raise NotImplementedError` with your "
                           "code.") from err
    except _ShortcutError:
        raise
    except Exception as err:  # noqa: BLE001 - reported to the student
        line = traceback.format_exception_only(type(err), err)[-1].strip()
        raise _AnswerError(f"Your function raised {line}") from err


class _ShortcutError(Exception):
    """Raised when the answer calls a library function that computes what the exercise asks to write."""


def _names_used(function: Callable, forbidden: dict[str, object]) -> set[str]:
    """Which of ``forbidden`` (name -> object) the function's code refers to: by name (global, attribute or closure
    variable, in it or in the code nested in it), or by an alias bound to the same object."""
    code = getattr(function, "__code__", None)
    if code is None:
        return set()
    names, stack = set(), [code]
    while stack:
        code = stack.pop()
        names.update(code.co_names + code.co_freevars)
        stack += [const for const in code.co_consts if hasattr(const, "co_names")]
    bound = [getattr(function, "__globals__", {}).get(name) for name in names]
    bound += [cell.cell_contents for cell in (getattr(function, "__closure__", None) or ())
              if cell.cell_contents is not None]
    return {name for name, obj in forbidden.items() if name in names or any(b is obj for b in bound)}


@contextlib.contextmanager
def _forbidden(answer: Callable, owners: list[tuple[object, str]], asked: str) -> Iterator[None]:
    """Fail the answer if it uses ``owner.name`` for any pair: by name in its code, or by calling it (patched)."""
    used = _names_used(answer, {name: getattr(owner, name) for owner, name in owners})
    if used:
        raise _ShortcutError(f"Your function uses {', '.join(sorted(used))}, which computes the answer for you: the "
                        f"exercise asks you to write {asked} yourself (you may use it to test your formula).")
    saved = [(owner, name, getattr(owner, name)) for owner, name in owners]

    def refuse(name):
        def refused(*args, **kwargs):
            raise _ShortcutError(f"Your function calls {name}, which computes the answer for you: the exercise asks "
                                 f"you to write {asked} yourself (you may use it to test your formula).")
        return refused

    try:
        for owner, name, _ in saved:
            setattr(owner, name, refuse(name))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _kl_shortcuts() -> list[tuple[object, str]]:
    return [(torch.distributions, "kl_divergence"), (torch.distributions.kl, "kl_divergence")]


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, dtype=torch.float64)


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------------- the checkers


def _ex_1_kl(answer: Callable, g: torch.Generator) -> str:
    """KL(N(μ1, σ1²) || N(μ2, σ2²)) in one dimension, σ the standard deviations (chapter 1, exercise)."""
    mu1, mu2 = _randn(g, 6), _randn(g, 6)
    s1, s2 = _rand(g, 6) + 0.3, _rand(g, 6) + 0.3
    normal = torch.distributions.Normal
    expected = torch.distributions.kl_divergence(normal(mu1, s1), normal(mu2, s2))
    what = "kl(mu1, sigma1, mu2, sigma2)"

    def kl(*args):
        with _forbidden(answer, _kl_shortcuts(), "the KL of two Gaussians"):
            return _as_tensor(_call(answer, *args), what)

    got = kl(mu1, s1, mu2, s2)
    if _close(got, expected):
        return "matches torch.distributions.kl_divergence on 6 random pairs of Gaussians."
    if got.shape != expected.shape or not bool(torch.isfinite(got).all()):
        raise _AnswerError(_diagnose(got, expected, {}, what))
    # name the mistake by the properties every KL has, not by comparing with a formula
    swapped = torch.distributions.kl_divergence(normal(mu2, s2), normal(mu1, s1))
    if _close(got, swapped):
        raise _AnswerError("You computed KL(N(μ2, σ2²) || N(μ1, σ1²)): the KL is not symmetric, swap the roles.")
    itself = kl(mu1, s1, mu1, s1)
    if not _close(itself, torch.zeros_like(itself)):
        if _close(itself, itself.mean().expand_as(itself)):
            raise _AnswerError(f"KL(p || p) must be 0, but yours is {float(itself.mean()):+.4f} for every p: a "
                               "constant term is missing or extra (the −½?).")
        raise _AnswerError("KL(p || p) must be 0 for every p, but yours is not: check each term at μ1 = μ2, σ1 = σ2.")
    units = 3.0
    if not _close(kl(units * mu1, units * s1, units * mu2, units * s2), got):
        raise _AnswerError("Your KL changes when every μ and σ is multiplied by the same number (a change of units); "
                           "the KL does not: check the powers of σ (variances where variances belong).")
    equal_widths = kl(mu1, s2, mu2, s2)
    if _close(equal_widths, torch.distributions.kl_divergence(normal(mu1, s2), normal(mu2, s2))):
        raise _AnswerError("Right when σ1 = σ2, wrong otherwise: check the terms in σ1/σ2 (the log term and the σ1² "
                           "of the quadratic term).")
    if bool((got < -1e-9).any()):
        raise _AnswerError("A KL is never negative, but yours is at some inputs: check the signs of the terms.")
    raise _AnswerError(_diagnose(got, expected, {}, what, "torch.distributions.kl_divergence"))


def _ex_1_elbo_code(answer: Callable, g: torch.Generator) -> str:
    """my_elbo(model, x): per-example ELBO with one reparameterized sample (chapter 1, exercise)."""
    from .models import VAE

    seed = int(torch.randint(2**31 - 1, (), generator=g))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VAE(x_dim=12, z_dim=3, hidden=[8]).double().eval()
    x = torch.bernoulli(torch.full((7, 12), 0.4, dtype=torch.float64), generator=g)
    shortcuts = [(model, "terms"), (model, "terms_and_codes"), (model, "loss"), (model, "forward")]
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        with _forbidden(answer, shortcuts, "the ELBO from encode, decode and the noise"):
            got = _as_tensor(_call(answer, model, x), "my_elbo(model, x)")
        torch.manual_seed(seed)
        recon, kl = model.terms(x)  # the library's ELBO terms, with the same noise drawn the same way
        torch.manual_seed(seed)
        mu, logvar = model.encode(x)
        wide = model.likelihood.log_prob(x, model.decode(mu + logvar.exp() * torch.randn_like(mu)))
    expected = recon - kl
    mistakes = {
        "This is the reconstruction term alone: subtract the KL term (1.6).": recon,
        "You added the KL term: the ELBO is the reconstruction term *minus* the KL (1.3).": recon + kl,
        "Your KL term has no ½ (1.6).": recon - 2 * kl,
        "You return the loss, −ELBO: the ELBO is positive-is-better (recon − KL).": -expected,
        "You used exp(logvar) as the standard deviation: logvar is log σ², so σ = exp(½·logvar) in (1.4).":
            wide - kl,
    }
    if not _close(got, expected, rtol=1e-5):
        message = _diagnose(got, expected, mistakes, "my_elbo(model, x)", "the library's model.terms")
        if message.startswith("Not the expected"):
            message += (" If your formula is right, draw the noise with one call `torch.randn_like(mu)` so that the "
                        "checker can reproduce it.")
        raise _AnswerError(message)
    return "the per-example ELBO of a small random VAE, to rounding, with the same noise."


def _ex_2_units(answer: Callable, g: torch.Generator) -> str:
    """kl_per_dimension(mu, logvar) -> [z_dim]: KL_j averaged over the examples (chapter 2, exercise)."""
    mu, logvar = _randn(g, 50, 4), _randn(g, 50, 4)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)).mean(0)
    with _forbidden(answer, _kl_shortcuts(), "the KL per dimension from (1.6)"):
        got = _as_tensor(_call(answer, mu, logvar), "kl_per_dimension(mu, logvar)")
    mistakes = {  # each a deviation from the reference, not a formula of the answer
        "You summed over the examples: average them (the KL per dimension is a mean over the data).": expected * 50,
        "You forgot the −log σ² term of (1.6).": expected + 0.5 * logvar.mean(0),
        "You used σ where σ² belongs: exp(logvar) is the variance σ².":
            expected + 0.5 * ((0.5 * logvar).exp() - logvar.exp()).mean(0),
    }
    if got.shape == torch.Size([50, 4]):
        raise _AnswerError("You returned one KL per example and dimension, shape [N, z_dim]: average over the "
                           "examples.")
    if got.shape == torch.Size([50]):
        raise _AnswerError("You summed over the latent dimensions: keep them apart (shape [z_dim]) and average over "
                           "examples.")
    if not _close(got, expected):
        raise _AnswerError(_diagnose(got, expected, mistakes, "kl_per_dimension(mu, logvar)", "torch.distributions"))
    return "matches torch.distributions, dimension by dimension."


def _minimize_convex(derivative: Callable[[torch.Tensor], torch.Tensor], low: float, high: float) -> torch.Tensor:
    """The zero of an increasing function on [low, high], elementwise, by bisection (float64, 200 halvings)."""
    lo = torch.full_like(derivative(torch.tensor(0.0, dtype=torch.float64)), low)
    hi = torch.full_like(lo, high)
    for _ in range(200):
        mid = (lo + hi) / 2
        up = derivative(mid) > 0
        hi, lo = torch.where(up, mid, hi), torch.where(up, lo, mid)
    return (lo + hi) / 2


def _ex_4_unbalanced(answer: Callable, g: torch.Generator) -> str:
    """t_star(log_ratio, m, n): the optimal logit with m samples of q for every n of p (chapter 4, exercise)."""
    log_ratio = torch.sort(_rand(g, 5) * 4 - 2).values
    cases = [(3, 1), (1, 4), (2, 5)]
    for m, n in cases:
        what = f"t_star(log_ratio, m={m}, n={n})"
        got = _as_tensor(_call(answer, log_ratio, m, n), what)
        # the logit that minimizes the classifier's loss at each z, found numerically: per unit of p(z), the loss
        # is m·(q/p)·softplus(−T) + n·softplus(T), whose derivative −m·(q/p)·σ(−T) + n·σ(T) increases in T
        def derivative(t, m=m, n=n):
            return -m * log_ratio.exp() * torch.sigmoid(-t) + n * torch.sigmoid(t)

        expected = _minimize_convex(derivative, -30.0, 30.0)
        mistakes = {
            "The correction has the wrong sign: with more samples of q (m > n) the logit grows.":
                2 * log_ratio - expected,
            "No correction: with unequal classes the optimal logit is not log q/p.": log_ratio,
        }
        if not _close(got, expected):
            raise _AnswerError(_diagnose(got, expected, mistakes, what, "minimizing the classifier's loss"))
    return "the logit that minimizes the weighted classifier loss, for three class ratios."


def _ex_5_bias(answer: Callable, g: torch.Generator) -> str:
    """mmd2_biased(x, y): the V-statistic, averaging k over all pairs including i = j (chapter 5, exercise)."""
    x, y = _randn(g, 9, 2), _randn(g, 11, 2) + 0.3

    def estimate(a, b, what="mmd2_biased(x, y)"):
        return _scalar(_as_tensor(_call(answer, a, b), what), what)

    got = estimate(x, y)
    if not bool(torch.isfinite(got)):
        raise _AnswerError("mmd2_biased(x, y) returned NaN or an infinite value.")
    if _close(got, mmd2(x, y, "imq")):
        raise _AnswerError("This is the unbiased estimate (5.4): the biased one keeps the i = j terms in the "
                           "within-set averages.")
    # MMD² between the two empirical distributions: checked by what it must satisfy, not against a formula
    shuffled = x[torch.randperm(len(x), generator=g)]
    itself = estimate(x, shuffled, "mmd2_biased(x, shuffled copy of x)")
    if not _close(itself, torch.zeros(()), atol=1e-9):
        raise _AnswerError(f"The biased MMD² of a sample and a shuffled copy of itself is 0 (the same empirical "
                           f"distribution), but yours is {float(itself):.4g}: check that the within-set averages keep "
                           "i = j and that the cross term counts twice (−2 · mean k(x_i, y_j)).")
    a, b = x[:1], y[:1]
    one = (kernel_matrix(a, a, "imq") + kernel_matrix(b, b, "imq") - 2 * kernel_matrix(a, b, "imq")).reshape(())
    if not _close(estimate(a, b, "mmd2_biased(one x, one y)"), one):
        raise _AnswerError("For one point each, MMD² is ‖φ(a) − φ(b)‖² = k(a, a) + k(b, b) − 2 k(a, b), but yours "
                           "is not: use the IMQ kernel with C = 2·J (vl.mmd.kernel_matrix(x, y, 'imq')) and check "
                           "the factors.")
    repeated = estimate(torch.cat([x, x]), torch.cat([y, y, y]), "mmd2_biased(x twice, y three times)")
    if not _close(repeated, got):
        raise _AnswerError(f"Repeating every sample (x twice, y three times) leaves both empirical distributions as "
                           f"they are, so it must not change the biased estimate; yours goes from {float(got):.4g} "
                           f"to {float(repeated):.4g}: average over all n² and m² pairs, i = j included.")
    if not _close(estimate(y, x, "mmd2_biased(y, x)"), got):
        raise _AnswerError("MMD²(P, Q) = MMD²(Q, P), but yours changes when x and y are swapped: weight the two "
                           "within-set averages alike.")
    return ("behaves as MMD² between the two empirical distributions (0 for a shuffled copy, ‖φ(a) − φ(b)‖² for one "
            "point each, unchanged by repeating samples, symmetric), with the IMQ kernel.")


def _ex_6_normalization(answer: Callable, g: torch.Generator) -> str:
    """kl_with(mu, ddof): KL(N(β̂, Σ̂) || N(0, I)) with Σ̂ normalized by m − ddof (chapter 6, exercise)."""
    # a covariance far from the identity (trace ~ 12), so that m and m − 1 give clearly different KLs
    mixing = 2 * torch.eye(3, dtype=torch.float64) + 0.5 * _randn(g, 3, 3)
    mu = _randn(g, 30, 3) @ mixing + 0.4
    standard = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                                                      torch.eye(3, dtype=torch.float64))
    for ddof in (0, 1):
        beta = mu.mean(0)
        reference = torch.distributions.kl_divergence(
            torch.distributions.MultivariateNormal(beta, torch.cov(mu.T, correction=ddof)), standard)
        what = f"kl_with(mu, ddof={ddof})"
        with _forbidden(answer, _kl_shortcuts(), "the KL of (6.2)"):
            got = _as_tensor(_call(answer, mu, ddof), what)
        got = got.reshape(()) if got.numel() == 1 else got
        mistakes = {
            f"With ddof={ddof} divide by m − {ddof}; you used the other normalization.":
                gaussian_kl_full(beta, torch.linalg.cholesky(torch.cov(mu.T, correction=1 - ddof))),
            "The βᵀβ term has the wrong sign (the paper's eq. 11 typo): it is +βᵀβ.":
                reference - beta.pow(2).sum(),
        }
        if not _close(got, reference):
            raise _AnswerError(_diagnose(got, reference, mistakes, what, "torch.distributions"))
    return "KL(N(β̂, Σ̂) || N(0, I)) for both normalizations, as torch.distributions computes it."


def _ex_7_gamma_star(answer: Callable, g: torch.Generator) -> str:
    """gamma_star(x, mean): the optimal decoder variance (7.2) (chapter 7, exercise)."""
    x, mean = _rand(g, 40, 10), _rand(g, 40, 10)
    got = _as_tensor(_call(answer, x, mean), "gamma_star(x, mean)")
    if got.numel() != 1:
        raise _AnswerError(f"gamma_star returned shape {list(got.shape)}: γ is one number, shared by every example "
                           "and dimension.")
    got = got.reshape(())

    # the γ that maximizes the Gaussian log-likelihood of x given the means, found numerically in log γ: the
    # derivative of −E log N(x; mean, γ I) in s = log γ increases in s
    def derivative(log_gamma):
        log_gamma = log_gamma.detach().requires_grad_(True)
        nll = -torch.distributions.Normal(mean, (0.5 * log_gamma).exp()).log_prob(x).mean()
        return torch.autograd.grad(nll, log_gamma)[0]

    with torch.enable_grad():
        expected = _minimize_convex(derivative, -30.0, 10.0).exp()
    d = x.shape[1]
    mistakes = {
        "You summed over the d dimensions: γ* is the error per dimension.": d * expected,
        "That is a standard deviation: γ is a variance, do not take the square root.": expected.sqrt(),
    }
    if not _close(got, expected, rtol=1e-6):
        raise _AnswerError(_diagnose(got, expected, mistakes, "gamma_star(x, mean)",
                                     "maximizing the Gaussian log-likelihood in γ"))
    return "the γ that maximizes the Gaussian log-likelihood, γ* of (7.2)."


CHECKERS: dict[str, Callable[[Callable, torch.Generator], str]] = {
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


def check(label: str, answer: Callable, quiet: bool = False, seed: int | None = None) -> Feedback:
    """Check ``answer`` for the exercise ``label`` (e.g. ``"ex-1-kl"``); print and return the :class:`Feedback`.

    The inputs are drawn afresh at every call; ``seed`` draws the same ones again (a failing message names the
    seed it used, so that a student can repeat it while debugging).  ``quiet=True`` returns without printing.
    """
    if label not in CHECKERS:
        raise KeyError(f"No checker for {label!r}; the exercises with checkers are: {', '.join(CHECKERS)}.")
    from .checks import random_seed

    seed = secrets.randbelow(2**31) if seed is None else random_seed(seed, "seed")
    if not callable(answer):
        feedback = Feedback(label, False, f"Pass your function itself (e.g. check({label!r}, my_function)), not "
                                          f"its result ({type(answer).__name__}).")
    else:
        try:
            feedback = Feedback(label, True, "Correct: " + CHECKERS[label](answer, torch.Generator().manual_seed(seed)))
        except _ShortcutError as shortcut:
            feedback = Feedback(label, False, str(shortcut))
        except _AnswerError as wrong:
            feedback = Feedback(label, False, f"{wrong} (inputs drawn with seed={seed}: "
                                              f"check({label!r}, ..., seed={seed}) repeats them)")
    if not quiet:
        print(feedback)
        feedback._printed = True
    return feedback
