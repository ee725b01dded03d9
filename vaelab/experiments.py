"""Experiments: specifications of models, their training with a shared checkpoint store, and their evaluation.

An experiment is a list of model specifications (:class:`Spec`: which kind of model, its settings, how to train it,
which seed) on one data set.  :func:`run_specs` trains each one with ``vaelab.fit`` (or loads it: every trained
model is kept in a checkpoint named by its content, so an interrupted run resumes, and two experiments or two
chapters that ask for the same model share one file), evaluates everything that is defined for it, and writes
``results.json`` after every model, with the hardware, the data source and the budget.  :func:`run` does this for
the named experiments of :data:`EXPERIMENTS`, at two budgets: ``"cpu"`` (minutes on a laptop, what the book
executes) and ``"paper"`` (the source paper's setting as far as this library's MLPs allow; meant for a GPU).

The kinds of model are a registry (:data:`KINDS`, :func:`register_kind`): a builder function per kind whose keyword
arguments are the options a :class:`Spec` may give it; an unknown option is an error, never silently dropped.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from . import evaluate, metrics
from ._version import __version__
from .checkpoints import atomic_write_text
from .checks import choice, positive_int
from .data import load
from .freebits import FreeBitsVAE
from .hebae import HEBAE
from .infovae import WAE, InfoVAE
from .models import VAE
from .priors import ImplicitPrior, StandardNormal, VampPrior
from .train import fit, resolve_device, show_progress
from .twostage import TwoStageVAE, latent_codes

BUDGETS = ("cpu", "paper")


@dataclass
class Spec:
    """One model of an experiment: its ``kind`` (a key of :data:`KINDS`), the networks, kind-specific ``options``
    (e.g. ``{"K": 500}`` for a VampPrior, ``{"alpha": 1.0, "mmd_lambda": 1000.0}`` for InfoVAE), the training budget and
    the ``seed`` that initializes the networks and drives training."""

    name: str
    kind: str
    z_dim: int = 20
    hidden: list[int] = field(default_factory=lambda: [300])
    likelihood: str = "bernoulli"
    activation: str = "relu"  # hidden layers: any of nets.ACTIVATIONS, or "gated" (GatedLinear layers)
    options: dict = field(default_factory=dict)  # the kind's builder arguments (KINDS), checked by build()
    epochs: int = 20
    batch_size: int = 100
    lr: float = 1e-3
    kl_weight: float = 1.0
    warmup: int = 0
    lr_decay_every: int = 0  # a step decay of lr by lr_decay every so many epochs (0: constant)
    lr_decay: float = 0.5
    precision: str = "float32"  # fit's precision: "float32" or "bfloat16"
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> Spec:
        """A spec from its ``asdict`` form, also as written by earlier versions (two-stage fields on the spec)."""
        d = dict(d)
        options = dict(d.pop("options", {}) or {})
        for old in ("stage_two_epochs", "stage_two_hidden", "stage_two_lr", "stage_two_lr_decay_every"):
            if old in d:
                value = d.pop(old)
                if d.get("kind") == "two-stage":
                    options.setdefault(old, value)
        if d.get("kind") in ("infovae", "wae") and "lam" in options:  # the option's name in vaelab 0.1
            options["mmd_lambda"] = options.pop("lam")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"Unknown spec field(s) {unknown}; a spec has {sorted(known)}.")
        return cls(**d, options=options)

    def key(self) -> str:
        """A digest of everything that determines the trained model (all fields but the display name)."""
        content = {k: v for k, v in asdict(self).items() if k != "name"}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------------------------- the kinds of model


def _common(spec: Spec, x_dim: int) -> dict:
    return dict(x_dim=x_dim, z_dim=spec.z_dim, hidden=spec.hidden, activation=spec.activation,
                likelihood=spec.likelihood)


def build_vae(spec: Spec, x_dim: int, gamma: float = 0.1, learn_gamma: bool = False, gamma_lr: float | None = None,
              n_samples: int = 1, kl: str = "closed-form") -> VAE:
    """The standard VAE (chapter 1); ``kl="monte-carlo"`` estimates its KL term by sampling (chapter 3)."""
    return VAE(**_common(spec, x_dim), gamma=gamma, learn_gamma=learn_gamma, gamma_lr=gamma_lr, n_samples=n_samples,
               prior=StandardNormal(spec.z_dim, kl=kl))


def build_free_bits(spec: Spec, x_dim: int, free_bits: float = 0.5) -> FreeBitsVAE:
    """A VAE trained with free bits: τ nats per latent dimension the KL term does not charge (chapter 2)."""
    return FreeBitsVAE(**_common(spec, x_dim), free_bits=free_bits)


def build_vamp(spec: Spec, x_dim: int, K: int = 500, parameterization: str = "projected") -> VAE:
    """A VAE with a VampPrior of K pseudo-inputs (chapter 3)."""
    return VAE(**_common(spec, x_dim), prior=VampPrior(K, x_dim, parameterization=parameterization))


def build_implicit(spec: Spec, x_dim: int, every: str = "batch", steps: int = 1, lr: float = 1e-3,
                   ratio_hidden: Sequence[int] = (100, 100)) -> VAE:
    """A VAE with the implicit optimal prior and its density-ratio network (chapter 4)."""
    return VAE(**_common(spec, x_dim), prior=ImplicitPrior(spec.z_dim, hidden=ratio_hidden, every=every, steps=steps,
                                                           lr=lr))


def build_infovae(spec: Spec, x_dim: int, alpha: float = 0.0, mmd_lambda: float = 1000.0, kernel: str = "imq",
                  kernel_scales: Sequence[float] = (1.0,)) -> InfoVAE:
    """InfoVAE with an MMD divergence (chapter 5)."""
    return InfoVAE(**_common(spec, x_dim), alpha=alpha, mmd_lambda=mmd_lambda, kernel=kernel,
                   kernel_scales=kernel_scales)


def build_wae(spec: Spec, x_dim: int, mmd_lambda: float = 1000.0, kernel: str = "imq",
              kernel_scales: Sequence[float] = (1.0,)) -> WAE:
    """The Wasserstein autoencoder with the MMD penalty (chapter 5)."""
    return WAE(**_common(spec, x_dim), mmd_lambda=mmd_lambda, kernel=kernel, kernel_scales=kernel_scales)


def build_hebae(spec: Spec, x_dim: int, reparameterization: str = "cholesky", momentum: float = 0.05) -> HEBAE:
    """HEBAE (chapter 6)."""
    return HEBAE(**_common(spec, x_dim), reparameterization=reparameterization, momentum=momentum)


def build_two_stage(spec: Spec, x_dim: int, stage_two_epochs: int = 40, stage_two_hidden: Sequence[int] = (256, 256),
                    stage_two_lr: float = 1e-3, stage_two_lr_decay_every: int = 0,
                    gamma_lr: float | None = None) -> TwoStageVAE:
    """The two-stage VAE (chapter 7): a learned-γ Gaussian VAE (γ at its own rate ``gamma_lr`` if given) and a second
    VAE of its codes (trained by :func:`train_spec` for ``stage_two_epochs`` at ``stage_two_lr``, with the spec's
    batch size and decay factor)."""
    positive_int(stage_two_epochs, "stage_two_epochs")
    first = VAE(**{**_common(spec, x_dim), "likelihood": "gaussian"}, gamma=1.0, learn_gamma=True, gamma_lr=gamma_lr)
    torch.manual_seed(spec.seed + 1)
    second = VAE(x_dim=spec.z_dim, z_dim=spec.z_dim, hidden=list(stage_two_hidden), likelihood="gaussian", gamma=1.0,
                 learn_gamma=True)
    return TwoStageVAE(first, second)


KINDS: dict[str, Callable] = {"vae": build_vae, "free-bits": build_free_bits, "vamp": build_vamp,
                              "implicit": build_implicit, "infovae": build_infovae, "wae": build_wae,
                              "hebae": build_hebae, "two-stage": build_two_stage}


def register_kind(name: str, builder: Callable) -> None:
    """Make ``Spec(kind=name)`` build its model with ``builder(spec, x_dim, **options)`` (the CLI's ``--kind``
    and the named experiments then know it).  The builder's keyword arguments are the options a spec may give."""
    if not callable(builder) or list(inspect.signature(builder).parameters)[:2] != ["spec", "x_dim"]:
        raise ValueError("A builder is a function builder(spec, x_dim, **options) returning the model.")
    KINDS[name] = builder


