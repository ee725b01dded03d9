"""Named experiments and the runner behind ``python -m vaelab`` (train / evaluate / reproduce).

An experiment is a list of model specifications (:class:`Spec`: which model, its settings, how to train it) on one
data set.  :func:`run` trains each one with ``vaelab.fit`` (a checkpoint per model, so an interrupted run resumes),
evaluates everything that is defined for it, and writes ``results.json`` after every model, with the hardware, the
data source and the budget.  Two budgets: ``"cpu"`` (minutes on a laptop, what the book executes) and ``"paper"``
(the source paper's setting as far as this library's MLPs allow; meant for a GPU).
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import evaluate, metrics
from ._version import __version__
from .data import load
from .hebae import HEBAE
from .infovae import WAE, InfoVAE
from .models import VAE
from .priors import ImplicitPrior, VampPrior
from .train import fit, resolve_device
from .twostage import TwoStageVAE, latent_codes

KINDS = ("vae", "vamp", "implicit", "infovae", "wae", "hebae", "two-stage")
BUDGETS = ("cpu", "paper")


@dataclass
class Spec:
    """One model of an experiment: ``kind`` (one of KINDS), constructor settings and fit settings."""

    name: str
    kind: str
    z_dim: int = 20
    hidden: list[int] = field(default_factory=lambda: [300])
    likelihood: str = "bernoulli"
    activation: str = "relu"  # hidden layers: any of nets.ACTIVATIONS, or "gated" (GatedLinear layers)
    options: dict = field(default_factory=dict)  # kind-specific constructor arguments (K, alpha, lam, gamma, ...)
    epochs: int = 20
    batch_size: int = 100
    lr: float = 1e-3
    kl_weight: float = 1.0
    warmup: int = 0
    lr_decay_every: int = 0  # a step decay of lr by lr_decay every so many epochs (0: constant)
    lr_decay: float = 0.5
    # two-stage only: the second VAE, trained on the first one's codes with the same batch size and lr_decay
    stage_two_epochs: int = 40
    stage_two_hidden: list[int] = field(default_factory=lambda: [256, 256])
    stage_two_lr: float = 1e-3
    stage_two_lr_decay_every: int = 0
    precision: str = "float32"  # fit's precision: "float32" or "bfloat16"


def build(spec: Spec, x_dim: int):
    """The model of ``spec`` (for ``"two-stage"``: the first stage; :func:`run` adds the second)."""
    if spec.kind not in KINDS:
        raise ValueError(f"Unknown model kind {spec.kind!r}; choose one of {', '.join(KINDS)}.")
    torch.manual_seed(0)
    common = dict(x_dim=x_dim, z_dim=spec.z_dim, hidden=spec.hidden, activation=spec.activation)
    options = dict(spec.options)
    if spec.kind == "vamp":
        return VAE(**common, likelihood=spec.likelihood, prior=VampPrior(options.pop("K", 500), x_dim))
    if spec.kind == "implicit":
        return VAE(**common, likelihood=spec.likelihood, prior=ImplicitPrior(spec.z_dim))
    if spec.kind == "infovae":
        return InfoVAE(**common, likelihood=spec.likelihood, **options)
    if spec.kind == "wae":
        return WAE(**common, likelihood=spec.likelihood, **options)
    if spec.kind == "hebae":
        return HEBAE(**common, likelihood=spec.likelihood, **options)
    if spec.kind == "two-stage":
        return VAE(**common, likelihood="gaussian", gamma=1.0, learn_gamma=True)
    return VAE(**common, likelihood=spec.likelihood, **options)


# ------------------------------------------------------------------------------------------------- named experiments


def _compare(budget: str) -> tuple[dict, list[Spec]]:
    """Every model of the book, one architecture (784-300-20, or 784-500-500-40 on paper), one budget."""
    paper = budget == "paper"
    arch = dict(z_dim=40, hidden=[500, 500], epochs=200) if paper else dict(z_dim=20, hidden=[300], epochs=20)
    specs = [
        Spec("VAE", "vae", **arch),
        Spec("VampPrior", "vamp", options={"K": 500 if paper else 100}, **arch),
        Spec("implicit prior", "implicit", **arch),
        Spec("InfoVAE (α = 1, λ = 1000)", "infovae", options={"alpha": 1.0, "lam": 1000.0}, **arch),
        Spec("WAE (λ = 1000)", "wae", options={"lam": 1000.0}, **arch),
        Spec("HEBAE", "hebae", **arch),
        Spec("two-stage VAE", "two-stage", lr=3e-3, stage_two_epochs=400 if paper else 40, **arch),
    ]
    data = {"name": "mnist", "source": "auto" if paper else "subset", "k": 5000 if paper else 100}
    return data, specs


def _vampprior(budget: str) -> tuple[dict, list[Spec]]:
    """Tomczak & Welling (2018): z = 40, K = 500, two gated layers of 300 units, warm-up, k = 5000."""
    paper = budget == "paper"
    arch = dict(z_dim=40, hidden=[300, 300], activation="gated", epochs=2000 if paper else 30,
                warmup=100 if paper else 5)
    if paper:  # their code's Adam rate (batch 100 as here); their early stopping on a validation set is not done
        arch["lr"] = 5e-4
    specs = [Spec("standard prior", "vae", **arch), Spec("VampPrior, K = 500", "vamp", options={"K": 500}, **arch)]
    return {"name": "mnist", "source": "auto" if paper else "subset", "k": 5000 if paper else 100}, specs


def _hebae(budget: str) -> tuple[dict, list[Spec]]:
    """Cheng et al. (2020), appendix B.1: z = 20, two hidden layers of 800, batch 128, 100 epochs, a λ grid."""
    paper = budget == "paper"
    arch = dict(z_dim=20, hidden=[800, 800] if paper else [300], epochs=100 if paper else 20,
                batch_size=128 if paper else 100)
    if paper:  # Adam 1e-3, times 0.995 every epoch (their encoder's first layer has 784 units, not 800)
        arch.update(lr_decay_every=1, lr_decay=0.995)
    lams = [0.25, 1.0, 4.0, 16.0] if paper else [0.25, 1.0, 4.0]
    specs = [Spec(f"{name}, λ = {lam:g}", kind, kl_weight=lam, **arch) for name, kind in (("VAE", "vae"), ("HEBAE", "hebae"))
             for lam in lams]
    return {"name": "mnist", "source": "auto" if paper else "subset", "k": 5000 if paper else 100}, specs


def _two_stage(budget: str) -> tuple[dict, list[Spec]]:
    """Dai & Wipf (2019) on Fashion-MNIST: learned γ, a second VAE on the codes (MLPs here, not their conv nets)."""
    paper = budget == "paper"
    arch = dict(z_dim=64 if paper else 16, hidden=[512, 512] if paper else [300, 300], epochs=400 if paper else 20)
    if paper:  # their schedule: batch 64, Adam 1e-4 halved every 150 epochs; stage 2: a VAE of three 1024-unit
        # layers, 800 epochs, Adam 1e-4 halved every 300
        arch.update(batch_size=64, lr=1e-4, lr_decay_every=150)
        stage_two = dict(stage_two_epochs=800, stage_two_lr=1e-4, stage_two_lr_decay_every=300,
                         stage_two_hidden=[1024, 1024, 1024])
    else:
        stage_two = dict(lr=3e-3, stage_two_epochs=40)
    specs = [Spec("VAE (cross-entropy)", "vae", **arch), Spec("two-stage VAE", "two-stage", **{**arch, **stage_two})]
    return {"name": "fashion-mnist", "source": "auto", "n_train": None if paper else 10_000, "k": 0}, specs


def _lambda(budget: str) -> tuple[dict, list[Spec]]:
    """λ-sensitivity: each model of the comparison with a regularization weight, at λ₀/4, λ₀ and 4·λ₀."""
    paper = budget == "paper"
    arch = dict(z_dim=40, hidden=[500, 500], epochs=200) if paper else dict(z_dim=20, hidden=[300], epochs=10)
    specs = []
    for lam in (0.25, 1.0, 4.0):  # multiples of each model's λ₀ (1 for the KL weights, 1000 for the MMD weights)
        specs += [Spec(f"VAE, λ = {lam:g}", "vae", kl_weight=lam, **arch),
                  Spec(f"InfoVAE, λ = {1000 * lam:g}", "infovae", options={"alpha": 1.0, "lam": 1000 * lam}, **arch),
                  Spec(f"WAE, λ = {1000 * lam:g}", "wae", options={"lam": 1000 * lam}, **arch),
                  Spec(f"HEBAE, λ = {lam:g}", "hebae", kl_weight=lam, **arch)]
    data = {"name": "mnist", "source": "auto" if paper else "subset", "n_train": None if paper else 2000, "k": 0}
    return data, specs


EXPERIMENTS = {"compare": _compare, "vampprior": _vampprior, "hebae": _hebae, "two-stage": _two_stage,
               "lambda": _lambda}


# ------------------------------------------------------------------------------------------------------- the runner


def hardware(device: torch.device) -> dict:
    info = {"device": str(device), "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "vaelab": __version__, "python": platform.python_version()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load_data(data: dict, verbose: bool = True):
    """Train and test sets of an experiment; ``source="full"`` on MNIST without a network raises with the way out."""
    name, source = data["name"], data.get("source", "auto")
    kwargs = {"source": source} if name == "mnist" else {}
    binarize = {"binarize": "dynamic"} if name == "mnist" else {}
    try:
        train = load(name, split="train", n=data.get("n_train"), verbose=verbose, **kwargs, **binarize)
        test = load(name, split="test", n=data.get("n_test", 2000 if name != "mnist" else None), verbose=verbose,
                    **kwargs, **({"binarize": "fixed"} if name == "mnist" else {}))
    except (FileNotFoundError, OSError, RuntimeError) as err:
        raise RuntimeError(
            f"{name} ({source}) is not available here: {err}\nFull MNIST needs a network the first time (it is cached "
            "afterwards). Run with --source subset (the 10,000 shipped digits) or --data fashion-mnist instead."
        ) from err
    return train, test


def _evaluate(model, test, k: int, real) -> dict:
    """Everything defined for this model on ``test``: nats per example, and FD/KID of its samples."""
    first = model.first if isinstance(model, TwoStageVAE) else model
    out: dict = {"likelihood": getattr(first.likelihood, "name", "custom")}  # Gaussian densities: other units
    parts = evaluate.elbo_parts(first, test)
    out["recon"] = parts["recon"]
    if not getattr(first, "deterministic_encoder", False):
        out["elbo"] = parts["elbo"]
        if k:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # unnormalized implicit prior: recorded below
                out["log_likelihood"] = evaluate.log_likelihood(first, test, k=k)
            if getattr(first.prior, "normalized", True) is False:
                out["log_likelihood_note"] = "unnormalized prior: not a bound (Takahashi et al. report it with ≈)"
    out["active_units"] = evaluate.active_units(first, test)
    out["mmd_to_prior"] = evaluate.mmd_to_prior(first, test)  # to the model's own prior (a VampPrior for "vamp")
    out["logdet_cov_qz"] = evaluate.aggregate_posterior(first, test).logdet
    if real is not None:
        with torch.no_grad():
            samples = model.sample(len(real), generator=torch.Generator(device=first.device).manual_seed(0))
        quality = metrics.sample_quality(samples.cpu().clamp(0, 1), real, seed=0)
        out["fd"], out["kid"], out["features"] = quality["fid"], quality["kid"], quality["extractor"]
    return {key: (None if isinstance(v, float) and not math.isfinite(v) else v) for key, v in out.items()}


def file_stem(spec: Spec) -> str:
    """The name of a model's checkpoint and figure files: its spec's name with spaces and slashes replaced."""
    return spec.name.replace(" ", "_").replace("/", "_")


def _save_samples(model, path: Path) -> str:
    """64 samples (decoder means) as a PNG beside the results; returns the file name."""
    from .plots import image_grid  # a figure pyplot does not keep open: no backend switch, no leak

    first = model.first if isinstance(model, TwoStageVAE) else model
    with torch.no_grad():
        samples = model.sample(64, generator=torch.Generator(device=first.device).manual_seed(0)).cpu().clamp(0, 1)
    figure = image_grid(samples, nrow=8, title=path.stem.replace("_", " "))
    figure.savefig(path, dpi=80)
    return path.name


def run(name: str, budget: str = "cpu", out: str | Path = "runs", device="auto", progress: bool = True,
        source: str | None = None, verbose: bool = True, folder_name: str | None = None,
        precision: str | None = None) -> dict:
    """Run the named experiment; return (and write to ``out/NAME-BUDGET/results.json``) its results.

    Rerunning resumes: every model's training continues from its checkpoint (a finished one is only evaluated).
    ``precision`` (``"float32"`` or ``"bfloat16"``, see :func:`vaelab.fit`) overrides every model's.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.")
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}.")
    data, specs = EXPERIMENTS[name](budget)
    if precision is not None:
        specs = [replace(spec, precision=precision) for spec in specs]
    if source is not None:
        data["source"] = source
    device = resolve_device(device)
    folder = Path(out) / (folder_name or f"{name}-{budget}")
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    train, test = load_data(data, verbose=verbose)
    real = test[:2000] if train.shape[1] == 784 else None
    results = {"experiment": "train" if name == "_cli" else name, "budget": budget, "data": {**data, "source_used": getattr(train, "source", None),
                                                              "n_train": len(train), "n_test": len(test)},
               "hardware": hardware(device), "models": {}}
    for spec in specs:
        began = time.perf_counter()
        model = build(spec, train.shape[1])
        stem = folder / "checkpoints" / file_stem(spec)
        kind_data = train if spec.kind != "two-stage" else train.as_subclass(torch.Tensor)
        history = fit(model, kind_data, epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr, seed=0,
                      kl_weight=spec.kl_weight, warmup=spec.warmup, lr_decay_every=spec.lr_decay_every,
                      lr_decay=spec.lr_decay, device=device, progress=progress,
                      checkpoint=stem.with_suffix(".pt"), binarize="none" if spec.kind == "two-stage" else "auto",
                      precision=spec.precision)
        seconds = sum(history.seconds)
        if spec.kind == "two-stage":
            second = VAE(x_dim=spec.z_dim, z_dim=spec.z_dim, hidden=spec.stage_two_hidden, likelihood="gaussian",
                         gamma=1.0, learn_gamma=True)
            history_2 = fit(second, latent_codes(model, kind_data), epochs=spec.stage_two_epochs,
                            batch_size=spec.batch_size, lr=spec.stage_two_lr,
                            lr_decay_every=spec.stage_two_lr_decay_every, lr_decay=spec.lr_decay, seed=1,
                            device=device, progress=progress, checkpoint=stem.with_name(stem.name + "-stage2.pt"),
                            precision=spec.precision)
            seconds += sum(history_2.seconds)
            model = TwoStageVAE(model, second)
        entry = {"spec": asdict(spec), "train_seconds": seconds, **_evaluate(model, test, data.get("k", 0), real)}
        if real is not None:  # a figure of samples beside the numbers
            entry["samples_figure"] = _save_samples(model, stem.with_name(stem.name + "-samples.png"))
        entry["wall_seconds"] = time.perf_counter() - began
        results["models"][spec.name] = entry
        (folder / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    if verbose:
        print(f"results: {folder / 'results.json'}")
    return results
