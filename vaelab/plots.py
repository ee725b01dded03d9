"""Figures the chapters share.

Every function returns a :class:`matplotlib.figure.Figure`. Called without ``ax`` it makes a new figure of its
own and does not leave it open in pyplot, so that a chapter can make hundreds of them (animation frames, say)
without pyplot's "too many open figures" warning. In a notebook such a figure shows when it is the value of the
cell (``vl.plots.image_grid(x)`` as the last line) or through ``display(fig)``; in a script, use
``fig.savefig(path)``. Called with ``ax=...`` it draws into that axes and returns its figure, which stays the
caller's: in a notebook end such a last line with ``;`` so that the figure does not show twice.

Inputs may be torch tensors (on any device, with or without grad) or NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

__all__ = ["image_grid", "latent_scatter", "decoded_grid", "training_curves"]

ELBO_LABEL = "ELBO (nats per example)"

# Images outside [0, 1] by more than this are almost always logits or raw bytes, not pixel intensities.
_RANGE_TOLERANCE = 0.5


# --------------------------------------------------------------------------------------------------- helpers


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """A float64 NumPy copy of a tensor / array / nested sequence."""
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "detach"):
        x = [t.detach().cpu().numpy() for t in x]
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a torch.Tensor or a NumPy array of numbers, got {type(x).__name__}") from err


def _new_figure(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure with one axes that pyplot does not keep open (see the module docstring)."""
    fig = plt.figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    plt.close(fig)
    return fig, ax


def _figure_or_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        return _new_figure(figsize)
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()), got {type(ax).__name__}")
    return ax.figure, ax


def _as_images(images: Any, shape: tuple[int, int] | None, name: str = "images") -> np.ndarray:
    """[N, H, W] float array in [0, 1] from [N, H*W], [N, H, W], [N, 1, H, W] or one image [H*W] / [H, W]."""
    x = _to_numpy(images, name)
    if x.ndim == 1 or (x.ndim == 2 and shape is not None and tuple(x.shape) == tuple(shape)):
        x = x[None]  # one image
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(
                f"{name} has shape {list(x.shape)}: only grayscale images are supported, "
                "[N, 784], [N, 28, 28] or [N, 1, 28, 28]"
            )
        x = x[:, 0]
    if x.ndim == 2:
        if shape is None:
            side = math.isqrt(x.shape[1])
            if side * side != x.shape[1]:
                raise ValueError(
                    f"{name} have {x.shape[1]} values each, which is not a square image: pass shape=(height, width)"
                )
            shape = (side, side)
        h, w = (int(s) for s in shape)
        if h * w != x.shape[1]:
            raise ValueError(
                f"{name} have {x.shape[1]} values each, but shape={tuple(shape)} needs {h * w}: "
                "pass the right shape=(height, width)"
            )
        x = x.reshape(len(x), h, w)
    if x.ndim != 3:
        raise ValueError(
            f"{name} has shape {list(x.shape)}; expected [N, 784], [N, 28, 28] or [N, 1, 28, 28] (one row per image)"
        )
    if len(x) == 0:
        raise ValueError(f"{name} is empty: there is nothing to draw")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values (did training diverge?)")
    lo, hi = float(x.min()), float(x.max())
    if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
        hint = (
            "raw bytes: divide by 255"
            if hi > 2 and lo >= 0
            else "decoder logits: use model.decode_mean(z) / model.sample(n), or torch.sigmoid(logits)"
        )
        raise ValueError(f"{name} should hold pixel intensities in [0, 1], but its values lie in "
                         f"[{lo:.3g}, {hi:.3g}] ({hint})")
    return np.clip(x, 0.0, 1.0)


def _tile(x: np.ndarray, ncol: int, padding: int, pad_value: float) -> np.ndarray:
    """Tile [N, H, W] images row by row into one [rows*(H+p)+p, ncol*(W+p)+p] image."""
    n, h, w = x.shape
    nrows = math.ceil(n / ncol)
    p = padding
    grid = np.full((nrows * (h + p) + p, ncol * (w + p) + p), pad_value, dtype=np.float64)
    for k in range(n):
        r, c = divmod(k, ncol)
        top, left = p + r * (h + p), p + c * (w + p)
        grid[top : top + h, left : left + w] = x[k]
    return grid


def _grid_figsize(height_px: int, width_px: int, title: bool = False) -> tuple[float, float]:
    """A figure size proportional to the grid, its longer side between 2 and 10 inches."""
    w_in, h_in = width_px / 40, height_px / 40
    longest = max(w_in, h_in)
    s = min(max(longest, 2.0), 10.0) / longest
    return (w_in * s, h_in * s + (0.4 if title else 0.0))


# --------------------------------------------------------------------------------------------------- figures


