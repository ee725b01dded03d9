"""Callbacks for ``fit``: functions ``callback(epoch, history, model)`` called after every epoch.

:class:`LatentRecorder` keeps the codes of a fixed data set at every epoch (the latent explorers of chapters 4–6
play them back).
"""

from __future__ import annotations

import torch

from . import evaluate
from .checks import positive_int
from .gaussians import reparameterize

__all__ = ["LatentRecorder"]


class LatentRecorder:
    """A ``fit`` callback that keeps one sample z ~ q(z|x) of each example of ``data`` every ``every`` epochs.

    The noise ε of z = μ + σ ⊙ ε is the same at every epoch (drawn from its own generator, so training's random
    stream is untouched): between frames, the points move only because the encoder changed.  Call it once with
    ``recorder(0, None, model)`` before ``fit`` to keep the untrained state too.  ``run()`` returns what
    :func:`vaelab.widgets.latent_explorer` takes: ``{"epochs", "z" [frames, N, z_dim], "labels"}``.
    """

    def __init__(self, data, every: int = 1, seed: int = 0):
        self.data, self.every, self.seed = data, positive_int(every, "every (epochs between recordings)"), seed
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
