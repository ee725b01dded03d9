"""Training: ``fit()``, its ``History``, and checkpoints.

The loop is written for speed on small models, where overhead, not arithmetic, dominates: the whole data set lives
on the device, batches are drawn by a random permutation of indices, dynamic binarization redraws all pixels once
per epoch, and the per-step losses stay on the device until one transfer at the end of the epoch.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from . import evaluate
from ._version import __version__
from .data import LatentCodes
from .nets import _check_size

CHECKPOINT_FORMAT = "vaelab-checkpoint/1"


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message names the epoch, the step and the term."""


@dataclass
class History:
    """Per-epoch training record (nats per example).  ``test_*`` stay empty when ``fit`` had no test set.

    ``recon`` is E_q[log p(x|z)], ``kl`` the KL term, ``elbo = recon − kl`` and ``loss`` the training loss
    (−(recon − λ·kl) for the VAE); ``train_divergence`` the batch-level divergence penalty (MMD² of InfoVAE and WAE;
    empty for models without one);
    ``train_*`` are averages over the epoch's batches, ``test_*`` are evaluated after the epoch.  ``kl_weight`` is
    λ at the end of each epoch (it grows during a warm-up), ``lr`` the model's learning rate during each epoch (it
    falls under a step decay), ``discriminator_loss`` the mean logistic loss of a prior's discriminator (implicit
    prior; empty otherwise).  ``seconds`` is the training time of each epoch (test evaluation excluded).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_elbo: list[float] = field(default_factory=list)
    train_recon: list[float] = field(default_factory=list)
    train_kl: list[float] = field(default_factory=list)
    train_divergence: list[float] = field(default_factory=list)
    test_elbo: list[float] = field(default_factory=list)
    test_recon: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)
    kl_weight: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    discriminator_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def as_dict(self) -> dict[str, list]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{f.name: list(d.get(f.name, [])) for f in fields(cls)})

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        last = f"train ELBO {self.train_elbo[-1]:.2f}"
        if self.test_elbo:
            last += f", test ELBO {self.test_elbo[-1]:.2f}"
        return f"History({len(self)} epochs; last: {last} nats)"


class Checkpoint(NamedTuple):
    model: torch.nn.Module
    history: History
    epoch: int


# --------------------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------------------
def _atomic_save(obj, path: Path) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename: never a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_checkpoint(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ValueError(
            f"Could not read the checkpoint {path}: it is corrupted, truncated or not a vaelab checkpoint "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Delete it to start afresh."
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vaelab checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    return state


def _check_same_model(model, state: dict, path: Path) -> None:
    """Refuse a checkpoint written by another kind of model, naming the difference."""
    problems = []
    if state["model_class"] != type(model).__name__:
        problems.append(f"it holds a {state['model_class']}, not a {type(model).__name__}")
    config = getattr(model, "config", {})
    for key in sorted(set(config) | set(state["model_config"])):
        if config.get(key) != state["model_config"].get(key):
            problems.append(f"{key}={state['model_config'].get(key)!r} there, {config.get(key)!r} here")
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in state["model_state"].items()}
    if own != saved and not problems:
        diff = sorted(set(own.items()) ^ set(saved.items()))[:4]
        problems.append(f"its parameters differ in name or shape: {diff}")
    if problems:
        raise ValueError(
            f"The checkpoint {path} belongs to another model: " + "; ".join(problems) + ". Build the model with the "
            "same settings, or use another checkpoint path."
        )


def save_checkpoint(model, path, history: History | None = None, **extra) -> None:
    """Save ``model`` (and optionally its training history) atomically to ``path``."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "vaelab_version": __version__,
        "model_class": type(model).__name__,
        "model_config": dict(getattr(model, "config", {})),
        "model_state": model.state_dict(),
        "history": (history or History()).as_dict(),
        "epoch": len(history) if history is not None else 0,
        **extra,
    }
    _atomic_save(state, Path(path))