def image_grid(
    images: Any,
    nrow: int | None = None,
    shape: tuple[int, int] = (28, 28),
    ax: Axes | None = None,
    title: str | None = None,
    *,
    cmap: str = "gray",
    padding: int = 1,
    pad_value: float = 1.0,
) -> Figure:
    """Tile images into one grayscale picture with thin borders.

    Args:
        images: ``[N, 784]``, ``[N, 28, 28]`` or ``[N, 1, 28, 28]`` tensor or array of pixel intensities in [0, 1]
            (what ``vaelab.load``, ``model.sample`` and ``model.reconstruct`` return).
        nrow: images per row of the grid, as in torchvision's ``make_grid``; default ``ceil(sqrt(N))``.
        shape: ``(height, width)`` of one image when ``images`` is flat.
        ax: draw into this axes instead of a new figure.
        title: axes title.
        cmap: colour map (``"gray"``: white ink on black, as MNIST is stored).
        padding: border width in pixels between images; ``pad_value``: its intensity.

    Returns:
        The figure. The tiled image is ``fig.axes[0].images[0]`` (its array has
        ``rows*(H+padding)+padding`` by ``nrow*(W+padding)+padding`` pixels).

    Raises:
        ValueError: wrong shape, no images, NaN, or values far outside [0, 1] (logits or raw bytes).
    """
    x = _as_images(images, shape)
    n = len(x)
    ncol = math.ceil(math.sqrt(n)) if nrow is None else int(nrow)
    if ncol < 1:
        raise ValueError(f"nrow must be a positive number of images per row, got {nrow}")
    ncol = min(ncol, n)
    grid = _tile(x, ncol, int(padding), float(pad_value))
    fig, ax = _figure_or_axes(ax, _grid_figsize(*grid.shape, title=title is not None))
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return fig


def latent_scatter(
    z: Any,
    labels: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    class_names: Sequence[str] | None = None,
    s: float | None = None,
    alpha: float = 0.7,
) -> Figure:
    """Scatter 2-D latent codes, coloured by class label.

    Args:
        z: ``[N, 2]`` codes, for example ``mu`` from ``mu, logvar = model.encode(x)``.
        labels: ``[N]`` integer class labels (``x.labels``), or None for one colour. Label ``k`` always gets the
            same colour (``tab10`` for labels 0..9, ``tab20`` up to 19), so figures of one chapter agree.
        ax: draw into this axes instead of a new figure.
        title: axes title.
        class_names: names for the legend, indexed by label (e.g. Fashion-MNIST's "T-shirt/top", ...).
        s: marker size (default shrinks with N); alpha: marker opacity.

    Returns:
        The figure: one scatter (points drawn in random order, so no class hides another) and a legend with
        one entry per class present.

    Raises:
        ValueError: z is not ``[N, 2]``, or labels do not match it.
    """
    if isinstance(z, tuple):
        raise TypeError("z is a tuple; pass the codes only, e.g. mu from `mu, logvar = model.encode(x)`")
    zz = _to_numpy(z, "z")
    if zz.ndim != 2 or zz.shape[1] != 2:
        dims = f"{zz.shape[1]}-D" if zz.ndim == 2 else f"shape {list(zz.shape)}"
        raise ValueError(
            f"latent_scatter draws 2-D codes [N, 2], but z is {dims}: train a model with z_dim=2, "
            "or project the codes to two dimensions first (e.g. with PCA)"
        )
    if not np.isfinite(zz).all():
        raise ValueError("z contains NaN or infinite values (did training diverge?)")
    n = len(zz)
    if s is None:
        s = 20.0 if n <= 500 else max(1.0, 20.0 * math.sqrt(500 / n))
    fig, ax = _figure_or_axes(ax, (5.8, 4.6))
    rng = np.random.default_rng(0)
    order = rng.permutation(n)

    if labels is None:
        ax.scatter(zz[order, 0], zz[order, 1], s=s, alpha=alpha, color="tab:blue", linewidths=0, rasterized=True)
    else:
        y = _to_numpy(labels, "labels")
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"labels must be a 1-D array with one label per code ({n}), got shape {list(y.shape)}")
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or (n and y.min() < 0):
            raise ValueError("labels must be non-negative integers (class indices such as x.labels)")
        y = y.astype(np.int64)
        classes = np.unique(y)
        if classes.size and classes.max() < 20:
            cmap = plt.get_cmap("tab10" if classes.max() < 10 else "tab20")
            colors = cmap(y[order])
            ax.scatter(zz[order, 0], zz[order, 1], s=s, alpha=alpha, c=colors, linewidths=0, rasterized=True)
            handles = [
                Line2D([], [], linestyle="", marker="o", markersize=6, color=cmap(int(k)),
                       label=str(class_names[k]) if class_names is not None else str(int(k)))
                for k in classes
            ]
            ax.legend(handles=handles, title="label", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        else:  # many classes: a continuous colour scale
            sc = ax.scatter(zz[order, 0], zz[order, 1], s=s, alpha=alpha, c=y[order], cmap="viridis",
                            linewidths=0, rasterized=True)
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title is not None:
        ax.set_title(title)
    return fig


def _model_device_dtype(model: Any):
    import torch

    for tensors in (getattr(model, "parameters", None), getattr(model, "buffers", None)):
        if callable(tensors):
            for t in tensors():
                return t.device, (t.dtype if t.is_floating_point() else torch.float32)
    return torch.device("cpu"), torch.float32


def decoded_grid(
    model: Any,
    n: int = 15,
    span: float = 3.0,
    ax: Axes | None = None,
    *,
    shape: tuple[int, int] | None = None,
    title: str | None = None,
    cmap: str = "gray",
) -> Figure:
    """Decode a regular n×n grid of latent points over [-span, span]² and show the images where they decode.

    The image at column j, row i is ``model.decode_mean(z)`` at ``z = (z1_j, z2_i)``, with z1 growing to the right
    and z2 upwards, and the axis ticks are in z-units (the learned-manifold figure of Kingma & Welling, 2014).

    Args:
        model: any object with ``z_dim == 2`` and ``decode_mean(z) -> [M, D]`` pixel intensities in [0, 1]
            (a ``vaelab.VAE``). It is decoded under ``torch.no_grad()`` on the device of its parameters, in
            eval mode (restored afterwards).
        n: grid points per axis (n ≥ 2); span: the grid covers [-span, span] on both axes.
        ax: draw into this axes instead of a new figure.
        shape: ``(height, width)`` of one image (default: square, e.g. 28×28 for D = 784).
        title: axes title.

    Returns:
        The figure; its image is ``n*H`` by ``n*W`` pixels.

    Raises:
        ValueError: the model's latent space is not 2-D, or n / span are not usable.
    """
    import torch

    z_dim = getattr(model, "z_dim", None)
    if z_dim is None or not callable(getattr(model, "decode_mean", None)):
        raise TypeError("decoded_grid needs a model with a z_dim attribute and a decode_mean(z) method (a "
                        "vaelab.VAE)")
    if int(z_dim) != 2:
        raise ValueError(
            f"decoded_grid draws a 2-D latent space, but this model has z_dim={z_dim}: train one with z_dim=2 "
            "(or use latent_scatter on projected codes)"
        )
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2 (grid points per axis), got {n}")
    n = int(n)
    if not (math.isfinite(span) and span > 0):
        raise ValueError(f"span must be a positive number (the grid covers [-span, span]), got {span}")

    device, dtype = _model_device_dtype(model)
    g = torch.linspace(-span, span, n, dtype=dtype, device=device)
    z2, z1 = torch.meshgrid(g.flip(0), g, indexing="ij")  # row 0 is the top: the largest z2
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)

    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        with torch.no_grad():
            x = model.decode_mean(z)
    finally:
        if was_training:
            model.train()

    images = _as_images(x, shape, name="model.decode_mean(z)")
    if len(images) != n * n:
        raise ValueError(f"model.decode_mean returned {len(images)} images for {n * n} latent points")
    grid = _tile(images, n, padding=0, pad_value=0.0)
    step = 2 * span / (n - 1)
    half = step / 2
    side = min(max(n * 0.4, 4.0), 9.0)
    fig, ax = _figure_or_axes(ax, (side, side))
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest",
              extent=(-span - half, span + half, -span - half, span + half))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title is not None:
        ax.set_title(title)
    return fig