def kind_options(kind: str) -> dict:
    """The options a kind accepts, with their defaults."""
    choice(kind, "kind (the kind of model)", KINDS)
    parameters = list(inspect.signature(KINDS[kind]).parameters.values())[2:]
    return {p.name: p.default for p in parameters}


def check_spec(spec: Spec) -> Spec:
    """Refuse a spec with an unknown kind or option before any work is done."""
    if not isinstance(spec, Spec):
        raise TypeError(f"Expected a vaelab.experiments.Spec, got {type(spec).__name__}.")
    if spec.kind not in KINDS:
        raise ValueError(f"Unknown model kind {spec.kind!r}; choose one of {', '.join(KINDS)}.")
    allowed = kind_options(spec.kind)
    unknown = sorted(set(spec.options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Spec {spec.name!r}: the {spec.kind!r} model has no option(s) {unknown}; its options are "
            f"{allowed or 'none'}."
        )
    return spec


def build(spec: Spec, x_dim: int):
    """The untrained model of ``spec``, its networks initialized from ``spec.seed``.  Unknown options are an error."""
    check_spec(spec)
    torch.manual_seed(spec.seed)
    return KINDS[spec.kind](spec, x_dim, **spec.options)


# ---------------------------------------------------------------------------------------------------------- training


def data_fingerprint(data) -> dict:
    """What identifies a training set in a checkpoint's name: its name, size and the sum of its values."""
    x = data.mu if hasattr(data, "mu") else data
    return {"name": getattr(data, "name", None), "n": len(x), "sum": round(float(torch.as_tensor(x).double().sum()), 3)}


def checkpoint_path(spec: Spec, train, store: str | os.PathLike) -> Path:
    """Where ``spec``'s model trained on ``train`` is kept: ``store/KIND-DIGEST.pt``, the digest covering the spec
    (all but its name) and the training data, so that equal models share one file whoever asks for them."""
    digest = hashlib.sha256((spec.key() + json.dumps(data_fingerprint(train), sort_keys=True)).encode()).hexdigest()
    return Path(store) / f"{spec.kind}-{digest[:12]}.pt"


def _stage_two_path(path: Path) -> Path:
    return path.with_name(path.stem + "-stage2.pt")


@dataclass
class Trained:
    """A trained model of a spec: the model, its training ``history`` (the first stage's, for the two-stage VAE),
    the training seconds of every stage and the checkpoint file."""

    model: object
    history: object
    seconds: float
    checkpoint: Path


def train_spec(spec: Spec, train, store: str | os.PathLike, *, device="auto", progress: bool | None = False,
               train_missing: bool = True) -> Trained:
    """Train ``spec``'s model on ``train``, or load it from ``store`` where it was trained before (a partly trained
    one resumes).

    With ``train_missing=False`` nothing is trained: a missing or unfinished checkpoint is an error naming the file.
    The two-stage VAE trains its first stage, then its second on the first stage's codes.
    """
    model = build(spec, train.shape[1] if hasattr(train, "shape") else train.mu.shape[1])
    path = checkpoint_path(spec, train, store)
    if spec.kind == "two-stage" and isinstance(train, torch.Tensor):
        train = train.as_subclass(torch.Tensor)  # grey values as they are: no binarization mark, for either stage
    first = model.first if isinstance(model, TwoStageVAE) else model
    stages = [(first, train, path, spec.epochs, spec.lr, spec.lr_decay_every, spec.seed)]
    if isinstance(model, TwoStageVAE):
        options = {**kind_options("two-stage"), **spec.options}
        stages.append((model.second, None, _stage_two_path(path), options["stage_two_epochs"], options["stage_two_lr"],
                       options["stage_two_lr_decay_every"], spec.seed + 1))
    if not train_missing:
        for _, _, stage_path, epochs, *_ in stages:
            _require_finished(stage_path, epochs, spec)
    seconds, histories = 0.0, []
    for net, data, stage_path, epochs, lr, decay_every, seed in stages:
        if data is None:  # stage 2: the first stage's codes, redrawn every epoch
            data = latent_codes(first, train)
        is_stage_two = net is not first
        history = fit(net, data, epochs=epochs, batch_size=spec.batch_size, lr=lr, seed=seed,
                      kl_weight=1.0 if is_stage_two else spec.kl_weight, warmup=0 if is_stage_two else spec.warmup,
                      lr_decay_every=decay_every, lr_decay=spec.lr_decay, device=device, progress=progress,
                      checkpoint=stage_path, binarize="none" if spec.kind == "two-stage" else "auto",
                      precision=spec.precision)
        seconds += sum(history.seconds)
        histories.append(history)
    return Trained(model, histories[0], seconds, path)


def _require_finished(path: Path, epochs: int, spec: Spec) -> None:
    if not path.exists():
        raise FileNotFoundError(
            f"No checkpoint for {spec.name!r} at {path}: evaluating never trains. Train it first (python -m vaelab "
            "train, or reproduce), or point to the folder that holds it."
        )
    trained = len(torch.load(path, map_location="cpu", weights_only=True).get("history", {}).get("epoch", []))
    if trained < epochs:
        raise ValueError(
            f"The checkpoint {path} of {spec.name!r} has {trained} of its {epochs} epochs: evaluating never trains. "
            "Finish the training first (the same train or reproduce command resumes it)."
        )


def with_seeds(specs: Sequence[Spec], seeds: Sequence[int]) -> list[Spec]:
    """Every spec once per seed, named ``"NAME, seed S"``."""
    return [replace(spec, name=f"{spec.name}, seed {seed}", seed=seed) for spec in specs for seed in seeds]


# -------------------------------------------------------------------------------------------------------- evaluation


def hardware(device: torch.device) -> dict:
    info = {"device": str(device), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "vaelab": __version__,
            "python": platform.python_version()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def evaluate_model(model, test, k: int, real=None, progress: bool = False) -> dict:
    """Everything defined for ``model`` on ``test``: nats per example (the log-likelihood with its Monte Carlo
    standard error), active units, q(z) against the prior, and FD/KID of its samples against ``real`` images.
    ``progress`` shows a bar over the log-likelihood's batches (its k samples per example are most of the time)."""
    out: dict = {"likelihood": getattr(model.likelihood, "name", "custom")}  # Gaussian densities: other units
    parts = evaluate.elbo_parts(model, test)
    out["recon"] = parts["recon"]
    if not getattr(model, "deterministic_encoder", False):
        out["elbo"] = parts["elbo"]
        if k:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # unnormalized implicit prior: recorded below
                estimate = evaluate.log_likelihood(model, test, k=k, progress=progress)
            out["log_likelihood"] = float(estimate)
            out["log_likelihood_stderr"] = getattr(estimate, "stderr", None)
            if getattr(model.prior, "normalized", True) is False:
                out["log_likelihood_note"] = "unnormalized prior: not a bound (Takahashi et al. report it with ≈)"
    out["active_units"] = evaluate.active_units(model, test)
    out["mmd_to_prior"] = evaluate.mmd_to_prior(model, test)  # to the model's own prior (a VampPrior for "vamp")
    out["logdet_cov_qz"] = evaluate.aggregate_posterior(model, test).logdet
    if real is not None:
        with torch.no_grad():
            samples = model.sample(len(real), generator=torch.Generator(device=model.device).manual_seed(0))
        # with no more samples than KID's subset size, every subset is all of them: one is enough (same mean)
        one_subset = {"kid_subsets": 1} if len(samples) <= metrics.KID_SUBSET_SIZE else {}
        quality = metrics.sample_quality(samples.cpu().clamp(0, 1), real, seed=0, **one_subset)
        out["fd"], out["kid"], out["features"] = quality["fid"], quality["kid"], quality["extractor"]
    return {key: (None if isinstance(v, float) and not math.isfinite(v) else v) for key, v in out.items()}


def _save_samples(model, path: Path) -> str:
    """64 samples (decoder means) as a PNG beside the results; returns the file name."""
    from .plots import image_grid  # a figure pyplot does not keep open: no backend switch, no leak

    with torch.no_grad():
        samples = model.sample(64, generator=torch.Generator(device=model.device).manual_seed(0)).cpu().clamp(0, 1)
    figure = image_grid(samples, nrow=8, title=path.stem.replace("_", " "))
    figure.savefig(path, dpi=80)
    return path.name


def file_stem(spec: Spec) -> str:
    """A file name made from the spec's display name: spaces, commas and slashes replaced."""
    return spec.name.replace(", ", "_").replace(" ", "_").replace("/", "_").replace(",", "_")


def write_json(path: Path, obj) -> None:
    """Write JSON atomically: a temporary file beside ``path``, flushed, then renamed over it."""
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False))