def load_checkpoint(path, model=None) -> Checkpoint:
    """Load a checkpoint (with ``torch.load(weights_only=True)``: no code runs from the file).

    With ``model`` given, the saved parameters are loaded into it after checking that the checkpoint belongs to the
    same kind of model.  Without it, a ``VAE`` is rebuilt from the saved configuration (models with custom
    encoder/decoder modules must be passed in).
    """
    path = Path(path)
    state = _read_checkpoint(path)
    if model is None:
        from .models import VAE  # the only model that can be rebuilt from its configuration alone

        config = dict(state["model_config"])
        custom = config.get("encoder") or config.get("decoder") or config.get("prior", "StandardNormal") != "StandardNormal"
        if state["model_class"] != "VAE" or custom:
            raise ValueError(
                f"The checkpoint {path} holds a {state['model_class']} with custom parts ({config}); build the "
                "model yourself and pass it: load_checkpoint(path, model=...)."
            )
        config.pop("prior", None)
        config.pop("encoder", None)
        config.pop("decoder", None)
        model = VAE(**config)
    _check_same_model(model, state, path)
    model.load_state_dict(state["model_state"])
    return Checkpoint(model, History.from_dict(state["history"]), int(state["epoch"]))


# --------------------------------------------------------------------------------------------------------------
# watching the latent space during training
# --------------------------------------------------------------------------------------------------------------
class LatentRecorder:
    """A ``fit`` callback that keeps one sample z ~ q(z|x) of each example of ``data`` every ``every`` epochs.

    The noise ε of z = μ + σ ⊙ ε is the same at every epoch (drawn from its own generator, so training's random
    stream is untouched): between frames, the points move only because the encoder changed.  Call it once with
    ``recorder(0, None, model)`` before ``fit`` to keep the untrained state too.  ``run()`` returns what
    :func:`vaelab.widgets.latent_explorer` takes: ``{"epochs", "z" [frames, N, z_dim], "labels"}``.
    """

    def __init__(self, data, every: int = 1, seed: int = 0):
        _check_size(every, "every (epochs between recordings)")
        self.data, self.every, self.seed = data, every, seed
        self.epochs: list[int] = []
        self.z: list[torch.Tensor] = []

    @torch.no_grad()
    def __call__(self, epoch: int, history, model) -> None:
        if epoch % self.every:
            return
        x = evaluate.prepare(model, self.data, self.seed)
        with evaluate._eval_mode(model):
            mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(self.seed)).to(mu)
        self.epochs.append(epoch)
        self.z.append((mu + torch.exp(0.5 * logvar) * eps).cpu())

    def run(self) -> dict:
        labels = getattr(self.data, "labels", None)
        return {"epochs": list(self.epochs), "z": torch.stack(self.z).numpy(),
                "labels": None if labels is None else labels.cpu().numpy()}


# --------------------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------------------
def resolve_device(device="auto") -> torch.device:
    """``"auto"`` is CUDA when present, else the CPU; anything ``torch.device`` accepts otherwise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for, but this machine has no CUDA GPU; use device='auto'.")
    return device


def _check_number(value, what: str, low: float, allow_equal: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= low if allow_equal else value > low)
    if not ok:
        bound = f">= {low}" if allow_equal else f"> {low}"
        raise ValueError(f"{what} must be a finite number {bound}, got {value!r}.")
    return float(value)


PRECISIONS = ("float32", "bfloat16")


def _networks_at(precision: str, model, device: torch.device):
    """The context in which a training step runs the model's networks at ``precision`` (see :func:`fit`)."""
    if precision not in PRECISIONS:
        hint = " float16 needs loss scaling, which fit does not do; use 'bfloat16'." if precision == "float16" else ""
        raise ValueError(f"precision must be 'float32' or 'bfloat16', got {precision!r}.{hint}")
    if precision == "float32":
        return contextlib.nullcontext()
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"This GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 arithmetic: use "
                         "precision='float32'.")
    return _Bfloat16Networks(model, device)


