"""vaelab.exercises: every solution passes its checker, typical wrong answers fail with the intended message."""

import math

import pytest
import torch
import torch.nn.functional as F

import vaelab as vl
from vaelab.exercises import CHECKERS, TEMPLATES, check


# ---- the solutions, as the chapters give them
def kl(mu1, sigma1, mu2, sigma2):
    return torch.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5


def my_elbo(model, x):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    recon = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1)
    return recon - 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def kl_per_dimension(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)


def t_star(log_ratio, m, n):
    return log_ratio + math.log(m / n)


def mmd2_biased(x, y):
    k = vl.mmd.kernel_matrix
    return k(x, x, "imq").mean() + k(y, y, "imq").mean() - 2 * k(x, y, "imq").mean()


def kl_with(mu, ddof):
    beta = mu.mean(0)
    sigma = (mu - beta).T @ (mu - beta) / (len(mu) - ddof)
    return vl.hebae.gaussian_kl_full(beta, torch.linalg.cholesky(sigma))


def gamma_star(x, mean):
    return (x - mean).pow(2).mean()


SOLUTIONS = {"ex-1-kl": kl, "ex-1-elbo-code": my_elbo, "ex-2-units": kl_per_dimension, "ex-4-unbalanced": t_star,
             "ex-5-bias": mmd2_biased, "ex-6-normalization": kl_with, "ex-7-gamma-star": gamma_star}


def test_every_checker_has_a_solution_and_a_template():
    assert set(SOLUTIONS) == set(CHECKERS) == set(TEMPLATES)


@pytest.mark.parametrize("label", sorted(SOLUTIONS))
def test_the_solution_passes(label, capsys):
    feedback = check(label, SOLUTIONS[label])
    assert feedback.passed and feedback.message.startswith("Correct")
    assert capsys.readouterr().out.startswith("✓ " + label)


@pytest.mark.parametrize("label", sorted(TEMPLATES))
def test_the_template_runs_and_says_it_is_not_done(label, capsys):
    namespace = {"vl": vl, "torch": torch}
    exec(TEMPLATES[label], namespace)  # defines the stub and calls check
    assert "Not implemented yet" in capsys.readouterr().out


WRONG = [
    ("ex-1-kl", lambda m1, s1, m2, s2: torch.log(s2 / s1) + (s1 + (m1 - m2) ** 2) / (2 * s2) - 0.5, "σ instead of σ²"),
    ("ex-1-kl", lambda m1, s1, m2, s2: torch.log(s1 / s2) + (s2**2 + (m1 - m2) ** 2) / (2 * s1**2) - 0.5,
     "not symmetric"),
    ("ex-1-kl", lambda m1, s1, m2, s2: kl(m1, s1, m2, s2) + 0.5, "Off by the constant"),
    ("ex-1-kl", lambda m1, s1, m2, s2: 2 * kl(m1, s1, m2, s2), "factor of 2"),
    ("ex-1-kl", lambda m1, s1, m2, s2: None, "forget the `return`"),
    ("ex-1-elbo-code", lambda model, x: my_elbo(model, x).mean(), "single number"),
    ("ex-1-elbo-code", lambda model, x: -my_elbo(model, x), "−ELBO"),
    ("ex-1-elbo-code", lambda model, x: my_elbo(model, x) - 0.5 * (model.encode(x)[0].pow(2) + model.encode(x)[1].exp()
                                                                  - 1 - model.encode(x)[1]).sum(-1), "no ½"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(0), "summed over the examples"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + logvar.exp() - 1).mean(0), "−log σ² term"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + logvar.exp() - 1 - logvar), "shape [N, z_dim]"),
    ("ex-4-unbalanced", lambda r, m, n: r - math.log(m / n), "wrong sign"),
    ("ex-4-unbalanced", lambda r, m, n: r, "No correction"),
    ("ex-5-bias", lambda x, y: vl.mmd2(x, y), "unbiased estimate"),
    ("ex-5-bias", lambda x, y: mmd2_biased(x, y) + vl.mmd.kernel_matrix(x, y, "imq").mean(), "factor 2"),
    ("ex-6-normalization", lambda mu, ddof: kl_with(mu, 0), "other normalization"),
    ("ex-6-normalization", lambda mu, ddof: 2 * kl_with(mu, ddof), "factor of 2"),
    ("ex-7-gamma-star", lambda x, m: (x - m).pow(2).sum(1).mean(), "summed over the d dimensions"),
    ("ex-7-gamma-star", lambda x, m: (x - m).pow(2).mean().sqrt(), "standard deviation"),
    ("ex-7-gamma-star", lambda x, m: (x - m).pow(2).mean(0), "one number"),
    ("ex-7-gamma-star", lambda x, m: 1 / 0, "ZeroDivisionError"),
]


@pytest.mark.parametrize("label, answer, message", WRONG)
def test_typical_wrong_answers_fail_with_the_intended_message(label, answer, message):
    feedback = check(label, answer, quiet=True)
    assert not feedback.passed and message in feedback.message, feedback.message


def test_bad_use_gives_clear_errors():
    with pytest.raises(KeyError, match="ex-1-kl"):
        check("ex-9-nothing", kl)
    feedback = check("ex-1-kl", 0.5, quiet=True)
    assert not feedback.passed and "Pass your function itself" in feedback.message


def test_checker_source_holds_no_expected_numbers():
    """References are computed (torch.distributions, the library), never stored as literals in the checker."""
    import inspect
    import re

    source = inspect.getsource(vl.exercises)
    literals = {float(m) for m in re.findall(r"(?<![\w.])\d+\.\d{3,}", source)}
    assert not literals, f"decimal literals in the checker source: {sorted(literals)}"
