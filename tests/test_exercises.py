"""vaelab.exercises: every solution passes its checker, typical wrong answers fail with the intended message."""

import inspect
import math
import re
import warnings

import pytest
import torch
import torch.nn.functional as F

import vaelab as vl
from vaelab.exercises import CHECKERS, TEMPLATES, check


# ---- the solutions, as the chapters give them (the public checker holds none of them: see the last test)
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


def k_imq(a, b):
    return vl.mmd.kernel_matrix(a, b, "imq")


def elbo_with_std(model, x, std):
    mu, logvar = model.encode(x)
    z = mu + std(logvar) * torch.randn_like(mu)
    recon = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1)
    return recon - 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


SOLUTIONS = {"ex-1-kl": kl, "ex-1-elbo-code": my_elbo, "ex-2-units": kl_per_dimension, "ex-4-unbalanced": t_star,
             "ex-5-bias": mmd2_biased, "ex-6-normalization": kl_with, "ex-7-gamma-star": gamma_star}


def test_every_checker_has_a_solution_and_a_template():
    assert set(SOLUTIONS) == set(CHECKERS) == set(TEMPLATES)


@pytest.mark.parametrize("label", sorted(SOLUTIONS))
def test_the_solution_passes_on_fresh_inputs(label, capsys):
    for _ in range(5):  # every call draws new inputs
        feedback = check(label, SOLUTIONS[label])
        assert feedback.passed and feedback.message.startswith("Correct"), feedback.message
        assert capsys.readouterr().out.startswith("✓ " + label)


def test_inputs_are_fresh_at_every_call_and_a_seed_repeats_them():
    seen = []
    check("ex-7-gamma-star", lambda x, mean: seen.append(x.clone()) or (x - mean).pow(2).mean(), quiet=True)
    check("ex-7-gamma-star", lambda x, mean: seen.append(x.clone()) or (x - mean).pow(2).mean(), quiet=True)
    assert not torch.equal(seen[0], seen[1])
    for _ in range(2):
        check("ex-7-gamma-star", lambda x, mean: seen.append(x.clone()) or (x - mean).pow(2).mean(), quiet=True,
              seed=3)
    assert torch.equal(seen[2], seen[3])
    feedback = check("ex-7-gamma-star", lambda x, mean: 0.0, quiet=True)
    seed = int(re.search(r"seed=(\d+)\)", feedback.message).group(1))
    assert f'check(\'ex-7-gamma-star\', ..., seed={seed})' in feedback.message
    with pytest.raises(ValueError, match="seed"):
        check("ex-7-gamma-star", gamma_star, seed=-1)


@pytest.mark.parametrize("label", sorted(TEMPLATES))
def test_the_template_runs_and_says_it_is_not_done(label, capsys):
    namespace = {"vl": vl, "torch": torch}
    exec(TEMPLATES[label], namespace)  # defines the stub and calls check
    assert "Not implemented yet" in capsys.readouterr().out