class _Bfloat16Networks:
    """Runs the model's encoder and decoder under ``torch.autocast`` in bfloat16 and hands their outputs back in
    float32, so that every formula of the loss (log-densities, KL, MMD, batch covariances, whose expanded squares
    would lose digits in bfloat16's 8-bit mantissa) stays float32; parameters and optimizer are float32 throughout."""

    def __init__(self, model, device: torch.device):
        self.networks = [model.encoder, model.decoder]
        self.device_type = device.type
        for name, net in zip(("encoder", "decoder"), self.networks):
            if not isinstance(net, torch.nn.Module):
                raise ValueError(f"precision='bfloat16' needs the model's {name} to be a torch.nn.Module; it is a "
                                 f"{type(net).__name__}. Use precision='float32'.")

    def __enter__(self):
        self.saved = [net.__dict__.get("forward") for net in self.networks]
        for net in self.networks:
            net.forward = self._wrap(net.forward)

    def _wrap(self, forward):
        def forward_in_bfloat16(*args, **kwargs):
            with torch.autocast(self.device_type, dtype=torch.bfloat16):
                return forward(*args, **kwargs).float()
        return forward_in_bfloat16

    def __exit__(self, *exc):
        for net, saved in zip(self.networks, self.saved):
            del net.forward  # the instance attribute set in __enter__
            if saved is not None:
                net.forward = saved


