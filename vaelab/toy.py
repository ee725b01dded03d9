"""The one-hot toy of chapters 4–6 (Takahashi et al.'s poster): the four one-hot vectors of R⁴ encoded into a 2-D code.

The best a model can do is log p(x) = log ¼: put the four posteriors apart, reconstruct each input perfectly, and
give each a quarter of the prior.  :func:`sweep` trains several models over a grid of KL weights and seeds, keeping
the codes of every model at every few epochs for the latent explorers (``vaelab.widgets.latent_explorer``);
:func:`reconstruction_accuracy` measures how often a code decodes to its own input.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .callbacks import LatentRecorder
from .checkpoints import atomic_save
from .checks import positive_int
from .data import from_dataset
from .evaluate import eval_mode, prepare, seeded
from .train import fit

__all__ = ["reconstruction_accuracy", "sweep", "ToySweep"]


@torch.no_grad()
def reconstruction_accuracy(model, data, samples: int = 20, seed: int = 0) -> float:
    """How often the decoder's most likely coordinate, at ``samples`` draws z ~ q(z|x) per example, is the hot one
    (``data.labels``).  1 is perfect; ¼ is guessing."""
    data = from_dataset(data)  # a Dataset of (x, y) pairs: y is the label
    labels = getattr(data, "labels", None)
    if labels is None:
        raise ValueError("reconstruction_accuracy needs data with .labels (the hot coordinate): vl.load('onehot').")
    x = prepare(model, data, seed)
    with eval_mode(model), seeded(seed):
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, positive_int(samples, "samples"))
        return (model.decode(z).argmax(-1).cpu() == labels).float().mean().item()


@dataclass
class ToySweep:
    """Trained toy models by ``(name, kl_weight, seed)`` and, for the explorers, the recorded codes of the first
    seed by ``runs[name][kl_weight]``."""

    models: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)

    def model(self, name: str, kl_weight: float, seed: int):
        return self.models[name, kl_weight, seed]


def _checkpoint(store, model, train, **settings) -> Path:
    """A file name for a toy run from everything that determines it: the model's kind and configuration, the
    training settings and the data (so chapters that train the same toy model share it)."""
    content = {"model": type(model).__name__, "config": getattr(model, "config", {}), **settings,
               "data": [len(train), round(float(train.double().sum()), 3)]}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(store) / f"toy-{type(model).__name__.lower()}-{digest}.pt"


def sweep(makers: dict[str, Callable], train, test, kl_weights: Sequence[float], seeds: Sequence[int] = (0,),
          epochs: int = 60, batch_size: int = 50, warmup: int = 0, every: int = 5,
          no_kl_weight: Collection[str] = (), device="auto", store: str | os.PathLike | None = None) -> ToySweep:
    """Train every model of ``makers`` (name → a function that builds it) at every KL weight and seed.

    Each model starts from ``torch.manual_seed(seed)`` and trains with ``fit(..., kl_weight=λ, seed=seed)``; the
    models named in ``no_kl_weight`` have no KL term to weight (InfoVAE with α = 1, the WAE) and are trained once
    per seed, then listed under every λ.  The codes z ~ q(z|x) of ``test`` are recorded every ``every`` epochs
    (and before training) for the first seed.  With a ``store`` folder every run is checkpointed there (with its
    recorded codes) under a name made from its content, and a rerun, or another chapter's sweep of the same model,
    loads it instead of training it again.
    """
    result = ToySweep()
    for name, make in makers.items():
        result.runs[name] = {}
        for seed in seeds:
            for lam in kl_weights:
                if name in no_kl_weight and lam != kl_weights[0]:
                    result.models[name, lam, seed] = result.models[name, kl_weights[0], seed]
                    if seed == seeds[0]:
                        result.runs[name][lam] = result.runs[name][kl_weights[0]]
                    continue
                torch.manual_seed(seed)
                model = make()
                path = None if store is None else _checkpoint(store, model, train, kl_weight=lam, seed=seed,
                                                               epochs=epochs, batch_size=batch_size, warmup=warmup,
                                                               every=every)
                frames = None if path is None else path.with_name(path.stem + "-codes.pt")
                recorder = LatentRecorder(test, every=every) if seed == seeds[0] else None
                if recorder is not None:
                    recorder(0, None, model)  # the untrained encoder as frame 0
                fit(model, train, epochs=epochs, batch_size=batch_size, kl_weight=lam, warmup=warmup, seed=seed,
                    callback=recorder, progress=False, device=device, checkpoint=path, checkpoint_every=epochs)
                result.models[name, lam, seed] = model
                if recorder is not None:
                    if frames is not None and len(recorder.epochs) == 1 and frames.exists():  # trained before
                        saved = torch.load(frames, map_location="cpu", weights_only=True)
                        run = {"epochs": saved["epochs"].tolist(), "z": saved["z"].numpy(),
                               "labels": None if saved["labels"] is None else saved["labels"].numpy()}
                    else:
                        run = recorder.run()
                        if frames is not None:  # tensors only: read back with weights_only=True
                            atomic_save({"epochs": torch.tensor(run["epochs"]), "z": torch.from_numpy(run["z"]),
                                         "labels": None if run["labels"] is None else torch.from_numpy(run["labels"])},
                                        frames)
                    result.runs[name][lam] = run
    return result
