"""vaelab: the companion library of the book *Variational autoencoders, chapter by chapter*.

    import vaelab as vl
    train = vl.load("mnist", split="train", binarize="dynamic")
    test = vl.load("mnist", split="test", binarize="fixed")
    model = vl.VAE(x_dim=784, z_dim=20, hidden=[500])
    history = vl.fit(model, train, epochs=10, test=test)
    vl.elbo(model, test), vl.log_likelihood(model, test, k=5000)
"""

from . import (
    callbacks,
    checkpoints,
    checks,
    exercises,
    experiments,
    freebits,
    gaussians,
    hebae,
    infovae,
    likelihoods,
    metrics,
    mmd,
    nets,
    plots,
    priors,
    saving,
    stats,
    toy,
    twostage,
    widgets,
)
from ._version import __version__, require_version
from .callbacks import LatentRecorder
from .checkpoints import Checkpoint, History, load_checkpoint, save_checkpoint
from .data import LatentCodes, binarize, load, manifold
from .evaluate import (
    AggregatePosterior,
    active_units,
    aggregate_posterior,
    elbo,
    elbo_parts,
    elbo_surgery,
    encode,
    encode_data,
    kl_per_dimension,
    log_likelihood,
    mmd_to_prior,
)
from .freebits import FreeBitsVAE
from .gaussians import gaussian_kl, gaussian_log_prob, gaussian_log_prob_pairwise, reparameterize
from .hebae import HEBAE
from .infovae import WAE, InfoVAE
from .likelihoods import AutoregressiveBernoulli, Bernoulli, Gaussian
from .mmd import mmd2
from .models import VAE, ELBOTerms, Loss
from .nets import MLP
from .priors import DensityRatio, ImplicitPrior, Prior, StandardNormal, VampPrior, fit_density_ratio
from .saving import Rebuildable, load_model, save_model
from .train import NonFiniteLossError, fit
from .twostage import TwoStageVAE, latent_codes

__all__ = [
    "__version__",
    "require_version",
    "load",
    "binarize",
    "manifold",
    "LatentCodes",
    "VAE",
    "FreeBitsVAE",
    "InfoVAE",
    "WAE",
    "HEBAE",
    "TwoStageVAE",
    "latent_codes",
    "mmd2",
    "mmd_to_prior",
    "MLP",
    "Bernoulli",
    "Gaussian",
    "AutoregressiveBernoulli",
    "Prior",
    "StandardNormal",
    "VampPrior",
    "ImplicitPrior",
    "DensityRatio",
    "fit_density_ratio",
    "gaussian_log_prob_pairwise",
    "gaussian_kl",
    "gaussian_log_prob",
    "reparameterize",
    "ELBOTerms",
    "Loss",
    "fit",
    "History",
    "LatentRecorder",
    "Checkpoint",
    "NonFiniteLossError",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "save_model",
    "Rebuildable",
    "elbo",
    "elbo_parts",
    "log_likelihood",
    "encode",
    "encode_data",
    "active_units",
    "kl_per_dimension",
    "aggregate_posterior",
    "AggregatePosterior",
    "elbo_surgery",
    "likelihoods",
    "gaussians",
    "checks",
    "checkpoints",
    "callbacks",
    "exercises",
    "experiments",
    "metrics",
    "mmd",
    "freebits",
    "infovae",
    "hebae",
    "twostage",
    "nets",
    "priors",
    "saving",
    "stats",
    "toy",
    "plots",
    "widgets",
]
