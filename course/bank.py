"""The instructor's side of the graded exercises: reference answers, hidden tests, points.

Nothing here ships to students: not in the ``vaelab`` wheel (it packages ``vaelab*`` only), not in the student
edition (scripts/student_edition.py copies the book's pages), not in a released assignment (nbgrader removes the
solution regions and the hidden tests; course/test_course.py checks all three).

For each exercise that ``vaelab.exercises`` can check:

- ``ANSWERS[label]``: the body of the function the student completes (its signature and docstring are the book's
  template, ``vaelab.exercises.TEMPLATES``);
- ``HIDDEN[label]``: tests run only when the work is graded, on what the public checker does not look at (shapes
  that broadcast, float32, extreme inputs, gradients that reach the parameters, a reference on other sizes); each
  assert says what failed in words, which nbgrader puts in the student's feedback;
- ``POINTS``: the public check, the hidden tests, a written answer (derivations, experiments, explanations, graded
  by hand against the book's worked solution).
"""

from __future__ import annotations

POINTS = {"public": 2, "hidden": 1, "written": 3}

ANSWERS = {
    "ex-1-kl": "return torch.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5",
    "ex-1-elbo-code": """mu, logvar = model.encode(x)
z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
recon = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1)
kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
return recon - kl""",
    "ex-2-units": "return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)",
    "ex-4-unbalanced": "return log_ratio + math.log(m / n)",
    "ex-5-bias": """k = vl.mmd.kernel_matrix
return k(x, x, "imq").mean() + k(y, y, "imq").mean() - 2 * k(x, y, "imq").mean()""",
    "ex-6-normalization": """beta = mu.mean(0)
centred = mu - beta
sigma = centred.T @ centred / (len(mu) - ddof)
k = mu.shape[1]
return 0.5 * (torch.trace(sigma) + beta @ beta - k - torch.logdet(sigma))""",
    "ex-7-gamma-star": "return (x - mean).pow(2).mean()",
}