# -------------------------------------------------------------------------------------------------------- the runner


class Results(dict):
    """The ``results.json`` contents of a run, with the trained models themselves in ``.trained`` and their training
    histories in ``.histories`` (both by spec name)."""

    trained: dict
    histories: dict

    def by_seed(self, name: str) -> dict:
        """The trained models of the spec ``name`` run under several seeds (:func:`with_seeds`): seed → model."""
        found = {entry["spec"]["seed"]: self.trained[full] for full, entry in self["models"].items()
                 if full == name or full.rsplit(", seed ", 1)[0] == name}
        if not found:
            raise KeyError(f"No model named {name!r} (or {name!r} with seeds) in these results; they hold "
                           f"{sorted(self['models'])}.")
        return dict(sorted(found.items()))


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


def run_specs(data, specs: Sequence[Spec], folder: str | os.PathLike, *, store: str | os.PathLike | None = None,
              device="auto", progress: bool | None = None, verbose: bool = True, train: bool = True,
              evaluate_models: bool = True, k: int | None = None, experiment: str = "specs",
              budget: str | None = None) -> Results:
    """Train (or load) and evaluate every model of ``specs`` on ``data``; write ``folder/results.json``.

    Args:
        data: a data description ``{"name", "source", "n_train", "n_test", "k"}`` (see :func:`load_data`), or a
            ``(train, test)`` pair of data sets already loaded.
        specs: the models; their names must be distinct.
        folder: where ``results.json`` and the sample figures go.
        store: where checkpoints are kept (default ``folder/checkpoints``); experiments that share a store share
            every model they have in common.
        train: ``False`` only loads finished checkpoints (``python -m vaelab evaluate``): a missing one is an error.
        evaluate_models: ``False`` skips the evaluation (the results then hold training times only).
        k: importance samples of the log-likelihood (default: the data description's ``k``, else 100; 0 skips it).

    Evaluations are kept in ``results.json`` with a key of the spec, its checkpoint file and the evaluation
    settings: a rerun whose models did not change reuses them instead of evaluating again.
    """
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"Spec names must be distinct; repeated: {sorted({n for n in names if names.count(n) > 1})}.")
    device = resolve_device(device)
    folder = Path(folder)
    store = Path(store) if store is not None else folder / "checkpoints"
    for spec in specs:
        check_spec(spec)  # unknown kinds and options fail here, before any work
    if isinstance(data, dict):
        info = dict(data)
        train_data, test = load_data(info, verbose=verbose)
    else:
        train_data, test = data
        info = {"name": getattr(train_data, "name", None)}
    k = info.get("k", 100) if k is None else k
    real = test[:2000] if train_data.shape[1] == 784 else None
    results_path = folder / "results.json"
    previous = {}
    if results_path.exists():
        try:
            previous = json.loads(results_path.read_text()).get("models", {})
        except (ValueError, OSError):
            previous = {}
    results = Results(experiment=experiment, budget=budget,
                      data={**info, "source_used": getattr(train_data, "source", None), "n_train": len(train_data),
                            "n_test": len(test)},
                      hardware=hardware(device), models={})
    results.trained, results.histories = {}, {}
    for spec in specs:
        began = time.perf_counter()
        trained = train_spec(spec, train_data, store, device=device, progress=progress, train_missing=train)
        model, seconds, path = trained.model, trained.seconds, trained.checkpoint
        results.trained[spec.name], results.histories[spec.name] = model, trained.history
        entry = {"spec": asdict(spec), "checkpoint": str(path), "train_seconds": seconds}
        if evaluate_models:
            stat = path.stat()
            key = f"{spec.key()}:{stat.st_size}:{stat.st_mtime_ns}:k={k}:n_test={len(test)}:{__version__}"
            cached = previous.get(spec.name, {})
            if cached.get("evaluation_key") == key:
                entry.update({name: v for name, v in cached.items() if name not in entry})
            else:
                entry.update(evaluate_model(model, test, k, real, progress=show_progress(progress)))
                entry["evaluation_key"] = key
                if real is not None:  # a figure of samples beside the numbers
                    figures = folder / "figures"
                    figures.mkdir(parents=True, exist_ok=True)
                    entry["samples_figure"] = str(Path("figures") / _save_samples(
                        model, figures / f"{file_stem(spec)}-samples.png"))
        entry["wall_seconds"] = time.perf_counter() - began
        results["models"][spec.name] = entry
        write_json(results_path, dict(results))
    if verbose:
        print(f"results: {results_path}")
    return results


