"""Training: ``fit()``.

Every epoch, for every batch of B examples, one Adam step on the model's loss

    −(1/B) Σ_i [ E_q(z|x_i)[log p(x_i|z)] − λ_t KL(q(z|x_i) || p(z)) ]  (+ the model's own penalties)    (eqs. 1.3, 2.1)

with λ_t the KL weight of a warm-up (eq. 2.3); then the prior's training hook (the implicit prior trains its density
ratio there, chapter 4); after the epoch, the test ELBO, a checkpoint and the callback.

The loop is written for speed on small models, where overhead, not arithmetic, dominates: the whole data set lives
on the device, batches are drawn by a random permutation of indices, dynamic binarization redraws all pixels once
per epoch, and the per-step losses stay on the device until one transfer at the end of the epoch.  What a run
leaves behind (its ``History`` and checkpoints) is in ``vaelab.checkpoints``.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import evaluate
from .checkpoints import (
    Checkpoint,
    History,
    check_same_model,
    exclusive,
    load_checkpoint,
    nonfinite,
    optimizer_tensors,
    read_checkpoint,
    remove_stale_temporaries,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .checks import choice, nonnegative_int, number, optional_callable, path, positive_int, random_seed
from .data import LatentCodes
from .models import PRECISIONS, VAE

__all__ = ["fit", "NonFiniteLossError", "History", "Checkpoint", "save_checkpoint", "load_checkpoint",
           "resolve_device", "kl_weight_at", "lr_at", "make_optimizer", "PRECISIONS"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message names the epoch, the step and the term."""


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` is CUDA when present, else the CPU; anything ``torch.device`` accepts otherwise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for, but this machine has no CUDA GPU; use device='auto'.")
    return device


def kl_weight_at(step: int, kl_weight: float, warmup_steps: int) -> float:
    """λ at training step ``step`` (1, 2, ...): a linear warm-up from 0 to ``kl_weight`` over ``warmup_steps``
    steps, then constant (Bowman et al., 2016; Sønderby et al., 2016; chapter 2, eq. 2.3)."""
    return kl_weight if warmup_steps == 0 else kl_weight * min(1.0, step / warmup_steps)


def lr_at(epoch: int, lr: float, decay_every: int, decay: float) -> float:
    """The learning rate of (0-based) ``epoch`` under a step decay: ``lr · decay^⌊epoch / decay_every⌋``.

    Dai & Wipf's two-stage VAE halves it every 150 epochs in stage 1 and every 300 in stage 2; ``decay_every=0``
    keeps it constant.
    """
    return lr if decay_every == 0 else lr * decay ** (epoch // decay_every)


def make_optimizer(params, lr: float) -> torch.optim.Optimizer:
    """Adam over a module's (or an iterable's) parameters, fused into one kernel where torch supports it.

    The fused step computes the same update in fewer passes over memory: on two CPU cores it made a whole training
    epoch of the chapter-1 VAE about 20 % faster than the default (``foreach``) implementation (benchmarks/).
    """
    params = list(params.parameters() if isinstance(params, torch.nn.Module) else params)  # or parameter groups
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # older torch, or parameters of a device/dtype it cannot fuse
        return torch.optim.Adam(params, lr=lr)


# --------------------------------------------------------------------------------------------------------------
# the arguments, checked before any work
# --------------------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """One ``fit`` call's checked arguments and its data on the device."""

    epochs: int
    batch_size: int
    lr: float
    seed: int
    kl_weight: float
    warmup: int
    lr_decay_every: int
    lr_decay: float
    dynamic: bool
    precision: str
    device: torch.device
    x_train: torch.Tensor  # the training data, or the codes' μ for LatentCodes
    codes: LatentCodes | None
    checkpoint: Path | None
    eval_batch_size: int
    checkpoint_every: int = 1

    @property
    def n(self) -> int:
        return len(self.x_train)

    @functools.cached_property
    def settings(self) -> dict:
        """What a checkpoint records so that a resumed run can refuse to mix two runs (computed once: it sums the
        training data, which costs as much as a few training steps)."""
        settings = {"batch_size": self.batch_size, "lr": self.lr, "seed": self.seed, "kl_weight": self.kl_weight,
                    "warmup": self.warmup, "lr_decay_every": self.lr_decay_every, "lr_decay": self.lr_decay,
                    "dynamic": self.dynamic, "n_train": self.n, "train_sum": float(self.x_train.double().sum()),
                    "precision": self.precision}
        if self.codes is not None:
            settings["codes_logvar_sum"] = float(self.codes.logvar.double().sum())
        return settings


def _check_arguments(model, train, epochs, batch_size, lr, seed, test, kl_weight, warmup, lr_decay_every, lr_decay,
                     device, binarize, checkpoint, eval_batch_size, precision, checkpoint_every=1) -> _Run:
    if not isinstance(model, VAE):
        raise TypeError(f"fit trains vaelab models (vl.VAE and its subclasses: InfoVAE, WAE, HEBAE, ...), got "
                        f"{type(model).__name__}.")
    device = resolve_device(device)
    epochs = nonnegative_int(epochs, "epochs")
    seed = random_seed(seed)
    if checkpoint is not None:
        checkpoint = path(checkpoint, "checkpoint", "It is the file fit writes after every epoch.")
        if checkpoint.is_dir():
            raise IsADirectoryError(
                f"checkpoint must name a file, but {checkpoint} is a folder: pass e.g. {checkpoint / 'run.pt'}."
            )
    lr = number(lr, "lr (the learning rate)", low=0, low_open=True)
    kl_weight = number(kl_weight, "kl_weight (λ)", low=0)
    warmup = nonnegative_int(warmup, "warmup", hint="It is a number of epochs (0: no warm-up).")
    lr_decay_every = nonnegative_int(lr_decay_every, "lr_decay_every",
                                     hint="It is a number of epochs (0: a constant learning rate).")
    lr_decay = number(lr_decay, "lr_decay (the factor of each learning-rate step)", low=0, low_open=True, high=1)
    choice(binarize, "binarize", ("auto", "dynamic", "none"))
    choice(precision, "precision", PRECISIONS,
           hint="float16 needs loss scaling, which fit does not do; use 'bfloat16'." if precision == "float16" else "")
    if precision == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"This GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 arithmetic: use "
                         "precision='float32'.")
    eval_batch_size = positive_int(eval_batch_size, "eval_batch_size")
    checkpoint_every = positive_int(checkpoint_every, "checkpoint_every", hint="It is a number of epochs.")
    dynamic = binarize == "dynamic" or (binarize == "auto" and getattr(train, "binarize", None) == "dynamic")
    codes = train if isinstance(train, LatentCodes) else None  # redrawn z ~ q(z|x) every epoch
    x_train = model.check_data(train.mu if codes is not None else train)
    n = len(x_train)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(
            f"batch_size must be an integer between 1 and the number of training examples ({n}), got {batch_size!r}."
        )
    return _Run(epochs, batch_size, lr, seed, kl_weight, warmup, lr_decay_every, lr_decay, dynamic, precision,
                device, x_train, codes, checkpoint, eval_batch_size, checkpoint_every)


def _resume(run: _Run, model, optimizer, aux_optimizer, generator: torch.Generator, resume: bool) -> History:
    """The history of the run saved at ``run.checkpoint``, with model, optimizers and random state restored; or an
    empty history and freshly seeded random streams when there is nothing to resume."""
    path = run.checkpoint
    if path is None or not path.exists():
        torch.manual_seed(run.seed)
        generator.manual_seed(run.seed)
        return History()
    if not resume:
        raise FileExistsError(
            f"The checkpoint {path} exists and resume=False: refusing to overwrite it. Delete it, choose another "
            "path, or pass resume=True to continue that run."
        )
    state = read_checkpoint(path)
    check_same_model(model, state, path)
    if "fit_settings" not in state:
        raise ValueError(
            f"The checkpoint {path} holds a saved model (save_checkpoint), not a training run that fit can resume. "
            "Load it with load_checkpoint(path, model=...) and give fit another checkpoint path."
        )
    # runs saved before these settings existed were float32, at a constant learning rate
    saved = {"precision": "float32", "lr_decay_every": 0, "lr_decay": 0.5, **state["fit_settings"]}
    changed = {k: (saved.get(k), v) for k, v in run.settings.items() if saved.get(k) != v}
    if changed:
        listing = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in changed.items())
        raise ValueError(
            f"The checkpoint {path} was written by a run with other settings ({listing}); resuming would mix two "
            "runs. Use another checkpoint path, or delete it to start afresh."
        )
    if state["epoch"] > run.epochs:
        raise ValueError(f"The checkpoint {path} already has {state['epoch']} epochs, more than epochs={run.epochs}.")
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer_state"])
    if aux_optimizer is not None:
        aux_optimizer.load_state_dict(state["auxiliary_optimizer_state" if "auxiliary_optimizer_state" in state
                                            else "discriminator_optimizer_state"])
    set_rng_state(generator, state["rng"])
    return History.from_dict(state["history"])


def _check_callbacks(callback, callbacks) -> list:
    """``callback`` and ``callbacks`` as one list, each checked to be callable before any work."""
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(f"callbacks must be a list of functions, got {type(callbacks).__name__}; for one function "
                        "use callback=... or callbacks=[...].")
    out = [optional_callable(callback, "callback", "It is called as callback(epoch, history, model) after every "
                             "epoch.")]
    for i, c in enumerate(callbacks):
        out.append(optional_callable(c, f"callbacks[{i}]", "Each is called as c(epoch, history, model)."))
    return [c for c in out if c is not None]


def show_progress(progress: bool | None) -> bool:
    """Whether to show a progress bar: ``progress`` if given, else on unless ``TQDM_DISABLE`` is set (to anything
    but 0 or false), the environment variable that silences every vaelab bar."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("", "0", "false", "no")


def _saved_message(checkpoint: Path | None, saved_epoch: int | None) -> str:
    """What the checkpoint holds after a failed epoch (nothing of that epoch is ever written)."""
    if checkpoint is None:
        return ""
    if saved_epoch is None:
        return f" No checkpoint was written: {checkpoint} does not exist yet."
    return f" The checkpoint {checkpoint} holds epoch {saved_epoch}, the last one saved, with finite weights."


def _bad_step_message(stats: torch.Tensor, names: list[str], epoch: int, lr: float, saved: str) -> str:
    """Name the first step whose loss was NaN or infinite, and the term that went bad."""
    step = int((~torch.isfinite(stats)).any(1).nonzero()[0])
    values = dict(zip(names, stats[step].tolist(), strict=True))
    described = {"recon": "reconstruction term E_q[log p(x|z)]", "kl": "KL term"}
    bad = [f"the {described.get(name, f'penalty {name!r}')} became {value}" for name, value in values.items()
           if name != "loss" and not math.isfinite(value)]
    term = " and ".join(bad) or "the loss became non-finite although all of its terms are finite"
    return (
        f"Training diverged at epoch {epoch}, step {step + 1} of {len(stats)}: {term}. Try a smaller learning rate "
        f"(lr={lr:g} now), check the data, or for a Gaussian decoder a larger variance γ.{saved}"
    )


def _nonfinite_state(model, optimizer, aux_optimizer) -> list[str]:
    """The parameters, buffers and optimizer states that hold a NaN or an infinity (checked before every save)."""
    tensors = [*model.named_parameters(), *model.named_buffers(), *optimizer_tensors(optimizer)]
    if aux_optimizer is not None:
        tensors += list(optimizer_tensors(aux_optimizer, "auxiliary optimizer"))
    return nonfinite(tensors)


# --------------------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------------------
def _save(run: _Run, model, history: History, optimizer, aux_optimizer, generator: torch.Generator) -> None:
    """Write the run's checkpoint (when it has one): model, history, optimizers and random state."""
    if run.checkpoint is None:
        return
    extra = {} if aux_optimizer is None else {"auxiliary_optimizer_state": aux_optimizer.state_dict()}
    save_checkpoint(model, run.checkpoint, history, optimizer_state=optimizer.state_dict(), rng=rng_state(generator),
                    fit_settings=run.settings, **extra)


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
    checkpoint_every: int = 1,
    resume: bool = True,
    callback: Callable | None = None,
    callbacks: Sequence[Callable] = (),
    progress: bool | None = None,
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
            lr_decay_every⌋`` (:func:`lr_at`); 0 (the default) keeps ``lr`` constant.  A prior's auxiliary network
            keeps its own rate.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ...
        binarize: ``"auto"`` follows the data's ``binarize`` mark; ``"dynamic"`` draws fresh Bernoulli pixels every
            epoch; ``"none"`` trains on the values as they are.
        checkpoint: a file written atomically after every epoch, only when every parameter and optimizer state is
            finite (a diverged epoch is never saved).  If it exists and ``resume`` is true, training resumes from it
            (and ends exactly as an uninterrupted run would, on CPU); with ``resume=False`` an existing file is an
            error rather than being overwritten.  While training, ``fit`` holds the lock file ``<checkpoint>.lock``:
            a second run on the same path is refused before it starts.
        checkpoint_every: write the checkpoint every this many epochs instead (and always after the last epoch,
            and when ``callback`` stops training): for runs whose epochs take a fraction of a second, where writing
            the file would cost more than the epochs an interruption could lose.
        callback: ``callback(epoch, history, model)`` after every epoch; return ``True`` to stop training.  It runs
            on a copy of the global random state, so random draws in it (``model.sample(4)`` for a figure) change
            neither training nor a resumed run.
        callbacks: more of them, called in order after ``callback`` (``vaelab.callbacks``: ``CSVLogger``,
            ``TensorBoardLogger``, ``EarlyStopping``, ``LatentRecorder``); training stops when any returns ``True``.
        progress: show a tqdm progress bar (in notebooks and terminals); by default shown unless the environment
            sets ``TQDM_DISABLE=1``.
        precision: ``"float32"``, or ``"bfloat16"`` to run the encoder and decoder networks in bfloat16 during
            training steps (:meth:`vaelab.VAE.network_precision`); every formula of the loss, the parameters, the
            optimizer and every evaluation stay float32.  It is faster only where the hardware has bfloat16
            arithmetic (CPUs with AVX512-BF16 or AMX, NVIDIA Ampere or newer): about 1.5× per epoch for the chapter-1
            VAE on two AVX512-BF16 cores, with the same test ELBO (benchmarks/results/profile_cpu.md).  float16 is
            not offered: it needs loss scaling.
    """
    run = _check_arguments(model, train, epochs, batch_size, lr, seed, test, kl_weight, warmup, lr_decay_every,
                           lr_decay, device, binarize, checkpoint, eval_batch_size, precision, checkpoint_every)
    callbacks = _check_callbacks(callback, callbacks)
    progress = show_progress(progress)
    if test is not None:
        model.check_data(test)  # before any work (fit prepares it on the device below)
    if run.checkpoint is None:
        return _train(run, model, test, resume, callbacks, progress)
    with exclusive(run.checkpoint):  # no second run writes this checkpoint; its folder is writable
        remove_stale_temporaries(run.checkpoint)  # left by a run killed while it saved
        return _train(run, model, test, resume, callbacks, progress)


def _train(run: _Run, model, test, resume: bool, callbacks: list, progress: bool) -> History:
    device = run.device
    seed = run.seed

    # ---- set up: everything on the device, one generator for data order and binarization ------------------
    model.to(device)
    x_train = run.x_train.to(device)
    codes = run.codes.to(device) if run.codes is not None else None
    x_test = evaluate.prepare(model, test, seed) if test is not None else None  # on the device, once
    prior = model.prior
    auxiliary = prior.auxiliary_parameters()  # trained by the prior's hooks, not by the loss
    optimizer = make_optimizer(model.parameter_groups(run.lr, exclude=auxiliary), run.lr)
    aux_optimizer = make_optimizer(prior.auxiliary_parameters(), prior.auxiliary_lr) if auxiliary else None
    generator = torch.Generator(device=device)
    history = _resume(run, model, optimizer, aux_optimizer, generator, resume)
    saved_epoch = len(history) if run.checkpoint is not None and run.checkpoint.exists() else None

    # ---- the loop ------------------------------------------------------------------------------------------
    n = run.n
    steps = math.ceil(n / run.batch_size)
    sizes = torch.tensor([min(run.batch_size, n - i * run.batch_size) for i in range(steps)], dtype=torch.float64)
    bar = tqdm(range(len(history), run.epochs), initial=len(history), total=run.epochs, disable=not progress,
               desc=type(model).__name__, unit="epoch", dynamic_ncols=True)
    for epoch in bar:
        began = time.perf_counter()
        model.train()
        epoch_lr = lr_at(epoch, run.lr, run.lr_decay_every, run.lr_decay)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch, group["base_lr"], run.lr_decay_every, run.lr_decay)
        if codes is not None:
            x_epoch = codes.draw(generator)
        else:
            x_epoch = torch.bernoulli(x_train, generator=generator) if run.dynamic else x_train
        order = torch.randperm(n, device=device, generator=generator)
        stats, names = None, None  # loss, recon, kl and each named penalty of every step, kept on the device
        hook_stats: dict[str, list[torch.Tensor]] = {}
        for step, index in enumerate(order.split(run.batch_size)):
            lam = kl_weight_at(epoch * steps + step + 1, run.kl_weight, run.warmup * steps)  # λ_t (eq. 2.3)
            with model.network_precision(run.precision):
                out = model.loss(x_epoch[index], kl_weight=lam)  # −(E_q log p(x|z) − λ_t KL) + penalties
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            if stats is None:
                names = ["loss", "recon", "kl", *out.penalties]
                stats = torch.zeros(steps, len(names), device=device)
            stats[step] = torch.stack((out.loss, out.recon, out.kl, *out.penalties.values())).detach()
            for name, value in prior.after_step(model, x_epoch[index], aux_optimizer).items():
                hook_stats.setdefault(name, []).append(value.reshape(-1))
        for name, value in prior.after_epoch(model, x_epoch, aux_optimizer, run.batch_size, generator).items():
            hook_stats.setdefault(name, []).append(value.reshape(-1))
        stats = stats.cpu().double()  # the epoch's one transfer to the host
        hook_means = {name: float(torch.cat(values).mean()) for name, values in hook_stats.items()}
        seconds = time.perf_counter() - began
        if not torch.isfinite(stats).all():
            bar.close()
            raise NonFiniteLossError(_bad_step_message(stats, names, epoch + 1, epoch_lr,
                                                       _saved_message(run.checkpoint, saved_epoch)))
        bad_hook = {name: v for name, v in hook_means.items() if not math.isfinite(v)}
        if bad_hook:
            bar.close()
            raise NonFiniteLossError(
                f"The prior's training hook reported {bad_hook} at epoch {epoch + 1}. Try a smaller learning rate for "
                f"its auxiliary network ({type(prior).__name__}(lr=...), {prior.auxiliary_lr:g} now)."
            )
        bad_state = _nonfinite_state(model, optimizer, aux_optimizer)
        if bad_state:  # every loss was finite, but the last update was not: nothing of this epoch is kept
            bar.close()
            listing = ", ".join(bad_state[:4]) + (f" and {len(bad_state) - 4} more" if len(bad_state) > 4 else "")
            raise NonFiniteLossError(
                f"Training diverged at epoch {epoch + 1}: after its last step, NaN or infinite values appeared in "
                f"{listing}, although every loss of the epoch was finite. Try a smaller learning rate "
                f"(lr={epoch_lr:g} now) or check the data.{_saved_message(run.checkpoint, saved_epoch)}"
            )
        means = dict(zip(names, ((stats * sizes[:, None]).sum(0) / n).tolist(), strict=True))
        history.epoch.append(epoch + 1)
        history.train_loss.append(means["loss"])
        history.train_recon.append(means["recon"])
        history.train_kl.append(means["kl"])
        history.train_elbo.append(means["recon"] - means["kl"])
        for name in names[3:]:
            history.penalties.setdefault(name, []).append(means[name])
        for name, value in hook_means.items():
            history.auxiliary.setdefault(name, []).append(value)
        history.kl_weight.append(lam)
        history.lr.append(epoch_lr)
        history.seconds.append(seconds)
        if x_test is not None:
            parts = evaluate.prepared_elbo_parts(model, x_test, batch_size=run.eval_batch_size, seed=seed)
            history.test_elbo.append(parts["elbo"])
            history.test_recon.append(parts["recon"])
            history.test_kl.append(parts["kl"])
        saved = (epoch + 1) % run.checkpoint_every == 0 or epoch + 1 == run.epochs
        if saved:
            _save(run, model, history, optimizer, aux_optimizer, generator)
            saved_epoch = epoch + 1
        postfix = {"train ELBO": f"{history.train_elbo[-1]:.2f}"}
        if x_test is not None:
            postfix["test ELBO"] = f"{history.test_elbo[-1]:.2f}"
        bar.set_postfix(postfix, refresh=False)
        if callbacks:
            # callbacks draw from their own copy of the global random state (a figure's model.sample(4) must not
            # change training, nor make a resumed run differ from an uninterrupted one)
            with evaluate.own_random_state():
                stop = [c(epoch + 1, history, model) is True for c in callbacks]  # every one runs, every epoch
            if any(stop):
                if not saved:
                    _save(run, model, history, optimizer, aux_optimizer, generator)
                break
    bar.close()
    model.eval()
    return history