def manifold(*args, **kwargs) -> Figure:
    """Deprecated name of :func:`decoded_grid` (``vaelab.manifold`` draws data on a manifold, chapter 7)."""
    import warnings

    warnings.warn("vaelab.plots.manifold is now vaelab.plots.decoded_grid.", DeprecationWarning, stacklevel=2)
    return decoded_grid(*args, **kwargs)


def _history_field(history: Any, name: str) -> list[float] | None:
    value = history.get(name) if isinstance(history, Mapping) else getattr(history, name, None)
    if value is None:
        return None
    return [float(v) for v in value]


def training_curves(history: Any, ax: Axes | None = None, *, title: str | None = None) -> Figure:
    """Train and test ELBO per epoch, in nats per example.

    Args:
        history: the ``vaelab.History`` that ``vaelab.fit`` returns (or a dict with the same keys):
            ``train_elbo`` and optionally ``test_elbo`` (may be empty) and ``epoch``.
        ax: draw into this axes instead of a new figure.
        title: axes title.

    Returns:
        The figure: one line for train, one for test when the history has test values, and a legend.

    Raises:
        ValueError: the history has no train ELBO, or its test list has a different length.
    """
    train = _history_field(history, "train_elbo")
    if train is None:
        raise TypeError("training_curves needs the History returned by vaelab.fit (it has no train_elbo)")
    if not train:
        raise ValueError("the history is empty (no epoch was trained): nothing to plot")
    test = _history_field(history, "test_elbo") or []
    epochs = _history_field(history, "epoch")
    if epochs is None or len(epochs) != len(train):
        epochs = list(range(1, len(train) + 1))
    if test and len(test) != len(train):
        raise ValueError(f"history has {len(train)} train values but {len(test)} test values: expected one per epoch")

    fig, ax = _figure_or_axes(ax, (6.0, 3.8))
    ax.plot(epochs, train, marker="o", markersize=3, label="train")
    if test:
        ax.plot(epochs, test, marker="o", markersize=3, label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ELBO_LABEL)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig
