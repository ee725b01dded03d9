"""What training leaves behind: the per-epoch :class:`History`, checkpoint files, and the random state that makes a
resumed run end exactly where an uninterrupted one would.

A checkpoint is a ``torch.save`` file written atomically (a temporary file, flushed, then renamed over the old one)
and read with ``torch.load(weights_only=True)``, so that no code runs from the file.  Before it is read, the CRC-32
checksums that the file's zip container stores for every member are verified, so a file damaged after it was
written (a flipped bit on disk or in a copy) is reported as damaged instead of loading wrong weights.  ``fit`` writes
one after every epoch with the optimizer and random states, only when every parameter and optimizer state is finite,
and holds a lock file beside it while it trains (:func:`exclusive`): two runs never write the same checkpoint.
``save_checkpoint`` writes a finished model.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import torch

from ._version import __version__
from .checks import path as _path

__all__ = ["History", "Checkpoint", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "vaelab-checkpoint/1"


@dataclass
class History:
    """Per-epoch training record (nats per example).  ``test_*`` stay empty when ``fit`` had no test set.

    ``recon`` is E_q[log p(x|z)], ``kl`` the KL term, ``elbo = recon − kl`` and ``loss`` the training loss
    (−(recon − λ·kl) for the VAE, plus each model's extra terms); ``train_*`` are averages over the epoch's batches,
    ``test_*`` are evaluated after the epoch.  ``penalties`` holds each named extra term of the loss by its name
    (e.g. ``"mmd2"`` for InfoVAE and the WAE, unweighted batch means); ``auxiliary`` the statistics a prior's training
    hooks return (e.g. ``"discriminator_loss"``, the implicit prior's logistic loss).  ``kl_weight`` is λ at the end
    of each epoch (it grows during a warm-up), ``lr`` the model's learning rate during each epoch (it falls under a
    step decay), ``seconds`` the training time of each epoch (test evaluation excluded).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_elbo: list[float] = field(default_factory=list)
    train_recon: list[float] = field(default_factory=list)
    train_kl: list[float] = field(default_factory=list)
    test_elbo: list[float] = field(default_factory=list)
    test_recon: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)
    kl_weight: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    penalties: dict[str, list[float]] = field(default_factory=dict)
    auxiliary: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def discriminator_loss(self) -> list[float]:
        """The implicit prior's discriminator loss per epoch (``auxiliary["discriminator_loss"]``), or ``[]``."""
        return self.auxiliary.get("discriminator_loss", [])

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        series = {f.name: list(d.get(f.name, [])) for f in fields(cls) if f.name not in ("penalties", "auxiliary")}
        penalties = {name: list(v) for name, v in dict(d.get("penalties", {})).items()}
        auxiliary = {name: list(v) for name, v in dict(d.get("auxiliary", {})).items()}
        # checkpoints written before named penalties: one "divergence" slot (MMD²) and a discriminator loss
        if d.get("train_divergence"):
            penalties.setdefault("mmd2", list(d["train_divergence"]))
        if d.get("discriminator_loss"):
            auxiliary.setdefault("discriminator_loss", list(d["discriminator_loss"]))
        return cls(**series, penalties=penalties, auxiliary=auxiliary)

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch with every recorded value (named penalties as ``train_<name>``); a series that was not
        recorded (no test set, no penalty) is absent, so every row has the same keys."""
        columns: dict[str, list] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "penalties":
                columns.update({f"train_{name}": v for name, v in value.items()})
            elif f.name == "auxiliary":
                columns.update(value)
            elif value:
                columns[f.name] = value
        kept = {name: v for name, v in columns.items() if len(v) == len(self)}
        return [{name: v[i] for name, v in kept.items()} for i in range(len(self))]

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write :meth:`rows` as a CSV file (one line per epoch), atomically, and return its path."""
        path = _path(path, "path (the CSV file)")
        rows = self.rows()
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["epoch"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())
        return path

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
# files
# --------------------------------------------------------------------------------------------------------------
def atomic_write(path: Path, write) -> None:
    """Call ``write(f)`` on a temporary binary file beside ``path``, flush it to disk, then rename it over ``path``:
    a reader sees the old file or the new one, never half of one, and a failed write leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`: never a half-written checkpoint."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text through :func:`atomic_write` (results.json, spec.json, a saved model's model.json)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


REQUIRED_KEYS = ("model_class", "model_config", "model_state", "history", "epoch")


def verify_integrity(path: Path) -> None:
    """Check the CRC-32 of every member of the checkpoint's zip container (``torch.save``'s format): a ValueError
    that calls the file damaged when a byte changed after it was written, or when it is not a complete zip file.

    ``torch.load`` itself never checks them.  Reading an 80 MB checkpoint's checksums takes about 25 ms.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as err:
        raise ValueError(
            f"The checkpoint {path} is damaged, truncated or not a vaelab checkpoint: it is not a complete "
            f"torch.save file ({err}). Delete it to start afresh, or restore it from a copy."
        ) from err
    if bad is not None:
        raise ValueError(
            f"The checkpoint {path} is damaged: its part {bad!r} no longer matches the checksum stored when it was "
            "written (a disk, copy or transfer error changed it). Restore it from a copy, or delete it to start "
            "afresh."
        )


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, loaded with ``weights_only=True``, after checking its checksums and that it is a
    complete vaelab checkpoint."""
    if path.is_dir():
        raise IsADirectoryError(
            f"The checkpoint path {path} is a folder, not a file: name a file, e.g. {path / 'run.pt'}."
        )
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    verify_integrity(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = ("it holds Python objects other than tensors and plain data, which vaelab does not load "
                      "(checkpoints are read with torch.load(weights_only=True), so no code runs from a file)")
        else:
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        raise ValueError(
            f"Could not read the checkpoint {path}: it is damaged, truncated or not a vaelab checkpoint ({reason})."
            " Delete it to start afresh."
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vaelab checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise ValueError(
            f"The checkpoint {path} is incomplete: it has no {', '.join(map(repr, missing))} (it was not written by "
            "vaelab's save_checkpoint or fit). Delete it, or use another checkpoint path."
        )
    return state


def check_same_model(model, state: dict, path: Path) -> None:
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


def _description(model) -> dict | None:
    """What :func:`vaelab.saving.rebuild` needs to make the model again, or None if an argument cannot be recorded."""
    from .saving import describe

    try:
        return describe(model)
    except TypeError:
        return None


def save_checkpoint(model, path, history: History | None = None, **extra) -> None:
    """Save ``model`` (and optionally its training history) atomically to ``path``."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "vaelab_version": __version__,
        "model_class": type(model).__name__,
        "model_description": _description(model),
        "model_config": dict(getattr(model, "config", {})),
        "model_state": model.state_dict(),
        "history": (history or History()).as_dict(),
        "epoch": len(history) if history is not None else 0,
        **extra,
    }
    atomic_save(state, _path(path, "path (where to save the checkpoint)"))


def load_checkpoint(path, model=None) -> Checkpoint:
    """Load a checkpoint (with ``torch.load(weights_only=True)``: no code runs from the file).

    With ``model`` given, the saved parameters are loaded into it after checking that the checkpoint belongs to the
    same kind of model.  Without it, the model is rebuilt from the description the checkpoint records (every vaelab
    model: ``vaelab.saving``); a checkpoint written before vaelab recorded it rebuilds a plain ``VAE`` only.
    """
    path = _path(path, "path (the checkpoint file)")
    state = read_checkpoint(path)
    if model is None:
        model = _rebuild(state, path)
    check_same_model(model, state, path)
    model.load_state_dict(state["model_state"])
    return Checkpoint(model, History.from_dict(state["history"]), int(state["epoch"]))


def _rebuild(state: dict, path: Path):
    """The untrained model a checkpoint was written from."""
    from .models import VAE
    from .saving import rebuild

    if state.get("model_description"):
        return rebuild(state["model_description"])
    config = dict(state["model_config"])
    custom = (config.get("encoder") or config.get("decoder")
              or config.get("prior", "StandardNormal") != "StandardNormal")
    if state["model_class"] != "VAE" or custom:
        raise ValueError(
            f"The checkpoint {path} holds a {state['model_class']} with custom parts ({config}) and no description "
            "to rebuild it from (it was written by an older vaelab or holds a part whose arguments cannot be "
            "recorded); build the model yourself and pass it: load_checkpoint(path, model=...)."
        )
    for key in ("prior", "encoder", "decoder"):
        config.pop(key, None)
    return VAE(**config)


# --------------------------------------------------------------------------------------------------------------
# one run per checkpoint, leftovers, finite state
# --------------------------------------------------------------------------------------------------------------
def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the half-written temporary files that a killed :func:`atomic_save` left beside ``path`` (call it only
    while holding :func:`exclusive`, so that no other run is writing one); return what was deleted."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _lock_owner(lock: Path) -> tuple[int, str] | None:
    """The (pid, host) written in a lock file, or None if it cannot be read."""
    try:
        pid, host = lock.read_text().split(maxsplit=1)
        return int(pid), host.strip()
    except (OSError, ValueError):
        return None


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[Path]:
    """Hold ``path.lock`` (the process id and host) while a run writes the checkpoint ``path``.

    A second run on the same path gets a RuntimeError naming the process that holds it, before it does any work.
    A lock left by a killed process on this host (its process is gone) is taken over.  Creating the lock also tests,
    before any training, that the checkpoint's folder is writable.
    """
    lock = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise NotADirectoryError(
            f"Cannot write the checkpoint {path}: a part of its folder {path.parent} is a file, not a folder. "
            "Choose another checkpoint path."
        ) from err
    except OSError as err:
        raise PermissionError(f"Cannot create the checkpoint's folder {path.parent}: {err.strerror}. Choose a "
                              "writable checkpoint path.") from err
    me = f"{os.getpid()} {socket.gethostname()}\n"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            stale = owner is not None and owner[1] == socket.gethostname() and not _process_is_alive(owner[0])
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            who = f"process {owner[0]} on {owner[1]}" if owner else "another process"
            raise RuntimeError(
                f"The checkpoint {path} is in use: {who} is training into it (lock file {lock}). Two runs on one "
                "checkpoint would overwrite each other's epochs: wait for it to finish, or give this run another "
                "checkpoint path. If no such run exists any more, delete the lock file."
            ) from None
        except OSError as err:
            raise PermissionError(f"Cannot write the checkpoint {path}: {err.strerror}. Choose a writable "
                                  "checkpoint path.") from err
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:  # pragma: no cover - the stale lock reappeared twice: another run took it
        raise RuntimeError(f"The checkpoint {path} is in use by another run (lock file {lock}).")
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            if lock.read_text() == me:
                lock.unlink()


def nonfinite(named_tensors: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """The names of the floating-point tensors that hold a NaN or an infinity (one device synchronization)."""
    named = [(name, t) for name, t in named_tensors if torch.is_tensor(t) and t.is_floating_point()]
    if not named:
        return []
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu()
    return [name for (name, _), ok in zip(named, finite.tolist(), strict=True) if not ok]


def optimizer_tensors(optimizer, prefix: str = "optimizer") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of an optimizer's state (Adam's moment estimates, ...), named for messages."""
    for i, state in enumerate(optimizer.state.values()):
        for key, value in state.items():
            yield f"{prefix} {key} of parameter {i}", value


# --------------------------------------------------------------------------------------------------------------
# random state
# --------------------------------------------------------------------------------------------------------------
def rng_state(generator: torch.Generator) -> dict:
    """The global torch (and CUDA) random state and the state of ``fit``'s data generator."""
    state = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
