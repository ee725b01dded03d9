"""Plain functions shared by several test files (see conftest.py for why they are not fixtures): small grey data
and small models that learn in a few epochs, parameter snapshots and their exact comparison, a history without its
timings, a diagonal Gaussian as a torch.distributions reference, VAEs with a VampPrior or an implicit prior, and a
model whose log p(x) is known exactly:

Decoder x = W z + b + noise, noise ~ N(0, γ I), prior z ~ N(0, I): probabilistic PCA, whose marginal is
p(x) = N(x; b, W Wᵀ + γ I) in closed form and whose posterior is q*(z|x) = N(M⁻¹Wᵀ(x − b), γ M⁻¹), M = WᵀW + γI.
"""

import torch
from torch import distributions as D
from torch import nn

import vaelab as vl


def small_data(n=400, d=30, seed=0):
    """Grey images around four binary prototypes: structure that a VAE can learn in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.bernoulli(torch.full((4, d), 0.5), generator=torch.Generator().manual_seed(100))
    x = 0.1 + 0.8 * prototypes[torch.randint(4, (n,), generator=g)]
    x = (x + 0.05 * torch.randn(n, d, generator=g)).clamp(0, 1)
    x.binarize = "dynamic"
    return x


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    return vl.VAE(x_dim=30, z_dim=3, hidden=[16], **kw)


def params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def results(history):
    """A history without its timings, which differ from run to run."""
    return {k: v for k, v in history.as_dict().items() if k != "seconds"}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def diagonal_normal(mu, logvar):
    return D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1)


def vamp_model(k=6, x_dim=30, z_dim=3, seed=0, **kw):
    torch.manual_seed(seed)
    return vl.VAE(x_dim=x_dim, z_dim=z_dim, hidden=[16], prior=vl.VampPrior(k, x_dim, seed=seed, **kw))


def implicit_model(seed=0, **kw):
    torch.manual_seed(seed)
    return vl.VAE(x_dim=30, z_dim=3, hidden=[16], prior=vl.ImplicitPrior(3, hidden=[16], **kw))


X_DIM, Z_DIM, GAMMA = 6, 2, 0.3


class LinearEncoder(nn.Module):
    """x ↦ (A x + c, log σ²) with a constant log-variance: enough to hold the exact PPCA posterior."""

    def __init__(self, A, c, logvar):
        super().__init__()
        self.A, self.c, self.logvar = nn.Parameter(A), nn.Parameter(c), nn.Parameter(logvar)

    def forward(self, x):
        mu = x @ self.A.T + self.c
        return torch.cat([mu, self.logvar.expand_as(mu)], dim=-1)


def ppca(posterior_scale=1.0, mean_shift=0.0, seed=0):
    """A PPCA model as a vaelab VAE, its exact log p(x), and data drawn from it."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(X_DIM, Z_DIM, generator=g)
    b = torch.randn(X_DIM, generator=g)
    decoder = nn.Linear(Z_DIM, X_DIM)
    with torch.no_grad():
        decoder.weight.copy_(W)
        decoder.bias.copy_(b)
    M = W.T @ W + GAMMA * torch.eye(Z_DIM)
    posterior_cov = GAMMA * torch.linalg.inv(M)
    A = torch.linalg.solve(M, W.T)  # posterior mean M⁻¹Wᵀ(x − b)
    c = -A @ b + mean_shift
    # a diagonal Gaussian encoder: the exact posterior's marginal variances, optionally widened
    logvar = torch.log(posterior_cov.diagonal() * posterior_scale)
    model = vl.VAE(
        x_dim=X_DIM, z_dim=Z_DIM, likelihood="gaussian", gamma=GAMMA,
        encoder=LinearEncoder(A, c, logvar), decoder=decoder,
    )
    marginal = D.MultivariateNormal(b, W @ W.T + GAMMA * torch.eye(X_DIM))
    x = marginal.sample((300,))
    return model, marginal.log_prob(x).mean().item(), x
