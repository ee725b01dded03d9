"""Callbacks for ``fit``: functions ``callback(epoch, history, model)`` called after every epoch; a callback that
returns ``True`` stops training.  Pass one as ``fit(..., callback=c)`` or several as ``fit(..., callbacks=[...])``.

* :class:`CSVLogger` writes the history as a CSV file after every epoch (one row per epoch).
* :class:`TensorBoardLogger` writes every recorded value as a TensorBoard scalar (needs ``pip install tensorboard``).
* :class:`EarlyStopping` stops when the test ELBO has not improved for ``patience`` epochs.
* :class:`LatentRecorder` keeps the codes of a fixed data set at every epoch (the latent explorers of chapters 4–6
  play them back).

Each works from the history ``fit`` passes it, so a resumed run (which restores the history) logs and stops exactly
as an uninterrupted one would.
"""

from __future__ import annotations

import math
import os

import torch

from . import evaluate
from .checks import number, positive_int
from .checks import path as _path
from .data import from_dataset
from .gaussians import reparameterize

__all__ = ["LatentRecorder", "CSVLogger", "TensorBoardLogger", "EarlyStopping"]


class CSVLogger:
    """Write ``history.rows()`` to ``path`` after every epoch (atomically: a reader never sees half a file)."""

    def __init__(self, path: str | os.PathLike):
        self.path = _path(path, "path (the CSV file)")
        if self.path.is_dir():
            raise IsADirectoryError(f"path must name a file, but {self.path} is a folder: e.g. {self.path / 'log.csv'}")

    def __call__(self, epoch: int, history, model) -> None:
        history.to_csv(self.path)


class TensorBoardLogger:
    """Write the epoch's values (train and test ELBO and their parts, penalties, λ, learning rate) as TensorBoard
    scalars under ``log_dir``; ``tensorboard --logdir LOG_DIR`` shows them.  Needs the ``tensorboard`` package."""

    def __init__(self, log_dir: str | os.PathLike):
        log_dir = _path(log_dir, "log_dir (TensorBoard's folder)")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError("TensorBoardLogger needs the tensorboard package: pip install tensorboard (or use "
                              "vaelab.callbacks.CSVLogger, which needs nothing).") from err
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def __call__(self, epoch: int, history, model) -> None:
        row = history.rows()[-1]
        for name, value in row.items():
            if name != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(name, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class EarlyStopping:
    """Stop training when the test ELBO (``fit(..., test=...)``) has not improved by more than ``min_delta`` nats
    for ``patience`` epochs in a row.  ``best_epoch`` is the epoch with the highest test ELBO so far.

    It only stops training: the model keeps the last epoch's weights.  To keep the best ones, pass
    ``fit(..., checkpoint=..., checkpoint_every=1)`` and save the model when ``best_epoch`` changes, or stop earlier.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, monitor: str = "test_elbo"):
        self.patience = positive_int(patience, "patience (epochs without improvement)")
        self.min_delta = number(min_delta, "min_delta (nats)", low=0)
        if monitor not in ("test_elbo", "train_elbo"):
            raise ValueError(f"monitor must be 'test_elbo' or 'train_elbo', got {monitor!r}.")
        self.monitor = monitor
        self.best_epoch: int | None = None

    def __call__(self, epoch: int, history, model) -> bool:
        values = getattr(history, self.monitor)
        if not values:
            raise ValueError("EarlyStopping watches the test ELBO, but fit has no test set: pass fit(..., test=...) "
                             "or EarlyStopping(monitor='train_elbo').")
        best, best_index, waited = -math.inf, 0, 0
        for i, value in enumerate(values):  # from the whole history: the same decision after a resume
            if value > best + self.min_delta:
                best, best_index, waited = value, i, 0
            else:
                waited += 1
        self.best_epoch = history.epoch[best_index]
        return waited >= self.patience


class LatentRecorder:
    """A ``fit`` callback that keeps one sample z ~ q(z|x) of each example of ``data`` every ``every`` epochs.

    The noise ε of z = μ + σ ⊙ ε is the same at every epoch (drawn from its own generator, so training's random
    stream is untouched): between frames, the points move only because the encoder changed.  Call it once with
    ``recorder(0, None, model)`` before ``fit`` to keep the untrained state too.  ``run()`` returns what
    :func:`vaelab.widgets.latent_explorer` takes: ``{"epochs", "z" [frames, N, z_dim], "labels"}``.
    """

    def __init__(self, data, every: int = 1, seed: int = 0):
        self.data = from_dataset(data)  # a Dataset of (x, y) pairs keeps y as the labels
        self.every, self.seed = positive_int(every, "every (epochs between recordings)"), seed
        self.epochs: list[int] = []
        self.z: list[torch.Tensor] = []

    @torch.no_grad()
    def __call__(self, epoch: int, history, model) -> None:
        if epoch % self.every:
            return
        x = evaluate.prepare(model, self.data, self.seed)
        with evaluate.eval_mode(model):
            mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(self.seed)).to(mu)
        self.epochs.append(epoch)
        self.z.append(reparameterize(mu, logvar, eps=eps).cpu())

    def run(self) -> dict:
        labels = getattr(self.data, "labels", None)
        return {"epochs": list(self.epochs), "z": torch.stack(self.z).numpy(),
                "labels": None if labels is None else labels.cpu().numpy()}