# ------------------------------------------------------------------------------------------------- named experiments


def _compare(budget: str) -> tuple[dict, list[Spec]]:
    """Every model of the book, one architecture (784-300-20, or 784-500-500-40 on paper), one budget.

    The CPU budget is the book's (chapters 1–7 train the same models: with a shared checkpoint store chapter 8 only
    loads them); its evaluation uses the first 500 test digits (FD: 500 samples against them)."""
    paper = budget == "paper"
    arch = dict(z_dim=40, hidden=[500, 500], epochs=200) if paper else dict(z_dim=20, hidden=[300], epochs=8)
    specs = [
        Spec("VAE", "vae", **arch),
        Spec("VampPrior", "vamp", options={"K": 500}, **arch),
        Spec("implicit prior", "implicit", **arch),
        Spec("InfoVAE (α = 1, λ = 1000)", "infovae", options={"alpha": 1.0, "mmd_lambda": 1000.0}, **arch),
        Spec("WAE (λ = 1000)", "wae", options={"mmd_lambda": 1000.0}, **arch),
        Spec("HEBAE", "hebae", **arch),
        Spec("two-stage VAE", "two-stage", options={"stage_two_epochs": 400 if paper else 40, "gamma_lr": 1e-2},
             **arch),
    ]
    data = {"name": "mnist", "source": "auto" if paper else "subset", "k": 5000 if paper else 100,
            "n_test": None if paper else 500}
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
    specs = [Spec(f"{name}, λ = {lam:g}", kind, kl_weight=lam, **arch)
             for name, kind in (("VAE", "vae"), ("HEBAE", "hebae")) for lam in lams]
    return {"name": "mnist", "source": "auto" if paper else "subset", "k": 5000 if paper else 100}, specs