WRONG = [
    ("ex-1-kl", lambda m1, s1, m2, s2: torch.log(s2 / s1) + (s1 + (m1 - m2) ** 2) / (2 * s2) - 0.5, "change of units"),
    ("ex-1-kl", lambda m1, s1, m2, s2: torch.log(s2**2 / s1**2) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5,
     "Right when σ1 = σ2"),
    ("ex-1-kl", lambda m1, s1, m2, s2: torch.distributions.kl_divergence(torch.distributions.Normal(m1, s1),
                                                                         torch.distributions.Normal(m2, s2)),
     "computes the answer for you"),
    ("ex-1-kl", lambda m1, s1, m2, s2: -kl(m1, s1, m2, s2), "sign"),
    ("ex-1-kl", lambda m1, s1, m2, s2: torch.log(s1 / s2) + (s2**2 + (m1 - m2) ** 2) / (2 * s1**2) - 0.5,
     "not symmetric"),
    ("ex-1-kl", lambda m1, s1, m2, s2: kl(m1, s1, m2, s2) + 0.5, "a constant term is missing or extra"),
    ("ex-1-kl", lambda m1, s1, m2, s2: 2 * kl(m1, s1, m2, s2), "factor of 2"),
    ("ex-1-kl", lambda m1, s1, m2, s2: None, "forget the `return`"),
    ("ex-1-elbo-code", lambda model, x: my_elbo(model, x).mean(), "single number"),
    ("ex-1-elbo-code", lambda model, x: -my_elbo(model, x), "−ELBO"),
    ("ex-1-elbo-code", lambda model, x: my_elbo(model, x) - 0.5 * (model.encode(x)[0].pow(2) + model.encode(x)[1].exp()
                                                                  - 1 - model.encode(x)[1]).sum(-1), "no ½"),
    ("ex-1-elbo-code", lambda model, x: model.terms(x).elbo, "computes the answer for you"),
    ("ex-1-elbo-code", lambda model, x: elbo_with_std(model, x, lambda logvar: logvar.exp()), "σ = exp(½·logvar)"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(0), "summed over the examples"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + logvar.exp() - 1).mean(0), "−log σ² term"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + logvar.exp() - 1 - logvar), "shape [N, z_dim]"),
    ("ex-2-units", lambda mu, logvar: 0.5 * (mu**2 + (0.5 * logvar).exp() - 1 - logvar).mean(0), "σ where σ²"),
    ("ex-2-units", lambda mu, logvar: torch.distributions.kl.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)).mean(0),
     "computes the answer for you"),
    ("ex-4-unbalanced", lambda r, m, n: r - math.log(m / n), "wrong sign"),
    ("ex-4-unbalanced", lambda r, m, n: r, "No correction"),
    ("ex-5-bias", lambda x, y: vl.mmd2(x, y), "unbiased estimate"),
    ("ex-5-bias", lambda x, y: mmd2_biased(x, y) + vl.mmd.kernel_matrix(x, y, "imq").mean(), "counts twice"),
    ("ex-5-bias", lambda x, y: 2 * mmd2_biased(x, y), "For one point each"),
    ("ex-5-bias", lambda x, y: vl.mmd.kernel_matrix(x, x, "rbf").mean() + vl.mmd.kernel_matrix(y, y, "rbf").mean()
     - 2 * vl.mmd.kernel_matrix(x, y, "rbf").mean(), "IMQ kernel"),
    ("ex-5-bias", lambda x, y: (k_imq(x, x).sum() + k_imq(y, y).sum() - 2 * k_imq(x, y).sum()) / (len(x) * len(y)),
     "Repeating every sample"),
    ("ex-6-normalization", lambda mu, ddof: kl_with(mu, 0), "other normalization"),
    ("ex-6-normalization", lambda mu, ddof: 2 * kl_with(mu, ddof), "factor of 2"),
    ("ex-7-gamma-star", lambda x, m: (x - m).pow(2).sum(1).mean(), "summed over the d dimensions"),
    ("ex-7-gamma-star", lambda x, m: (x - m).pow(2).mean().sqrt(), "standard deviation"),
    ("ex-7-gamma-star", lambda x, m: (x - m).pow(2).mean(0), "one number"),
    ("ex-7-gamma-star", lambda x, m: 1 / 0, "ZeroDivisionError"),
    ("ex-7-gamma-star", lambda x, m: torch.tensor(0.3), "Not the expected values: you return 0.3"),
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


def test_a_wrong_one_number_answer_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for label in ("ex-7-gamma-star", "ex-5-bias", "ex-6-normalization"):
            assert not check(label, lambda *args: torch.tensor(0.123), quiet=True)


def test_the_feedback_shows_once_in_a_notebook(capsys):
    """A cell ending with check(...) prints the feedback; IPython's display of the returned value adds nothing."""
    feedback = check("ex-7-gamma-star", gamma_star)
    feedback._ipython_display_()
    assert capsys.readouterr().out.count("✓ ex-7-gamma-star") == 1
    feedback._ipython_display_()  # shown again when asked for again
    assert capsys.readouterr().out.count("✓ ex-7-gamma-star") == 1
    quiet = check("ex-7-gamma-star", gamma_star, quiet=True)
    quiet._ipython_display_()
    assert capsys.readouterr().out.count("✓ ex-7-gamma-star") == 1


def test_a_shortcut_imported_by_name_is_found_too():
    from torch.distributions import Normal, kl_divergence

    def shortcut(mu1, sigma1, mu2, sigma2):
        return kl_divergence(Normal(mu1, sigma1), Normal(mu2, sigma2))

    feedback = check("ex-1-kl", shortcut, quiet=True)
    assert not feedback and "kl_divergence" in feedback.message
    assert torch.distributions.kl_divergence is kl_divergence, "the library function is restored"


def test_the_public_checker_holds_none_of_the_solutions():
    """The returned expressions of the solutions above do not appear in vaelab/exercises.py (spaces ignored)."""
    checker = re.sub(r"\s+", "", inspect.getsource(vl.exercises))
    for label, solution in SOLUTIONS.items():
        for line in inspect.getsource(solution).splitlines():
            line = line.strip()
            if line.startswith("return "):
                assert re.sub(r"\s+", "", line[len("return "):]) not in checker, label