def make_optimizer(params, lr: float) -> torch.optim.Optimizer:
    """Adam over a module's (or an iterable's) parameters, fused into one kernel where torch supports it.

    The fused step computes the same update in fewer passes over memory: on two CPU cores it made a whole training
    epoch of the chapter-1 VAE about 20 % faster than the default (``foreach``) implementation (benchmarks/).
    """
    params = list(params.parameters() if isinstance(params, torch.nn.Module) else params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # older torch, or parameters of a device/dtype it cannot fuse
        return torch.optim.Adam(params, lr=lr)


def _discriminator(model):
    """The part of the model's prior that trains on its own objective (the implicit prior's T_ψ), or None."""
    prior = getattr(model, "prior", None)
    return prior if hasattr(prior, "discriminator_loss") else None


def _discriminator_step(model, prior, optimizer, x: torch.Tensor) -> torch.Tensor:
    """One update of the prior's discriminator on encoder samples z ~ q(z|x) of the batch ``x`` (chapter 4)."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar)
    loss = prior.discriminator_loss(z)
    optimizer.zero_grad(set_to_none=True)  # also drops the gradients the VAE's loss left on T_ψ
    loss.backward()
    optimizer.step()
    return loss.detach()


def kl_weight_at(step: int, kl_weight: float, warmup_steps: int) -> float:
    """λ at training step ``step`` (1, 2, ...): a linear warm-up from 0 to ``kl_weight`` over ``warmup_steps``
    steps, then constant (Bowman et al., 2016; Sønderby et al., 2016; chapter 2)."""
    return kl_weight if warmup_steps == 0 else kl_weight * min(1.0, step / warmup_steps)


def _rng_state(generator: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(generator: torch.Generator, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def lr_at(epoch: int, lr: float, decay_every: int, decay: float) -> float:
    """The learning rate of (0-based) ``epoch`` under a step decay: ``lr · decay^⌊epoch / decay_every⌋``.

    Dai & Wipf's two-stage VAE halves it every 150 epochs in stage 1 and every 300 in stage 2; ``decay_every=0``
    keeps it constant.
    """
    return lr if decay_every == 0 else lr * decay ** (epoch // decay_every)


def _bad_step_message(stats: torch.Tensor, epoch: int, checkpoint: Path | None, lr: float) -> str:
    """Name the first step whose loss was NaN or infinite, and the term that went bad."""
    bad_rows = (~torch.isfinite(stats)).any(1).nonzero()
    step = int(bad_rows[0])
    _, recon, kl, _ = stats[step].tolist()
    bad = [f"the {name} became {value}" for name, value in
           (("reconstruction term E_q[log p(x|z)]", recon), ("KL term", kl)) if not math.isfinite(value)]
    term = " and ".join(bad) or "the loss became non-finite although both of its terms are finite"
    saved = f" The checkpoint {checkpoint} still holds the last good epoch." if checkpoint else ""
    return (
        f"Training diverged at epoch {epoch}, step {step + 1} of {len(stats)}: {term}. Try a smaller learning rate "
        f"(lr={lr:g} now), check the data, or for a Gaussian decoder a larger variance γ.{saved}"
    )


def fit(
    model,
    train,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    *,
    test=None,
    kl_weight: float = 1.0,
    warmup: int = 0,
    lr_decay_every: int = 0,
    lr_decay: float = 0.5,
    device="auto",
    binarize: str = "auto",
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    callback: Callable | None = None,
    progress: bool = True,
    eval_batch_size: int = 1000,
    precision: str = "float32",
) -> History:
    """Train ``model`` on ``train`` with Adam and return the per-epoch :class:`History`.

    Args:
        model: a ``vaelab`` model (e.g. :class:`vaelab.VAE`); moved to ``device`` in place.
        train: tensor ``[N, x_dim]`` (as returned by :func:`vaelab.load`), or :class:`vaelab.data.LatentCodes`
            (codes z ~ q(z|x) of a first model, redrawn every epoch: the two-stage VAE's second stage).
        epochs, batch_size, lr: the budget; batches are drawn by a fresh random permutation every epoch.
        seed: seeds every random draw of training, so a CPU run is repeatable to the last bit.
        test: optional data evaluated (ELBO and its parts) after every epoch.
        kl_weight: λ in the loss −(E_q[log p(x|z)] − λ·KL); 1 is the ELBO.
        warmup: epochs over which λ grows linearly from 0 to ``kl_weight``, step by step (0: no warm-up).
        lr_decay_every, lr_decay: a step decay of the model's learning rate, ``lr · lr_decay^⌊epoch /
            lr_decay_every⌋`` (:func:`lr_at`); 0 (the default) keeps ``lr`` constant.  A prior's discriminator keeps
            its own rate.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ...
        binarize: ``"auto"`` follows the data's ``binarize`` mark; ``"dynamic"`` draws fresh Bernoulli pixels every
            epoch; ``"none"`` trains on the values as they are.
        checkpoint: a file written atomically after every epoch.  If it exists and ``resume`` is true, training
            resumes from it (and ends exactly as an uninterrupted run would, on CPU); with ``resume=False`` an
            existing file is an error rather than being overwritten.
        callback: ``callback(epoch, history, model)`` after every epoch; return ``True`` to stop training.
        progress: show a tqdm progress bar (in notebooks and terminals).
        precision: ``"float32"``, or ``"bfloat16"`` to run the encoder and decoder networks under
            ``torch.autocast`` in bfloat16 during training steps; their outputs come back as float32, so every
            formula of the loss, the parameters, the optimizer and every evaluation stay float32.  It is faster
            only where the hardware has bfloat16 arithmetic (CPUs with AVX512-BF16 or AMX, NVIDIA Ampere or
            newer): about 1.5× per epoch for the chapter-1 VAE on two AVX512-BF16 cores, with the same test ELBO
            (benchmarks/results/profile_cpu.md).  float16 is not offered: it needs loss scaling.
    """
    # ---- check the arguments before any work --------------------------------------------------------------
    device = resolve_device(device)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}.")
    lr = _check_number(lr, "lr (the learning rate)", 0, allow_equal=False)
    kl_weight = _check_number(kl_weight, "kl_weight (λ)", 0, allow_equal=True)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer number of epochs >= 0 (0: no warm-up), got {warmup!r}.")
    if isinstance(lr_decay_every, bool) or not isinstance(lr_decay_every, int) or lr_decay_every < 0:
        raise ValueError(
            "lr_decay_every must be an integer number of epochs >= 0 (0: a constant learning rate), got "
            f"{lr_decay_every!r}."
        )
    lr_decay = _check_number(lr_decay, "lr_decay (the factor of each learning-rate step)", 0, allow_equal=False)
    if lr_decay > 1:
        raise ValueError(
            f"lr_decay multiplies the learning rate every lr_decay_every epochs: it must be in (0, 1], got {lr_decay!r}."
        )
    if binarize not in ("auto", "dynamic", "none"):
        raise ValueError(f"binarize must be 'auto', 'dynamic' or 'none', got {binarize!r}.")
    dynamic = binarize == "dynamic" or (binarize == "auto" and getattr(train, "binarize", None) == "dynamic")
    codes = train if isinstance(train, LatentCodes) else None  # redrawn z ~ q(z|x) every epoch
    x_train = model.check_data(train.mu if codes is not None else train)
    n = len(x_train)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(
            f"batch_size must be an integer between 1 and the number of training examples ({n}), got {batch_size!r}."
        )
    _check_size(eval_batch_size, "eval_batch_size")
    networks_at_precision = _networks_at(precision, model, device)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    settings = {"batch_size": batch_size, "lr": lr, "seed": seed, "kl_weight": kl_weight, "warmup": warmup,
                "lr_decay_every": lr_decay_every, "lr_decay": lr_decay, "dynamic": dynamic, "n_train": n,
                "train_sum": float(x_train.double().sum()), "precision": precision}
    if codes is not None:
        settings["codes_logvar_sum"] = float(codes.logvar.double().sum())

    # ---- set up: everything on the device, one generator for data order and binarization ------------------
    model.to(device)
    x_train = x_train.to(device)
    codes = codes.to(device) if codes is not None else None
    x_test = evaluate.prepare(model, test, seed) if test is not None else None  # validated, on the device, once
    prior = _discriminator(model)  # trained alternately with the model, by its own optimizer
    own = {id(p) for p in prior.discriminator.parameters()} if prior is not None else set()
    optimizer = make_optimizer([p for p in model.parameters() if id(p) not in own], lr)
    disc_optimizer = make_optimizer(prior.discriminator.parameters(), prior.lr) if prior is not None else None
    generator = torch.Generator(device=device)
    history = History()
    if checkpoint is not None and checkpoint.exists():
        if not resume:
            raise FileExistsError(
                f"The checkpoint {checkpoint} exists and resume=False: refusing to overwrite it. Delete it, choose "
                "another path, or pass resume=True to continue that run."
            )
        state = _read_checkpoint(checkpoint)
        _check_same_model(model, state, checkpoint)
        if "fit_settings" not in state:
            raise ValueError(
                f"The checkpoint {checkpoint} holds a saved model (save_checkpoint), not a training run that fit can "
                "resume. Load it with load_checkpoint(path, model=...) and give fit another checkpoint path."
            )
        # runs saved before these settings existed were float32, at a constant learning rate
        saved = {"precision": "float32", "lr_decay_every": 0, "lr_decay": 0.5, **state["fit_settings"]}
        changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        if changed:
            listing = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
            raise ValueError(
                f"The checkpoint {checkpoint} was written by a run with other settings ({listing}); resuming would mix "
                "two runs. Use another checkpoint path, or delete it to start afresh."
            )
        if state["epoch"] > epochs:
            raise ValueError(f"The checkpoint {checkpoint} already has {state['epoch']} epochs, more than epochs={epochs}.")
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        if disc_optimizer is not None:
            disc_optimizer.load_state_dict(state["discriminator_optimizer_state"])
        history = History.from_dict(state["history"])
        _set_rng_state(generator, state["rng"])
    else:
        torch.manual_seed(seed)
        generator.manual_seed(seed)
    start = len(history)

    # ---- the loop ------------------------------------------------------------------------------------------
    steps = math.ceil(n / batch_size)
    warmup_steps = warmup * steps
    disc_every_batch = prior is not None and prior.every == "batch"
    sizes = torch.tensor([min(batch_size, n - i * batch_size) for i in range(steps)], dtype=torch.float64)
    bar = tqdm(range(start, epochs), initial=start, total=epochs, disable=not progress, desc=f"{type(model).__name__}",
               unit="epoch", dynamic_ncols=True)
    for epoch in bar:
        began = time.perf_counter()
        model.train()
        epoch_lr = lr_at(epoch, lr, lr_decay_every, lr_decay)
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr
        if codes is not None:
            x_epoch = codes.draw(generator)
        else:
            x_epoch = torch.bernoulli(x_train, generator=generator) if dynamic else x_train
        order = torch.randperm(n, device=device, generator=generator)
        stats = torch.zeros(steps, 4, device=device)  # loss, recon, kl, divergence of every step, kept on the device
        has_divergence = False
        disc_losses = []
        for step, index in enumerate(order.split(batch_size)):
            lam = kl_weight_at(epoch * steps + step + 1, kl_weight, warmup_steps)
            with networks_at_precision:
                out = model.loss(x_epoch[index], kl_weight=lam)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            has_divergence = out.divergence is not None
            stats[step] = torch.stack(out if has_divergence else (*out[:3], out.loss.new_zeros(()))).detach()
            if disc_every_batch:
                for _ in range(prior.steps):
                    disc_losses.append(_discriminator_step(model, prior, disc_optimizer, x_epoch[index]))
        if prior is not None and not disc_every_batch:  # `steps` discriminator epochs after the model's epoch
            for _ in range(prior.steps):
                disc_order = torch.randperm(n, device=device, generator=generator)
                for index in disc_order.split(batch_size):
                    disc_losses.append(_discriminator_step(model, prior, disc_optimizer, x_epoch[index]))
        stats = stats.cpu().double()  # the epoch's one transfer to the host
        disc_loss = float(torch.stack(disc_losses).mean()) if disc_losses else None
        seconds = time.perf_counter() - began
        if not torch.isfinite(stats).all():
            bar.close()
            raise NonFiniteLossError(_bad_step_message(stats, epoch + 1, checkpoint, epoch_lr))
        if disc_loss is not None and not math.isfinite(disc_loss):
            bar.close()
            raise NonFiniteLossError(
                f"The prior's discriminator loss became {disc_loss} at epoch {epoch + 1}. Try a smaller learning "
                f"rate for it (ImplicitPrior(lr=...), {prior.lr:g} now)."
            )
        loss, recon, kl, divergence = ((stats * sizes[:, None]).sum(0) / n).tolist()
        history.epoch.append(epoch + 1)
        history.train_loss.append(loss)
        history.train_recon.append(recon)
        history.train_kl.append(kl)
        history.train_elbo.append(recon - kl)
        if has_divergence:
            history.train_divergence.append(divergence)
        history.kl_weight.append(lam)
        history.lr.append(epoch_lr)
        if disc_loss is not None:
            history.discriminator_loss.append(disc_loss)
        history.seconds.append(seconds)
        if test is not None:
            parts = evaluate.prepared_elbo_parts(model, x_test, batch_size=eval_batch_size, seed=seed)
            history.test_elbo.append(parts["elbo"])
            history.test_recon.append(parts["recon"])
            history.test_kl.append(parts["kl"])
        if checkpoint is not None:
            extra = {} if disc_optimizer is None else {"discriminator_optimizer_state": disc_optimizer.state_dict()}
            save_checkpoint(model, checkpoint, history, optimizer_state=optimizer.state_dict(),
                            rng=_rng_state(generator), fit_settings=settings, **extra)
        postfix = {"train ELBO": f"{history.train_elbo[-1]:.2f}"}
        if test is not None:
            postfix["test ELBO"] = f"{history.test_elbo[-1]:.2f}"
        bar.set_postfix(postfix, refresh=False)
        if callback is not None and callback(epoch + 1, history, model) is True:
            break
    bar.close()
    model.eval()
    return history