def _two_stage(budget: str) -> tuple[dict, list[Spec]]:
    """Dai & Wipf (2019) on Fashion-MNIST: learned γ, a second VAE on the codes (MLPs here, not their conv nets)."""
    paper = budget == "paper"
    arch = dict(z_dim=64 if paper else 16, hidden=[512, 512] if paper else [300, 300], epochs=400 if paper else 20)
    if paper:  # their schedule: batch 64, Adam 1e-4 halved every 150 epochs; stage 2: a VAE of three 1024-unit
        # layers, 800 epochs, Adam 1e-4 halved every 300
        arch.update(batch_size=64, lr=1e-4, lr_decay_every=150)
        two = dict(options={"stage_two_epochs": 800, "stage_two_lr": 1e-4, "stage_two_lr_decay_every": 300,
                            "stage_two_hidden": [1024, 1024, 1024]})
    else:
        two = dict(options={"stage_two_epochs": 40, "gamma_lr": 1e-2})
    specs = [Spec("VAE (cross-entropy)", "vae", **arch), Spec("two-stage VAE", "two-stage", **{**arch, **two})]
    return {"name": "fashion-mnist", "source": "auto", "n_train": None if paper else 10_000, "k": 0}, specs


def _lambda(budget: str) -> tuple[dict, list[Spec]]:
    """λ-sensitivity: each model of the comparison with a regularization weight, at λ₀/4, λ₀ and 4·λ₀.

    The CPU budget is the comparison's (and the book's: chapters 2, 5 and 6 train many of these models, so with a
    shared checkpoint store chapter 8 trains only the rest)."""
    paper = budget == "paper"
    arch = dict(z_dim=40, hidden=[500, 500], epochs=200) if paper else dict(z_dim=20, hidden=[300], epochs=8)
    specs = []
    for lam in (0.25, 1.0, 4.0):  # multiples of each model's λ₀ (1 for the KL weights, 1000 for the MMD weights)
        specs += [Spec(f"VAE, λ = {lam:g}", "vae", kl_weight=lam, **arch),
                  Spec(f"InfoVAE, λ = {1000 * lam:g}", "infovae",
                       options={"alpha": 1.0, "mmd_lambda": 1000 * lam}, **arch),
                  Spec(f"WAE, λ = {1000 * lam:g}", "wae", options={"mmd_lambda": 1000 * lam}, **arch),
                  Spec(f"HEBAE, λ = {lam:g}", "hebae", kl_weight=lam, **arch)]
    data = {"name": "mnist", "source": "auto" if paper else "subset", "k": 0, "n_test": None if paper else 500}
    return data, specs