HIDDEN = {
    "ex-1-kl": """\
_normal = torch.distributions.Normal
_g = torch.Generator().manual_seed(101)
_m1, _m2 = torch.randn(4, 1, generator=_g), torch.randn(1, 3, generator=_g)
_s1, _s2 = torch.rand(4, 1, generator=_g) + 0.2, torch.rand(1, 3, generator=_g) + 0.2
_out = kl(_m1, _s1, _m2, _s2)
assert tuple(_out.shape) == (4, 3), "kl should broadcast: inputs [4, 1] and [1, 3] give [4, 3] (use tensor operations)"
assert torch.allclose(_out, torch.distributions.kl_divergence(_normal(_m1, _s1), _normal(_m2, _s2)), rtol=1e-4), \\
    "kl is wrong on float32 inputs that broadcast"
_tiny = kl(torch.tensor([0.0]), torch.tensor([1e-3]), torch.tensor([0.0]), torch.tensor([1.0]))
assert torch.isfinite(_tiny).all() and abs(float(_tiny) - (-math.log(1e-3) + 0.5e-6 - 0.5)) < 1e-3, \\
    "kl is not accurate for a narrow Gaussian (sigma1 = 1e-3): use log(sigma2 / sigma1), not a log of a difference"
""",
    "ex-1-elbo-code": """\
torch.manual_seed(7)
_model = vl.VAE(x_dim=10, z_dim=2, hidden=[6])
_x = torch.bernoulli(torch.full((5, 10), 0.5))
torch.manual_seed(8)
_out = my_elbo(_model, _x)
assert tuple(_out.shape) == (5,), "my_elbo should return one ELBO per example, shape [N]"
assert _out.requires_grad, "my_elbo's result carries no gradient: do not detach, .item() or wrap it in no_grad"
_mine = torch.autograd.grad(_out.sum(), list(_model.encoder.parameters()), allow_unused=True)
torch.manual_seed(8)
_ref = torch.autograd.grad(_model.terms(_x).elbo.sum(), list(_model.encoder.parameters()))
assert all(a is not None and torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(_mine, _ref)), \\
    "the encoder's gradient is wrong: the reconstruction term must reach mu and logvar through z = mu + sigma * eps " \\
    "(do not detach z)"
assert tuple(my_elbo(_model, _x[:1]).shape) == (1,), "my_elbo should work on a batch of one example"
""",
    "ex-2-units": """\
_mu, _logvar = torch.zeros(1000, 20), torch.zeros(1000, 20)
_out = kl_per_dimension(_mu, _logvar)
assert tuple(_out.shape) == (20,) and torch.allclose(_out, torch.zeros(20), atol=1e-6), \\
    "q = N(0, 1) in every dimension must give KL 0 per dimension, shape [z_dim]"
_g = torch.Generator().manual_seed(202)
_mu, _logvar = torch.randn(300, 7, generator=_g), 3 * torch.randn(300, 7, generator=_g)
_ref = torch.distributions.kl_divergence(torch.distributions.Normal(_mu, (0.5 * _logvar).exp()),
                                         torch.distributions.Normal(0.0, 1.0)).mean(0)
assert torch.allclose(kl_per_dimension(_mu, _logvar), _ref, rtol=1e-4), \\
    "kl_per_dimension is wrong on float32 inputs with a wide range of variances"
""",
    "ex-4-unbalanced": """\
_r = torch.linspace(-3, 3, 6).reshape(2, 3)
assert torch.allclose(torch.as_tensor(t_star(_r, 5, 5), dtype=torch.float32), _r), \\
    "with as many samples of q as of p the optimal logit is log q/p itself"
_out = torch.as_tensor(t_star(_r, 7, 2))
assert tuple(_out.shape) == (2, 3), "t_star should keep the shape of log_ratio"
assert torch.allclose(_out.float(), _r + math.log(7 / 2)), "t_star is wrong for m = 7, n = 2"
""",
    "ex-5-bias": """\
_g = torch.Generator().manual_seed(505)
_x = torch.randn(13, 5, generator=_g, requires_grad=True)
_y = torch.randn(6, 5, generator=_g) * 2
_k = vl.mmd.kernel_matrix
_ref = _k(_x, _x, "imq").mean() + _k(_y, _y, "imq").mean() - 2 * _k(_x, _y, "imq").mean()
_out = torch.as_tensor(mmd2_biased(_x, _y))
assert torch.allclose(_out.reshape(()), _ref, rtol=1e-5), "mmd2_biased is wrong in 5 dimensions with n != m"
assert _out.requires_grad, "mmd2_biased carries no gradient: a loss must be differentiable (no .item(), no numpy)"
""",
    "ex-6-normalization": """\
_g = torch.Generator().manual_seed(606)
_mu = (torch.randn(40, 5, generator=_g) @ (torch.eye(5) + 0.3 * torch.randn(5, 5, generator=_g))).double()
_mu.requires_grad_(True)
for _ddof in (0, 1):
    _sigma = torch.cov(_mu.T, correction=_ddof)
    _ref = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(_mu.mean(0), _sigma),
        torch.distributions.MultivariateNormal(torch.zeros(5, dtype=torch.float64), torch.eye(5, dtype=torch.float64)))
    _out = torch.as_tensor(kl_with(_mu, _ddof)).reshape(())
    assert torch.allclose(_out, _ref, rtol=1e-6), f"kl_with is wrong for k = 5 latent dimensions (ddof={_ddof})"
assert _out.requires_grad, "kl_with carries no gradient with respect to mu: HEBAE trains through it"
""",
    "ex-7-gamma-star": """\
_g = torch.Generator().manual_seed(707)
_x, _mean = torch.rand(64, 784, generator=_g), torch.rand(64, 784, generator=_g)
_out = torch.as_tensor(gamma_star(_x, _mean))
assert _out.numel() == 1, "gamma_star should return one number"
assert torch.allclose(_out.reshape(()).float(), (_x - _mean).pow(2).mean(), rtol=1e-5), \\
    "gamma_star is wrong for 64 images of 784 pixels"
""",
}

# Typical wrong answers (function bodies), for the sample submission that course/test_course.py grades: each is a
# mistake the public checker names, or one only the hidden tests catch.
WRONG = {
    "ex-1-kl": "return torch.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2)",
    "ex-1-elbo-code": """mu, logvar = model.encode(x)
z = (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach()
recon = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(-1)
kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
return recon - kl""",
    "ex-2-units": "return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(0)",
    "ex-7-gamma-star": "return (x - mean).pow(2).mean().sqrt()",
}