EXPERIMENTS = {"compare": _compare, "vampprior": _vampprior, "hebae": _hebae, "two-stage": _two_stage,
               "lambda": _lambda}


def run(name: str, budget: str = "cpu", out: str | Path = "runs", device="auto", progress: bool | None = None,
        source: str | None = None, verbose: bool = True, precision: str | None = None,
        seeds: Sequence[int] | None = None, store: str | os.PathLike | None = None,
        epochs: int | None = None) -> Results:
    """Run the named experiment; return (and write to ``out/NAME-BUDGET/results.json``) its results.

    Rerunning resumes: every model's training continues from its checkpoint (a finished one is only evaluated).
    ``precision`` (``"float32"`` or ``"bfloat16"``, see :func:`vaelab.fit`) overrides every model's; ``seeds``
    runs every model once per seed (named ``"NAME, seed S"``); ``store`` is the checkpoint folder (default
    ``out/NAME-BUDGET/checkpoints``).  ``epochs`` caps every model's training (and its warm-up) at that many epochs,
    for the largest budget a limited machine time allows; the results then go to ``out/NAME-BUDGET-eEPOCHS/`` so
    that they never mix with the full budget's.
    """
    choice(name, "name (the experiment)", EXPERIMENTS)
    choice(budget, "budget", BUDGETS)
    data, specs = EXPERIMENTS[name](budget)
    if precision is not None:
        specs = [replace(spec, precision=precision) for spec in specs]
    folder = experiment_folder(name, budget, out, epochs)
    if epochs is not None:
        specs = [replace(spec, epochs=min(spec.epochs, epochs), warmup=min(spec.warmup, epochs)) for spec in specs]
    if seeds is not None:
        specs = with_seeds(specs, seeds)
    if source is not None:
        data["source"] = source
    return run_specs(data, specs, folder, store=store, device=device, progress=progress,
                     verbose=verbose, experiment=name, budget=budget)


# How fast small MLPs train on a CPU, as a fraction of a large matrix product's FLOP rate: the chapter-1 VAE
# (784-300-20, batch 100, 8,000 digits) trained at 38 % of a 512×512 product's rate on two idle CPU cores, and a
# VampPrior with K = 500 took 2.5 times as long per epoch (benchmarks/results/time_estimate.md, and how to repeat it).
MLP_EFFICIENCY = 0.35
VAMP_COST_PER_COMPONENT = 0.3  # extra cost per pseudo-input per batch example: 1 + 0.3·K/B times a VAE's epoch
N_TRAIN = {("mnist", "subset"): 8_000, ("mnist", "auto"): 60_000, ("mnist", "full"): 60_000,
           ("fashion-mnist", "auto"): 60_000, ("fashion-mnist", "full"): 60_000}


def machine_speed(seconds: float = 0.2) -> float:
    """This machine's float32 matrix-product speed in FLOP/s (512×512 products, timed for ``seconds``)."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    torch.mm(a, b)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        torch.mm(a, b)
        count += 1
    return count * 2 * 512**3 / (time.perf_counter() - began)


def estimate(name: str, budget: str, speed: float) -> dict:
    """A rough training-plus-evaluation time of an experiment at ``speed`` FLOP/s (:func:`machine_speed`): six
    FLOPs per parameter per training example (forward and backward), a VampPrior's pseudo-inputs encoded at every
    step, the two-stage VAE's second stage, and the log-likelihood's k forward passes per test example.  Calibrated
    on CPU training epochs (benchmarks/results/time_estimate.md: one epoch within 0.8–1.1× of measured); evaluation
    overheads other than the log-likelihood are not counted, and GPUs were not calibrated."""
    choice(name, "name (the experiment)", EXPERIMENTS)
    data, specs = EXPERIMENTS[name](choice(budget, "budget", BUDGETS))
    n_train = data.get("n_train") or N_TRAIN.get((data["name"], data.get("source", "auto")), 60_000)
    n_test = data.get("n_test") or (2_000 if data.get("source") == "subset" else 10_000)
    flops, epochs = 0.0, 0
    for spec in specs:
        model = build(spec, 784)
        first = model.first if isinstance(model, TwoStageVAE) else model
        size = network_size(first)
        flops += 6 * size * n_train * spec.epochs * training_cost_factor(spec) + size * data.get("k", 100) * n_test
        epochs += spec.epochs
        if isinstance(model, TwoStageVAE):
            stage_two = {**kind_options("two-stage"), **spec.options}["stage_two_epochs"]
            flops += 6 * network_size(model.second) * n_train * stage_two
    return {"models": len(specs), "epochs": epochs, "seconds": flops / (speed * MLP_EFFICIENCY)}


def network_size(model) -> int:
    """Parameters an example passes through (encoder, decoder, likelihood): a prior's parameters are not counted."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("prior."))


def training_cost_factor(spec: Spec) -> float:
    """A model's training epoch relative to a VAE's of the same networks: a VampPrior encodes its K pseudo-inputs
    at every step."""
    return 1 + VAMP_COST_PER_COMPONENT * spec.options.get("K", 0) / spec.batch_size if spec.kind == "vamp" else 1.0


def experiment_folder(name: str, budget: str, out: str | os.PathLike = "runs", epochs: int | None = None) -> Path:
    """Where :func:`run` writes: ``out/NAME-BUDGET/``, or ``out/NAME-BUDGET-eEPOCHS/`` under an epoch cap."""
    folder = f"{name}-{budget}"
    if epochs is not None:
        cap = positive_int(epochs, "epochs (the cap on every model's training)")
        folder += f"-e{cap}"
    return Path(out) / folder
