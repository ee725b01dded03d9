"""Interactive figures that work both live in JupyterLab and in the static HTML book.

A figure that depends on a few choices (the weight λ of a sweep, the model, the epoch) is an :class:`Explorer`: a
function ``draw(fig, **values)`` that draws one state onto a cleared figure, plus the list of allowed values of
each control. It can be shown two ways:

* :meth:`Explorer.live` builds ipywidgets controls (a slider or a drop-down per control) and redraws the figure in
  an ``ipywidgets.Output`` whenever one changes. This needs a running Python kernel (JupyterLab, a Binder).
* :meth:`Explorer.static` precomputes one frame per value of one control and embeds them in the page as a
  JavaScript slider (``FuncAnimation.to_jshtml``). The HTML book has no kernel, so a widget callback could not
  run there; the precomputed frames need none.

A chapter does::

    ex = vl.widgets.sweep_explorer(results)
    ex.static(over="lam")   # works in the HTML book
    ex.live()               # in JupyterLab

ipywidgets and IPython are imported only when ``live`` / ``static`` are called (``pip install vaelab[book]``).
"""

from __future__ import annotations

import keyword
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from .plots import _as_images, _to_numpy, image_grid, latent_scatter

__all__ = ["Explorer", "sweep_explorer", "latent_explorer", "ALL_MODELS"]

ALL_MODELS = "all models"  # the value of latent_explorer's `model` control that draws every model side by side

# Control names that would clash with the keyword arguments of Explorer's methods.
_RESERVED = {"self", "over", "fps", "dpi"}
_FRAME_DATA = re.compile(r'frames\[\d+\] = "data:image/')


def _plain(value: Any) -> Any:
    """A NumPy / torch scalar as the Python scalar it holds (so that widgets and == behave)."""
    return value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value


def _default_format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Explorer:
    """A figure driven by named controls: ``draw(fig, **values)`` draws one state onto a cleared Figure.

    Args:
        draw: ``draw(fig, **values)`` adds its axes to ``fig`` (a cleared :class:`~matplotlib.figure.Figure`)
            and draws the state ``values`` (one value per control). Its return value is ignored.
        controls: control name -> its allowed values, in order (the first is the default). Strings give a
            drop-down, numbers a slider over exactly these values (so λ = 0.25, 0.5, 1, 2, 4 works).
        figsize: figure size in inches (the same for every state, so that a slider does not resize it).
        title: text put before the state in the suptitle: ``title="β-VAE"`` gives ``"β-VAE: λ = 2"``.
        formats: control name -> function value -> text, for slider labels and the suptitle (default ``:g``).
        labels: control name -> the label shown for it (default the name), e.g. ``{"lam": "λ"}``.

    After :meth:`live`, ``self.controls`` (name -> widget), ``self.output`` and ``self.current_figure`` refer to the
    latest live view.
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        controls: Mapping[str, Sequence],
        *,
        figsize: tuple[float, float] = (8, 3),
        title: str | None = None,
        formats: Mapping[str, Callable[[Any], str]] | None = None,
        labels: Mapping[str, str] | None = None,
    ):
        if not callable(draw):
            raise TypeError(f"draw must be a function draw(fig, **values), got {type(draw).__name__}")
        if not isinstance(controls, Mapping) or not controls:
            raise ValueError("controls must be a non-empty dict {name: [allowed values]}")
        formats, labels = dict(formats or {}), dict(labels or {})
        unknown = (set(formats) | set(labels)) - set(controls)
        if unknown:
            raise ValueError(f"formats/labels name {sorted(unknown)}, not among the controls {list(controls)}")
        self.draw = draw
        self.figsize = tuple(figsize)
        self.title = title
        self.values: dict[str, list] = {}
        self.labels = {name: labels.get(name, name) for name in controls}
        self.formats = {name: formats.get(name, _default_format) for name in controls}
        for name, values in controls.items():
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name in _RESERVED:
                raise ValueError(
                    f"control name {name!r} must be a Python identifier such as 'lam' or 'epoch' "
                    f"(and not one of {sorted(_RESERVED)}): it is passed as draw(fig, {name}=...)"
                )
            if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
                raise TypeError(f"control {name!r} needs a list of allowed values, got {type(values).__name__}")
            values = [_plain(v) for v in values]
            if not values:
                raise ValueError(f"control {name!r} has no values: give it at least one")
            if not (all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values)):
                raise TypeError(f"control {name!r} must have all-string or all-number values, got {values!r}")
            texts = [self.formats[name](v) for v in values]
            if len(set(texts)) < len(values):
                raise ValueError(
                    f"control {name!r} has values that repeat or look the same when formatted ({texts}): "
                    f"remove duplicates or pass formats={{{name!r}: ...}}"
                )
            self.values[name] = values
        self.controls: dict[str, Any] = {}
        self.output = None
        self.current_figure: Figure | None = None

    # ----------------------------------------------------------------------------------------- one state

    def _state(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every control's value: the given ones (checked against the allowed lists), else the first allowed."""
        for name, value in values.items():
            if name not in self.values:
                raise ValueError(f"unknown control {name!r}; the controls are {list(self.values)}")
            if _plain(value) not in self.values[name]:
                raise ValueError(f"{name}={value!r} is not an allowed value; choose one of {self.values[name]}")
        return {
            name: allowed[allowed.index(_plain(values[name]))] if name in values else allowed[0]
            for name, allowed in self.values.items()
        }

    def caption(self, **values) -> str:
        """The suptitle of a state: the title, then ``label = value`` for every control."""
        state = self._state(values)
        text = ", ".join(f"{self.labels[n]} = {self.formats[n](v)}" for n, v in state.items())
        return f"{self.title}: {text}" if self.title else text

    def _draw_into(self, fig: Figure, state: dict[str, Any]) -> None:
        fig.clear()
        self.draw(fig, **state)
        fig.suptitle(self.caption(**state))

    def _new_figure(self, dpi: float | None = None) -> Figure:
        fig = plt.figure(figsize=self.figsize, dpi=dpi, layout="constrained")
        plt.close(fig)  # not kept open in pyplot (see vaelab.plots)
        return fig

    def figure(self, **values) -> Figure:
        """Draw one state (controls not given take their first value) on a new figure, not left open in pyplot.

        Raises:
            ValueError: an unknown control name, or a value not in that control's list.
        """
        state = self._state(values)
        fig = self._new_figure()
        self._draw_into(fig, state)
        return fig

    # ----------------------------------------------------------------------------------------- live

    def live(self, **initial):
        """ipywidgets controls above an ``Output`` that redraws the figure when any control changes (needs a kernel).

        Returns:
            An ``ipywidgets.VBox``: one control per line (``SelectionSlider`` for numbers, ``Dropdown`` for
            strings), then the ``Output``. ``self.controls``, ``self.output`` and ``self.current_figure`` are set.
        """
        try:
            import ipywidgets as w
            from IPython.display import display
        except ImportError as err:
            raise ImportError("Explorer.live needs ipywidgets: pip install 'vaelab[book]' (or ipywidgets)") from err
        state = self._state(initial)
        controls = {}
        for name, values in self.values.items():
            if isinstance(values[0], str):
                control = w.Dropdown(options=values, value=state[name], description=self.labels[name])
            else:
                options = [(self.formats[name](v), v) for v in values]
                control = w.SelectionSlider(options=options, value=state[name], description=self.labels[name])
            controls[name] = control
        output = w.Output()
        fig = self._new_figure()

        def redraw(change=None):
            with output:
                self._draw_into(fig, {name: c.value for name, c in controls.items()})
                output.clear_output(wait=True)
                display(fig)

        for control in controls.values():
            control.observe(redraw, names="value")
        self.controls, self.output, self.current_figure = controls, output, fig
        redraw()
        return w.VBox([*controls.values(), output])

    # ----------------------------------------------------------------------------------------- static

    def frames(self, over: str, **fixed) -> list[dict[str, Any]]:
        """The states of a static animation: one per value of control ``over``, the other controls at ``fixed``
        (default: their first value)."""
        if over not in self.values:
            raise ValueError(f"over={over!r} is not a control; the controls are {list(self.values)}")
        if over in fixed:
            raise ValueError(f"{over!r} is the control animated over (over={over!r}); do not also fix its value")
        state = self._state(fixed)
        return [{**state, over: value} for value in self.values[over]]

    def static(self, over: str, fps: float = 2, dpi: int = 80, **fixed):
        """A kernel-free slider over the values of control ``over`` (the others at ``fixed``), for the HTML book.

        Every frame is drawn now and embedded in the page as a PNG (``FuncAnimation.to_jshtml``, played once), so
        keep ``dpi`` and the number of values modest. Each frame's suptitle names the state (``λ = 2``, ...).

        Returns:
            ``IPython.display.HTML``: an ``input.anim-slider`` with the values written under it and an ``img``
            showing one frame per value; of matplotlib's player only the previous/next buttons are shown.

        Raises:
            ValueError: a bad control name or value, or frames larger than ``rcParams["animation.embed_limit"]``
                (matplotlib would silently drop the extra frames).
        """
        from IPython.display import HTML

        states = self.frames(over, **fixed)
        if not (math.isfinite(fps) and fps > 0) or not dpi > 0:
            raise ValueError(f"fps and dpi must be positive numbers, got fps={fps}, dpi={dpi}")
        fig = self._new_figure(dpi=dpi)
        anim = FuncAnimation(
            fig, lambda i: self._draw_into(fig, states[i]), frames=len(states),
            init_func=lambda: (), cache_frame_data=False, repeat=False,
        )
        with mpl.rc_context({"savefig.dpi": dpi, "savefig.bbox": None}):
            html = anim.to_jshtml(fps=fps, default_mode="once")
        embedded = len(_FRAME_DATA.findall(html))
        if embedded != len(states):
            limit = mpl.rcParams["animation.embed_limit"]
            raise ValueError(
                f"only {embedded} of {len(states)} frames fit in the {limit:g} MB embed limit: lower dpi "
                f"(now {dpi}) or the number of {over!r} values, or raise matplotlib.rcParams['animation.embed_limit']"
            )
        ticks = [self.formats[over](state[over]) for state in states]
        return HTML(_as_a_slider(html, self.labels[over], ticks))


_SLIDER_INPUT = re.compile(r'<input id="_anim_slider[^>]*>')
# A reader steps through values, they do not watch a film: the player's buttons (play, pause, speed) and its
# Once/Loop/Reflect choice are hidden, the step buttons stay, and the slider fills the column at any width.
_SLIDER_STYLE = """<style>
.vaelab-slider .animation { display: block; max-width: 100%; }
.vaelab-slider .animation img { max-width: 100%; height: auto; }
.vaelab-slider input[type=range].anim-slider { width: 100%; box-sizing: border-box; margin: 0; }
.vaelab-slider .anim-state,
.vaelab-slider .anim-buttons button:not([title="Previous frame"]):not([title="Next frame"]) { display: none; }
.vaelab-slider .vaelab-ticks { display: flex; justify-content: space-between; padding: 0 8px; font-size: 0.85em; }
.vaelab-slider .vaelab-ticks span { flex: 0 0 0; display: flex; justify-content: center; white-space: nowrap; }
</style>"""


def _as_a_slider(html: str, label: str, ticks: Sequence[str]) -> str:
    """matplotlib's ``to_jshtml`` page made a slider: named, with its values written under it, and no player."""
    found = _SLIDER_INPUT.search(html)
    if found is None:  # matplotlib changed its template: keep its own controls rather than fail
        return html
    escaped = [t.replace("&", "&amp;").replace("<", "&lt;") for t in ticks]
    slider = found.group(0).replace("<input ", f'<input aria-label="{label.replace(chr(34), "")}" ', 1)
    row = '<div class="vaelab-ticks" aria-hidden="true">' + "".join(f"<span>{t}</span>" for t in escaped) + "</div>"
    html = html[: found.start()] + slider + row + html[found.end():]
    return f'<div class="vaelab-slider">{_SLIDER_STYLE}{html}</div>'


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(value: Any, name: str) -> float:
    x = _to_numpy(value, name)
    if x.size != 1 or not np.isfinite(x).all():
        raise ValueError(f"{name} must be one finite number, got an array of shape {list(x.shape)}")
    return float(x.reshape(()))


# --------------------------------------------------------------------------------------------------- λ sweep

_IMAGE_KEYS = ("reconstructions", "samples")
_METRIC_LABELS = {"elbo": "ELBO", "recon": "reconstruction", "kl": "KL", "active_units": "active units"}


def sweep_explorer(
    results: Mapping[float, Mapping[str, Any]],
    x_label: str = "λ",
    *,
    metrics: Sequence[str] | None = None,
    n_images: int = 16,
    shape: tuple[int, int] = (28, 28),
    figsize: tuple[float, float] = (10, 3.4),
    title: str | None = None,
) -> Explorer:
    """An :class:`Explorer` over a sweep of one weight λ, with the control ``lam``.

    Args:
        results: λ -> ``{"reconstructions": [n, 784], "samples": [n, 784], "elbo": float, ...}``: images in
            [0, 1] (tensors or arrays), and optionally scalar metrics such as ``elbo``, ``recon``, ``kl``,
            ``active_units``.
        x_label: how λ is named on the control, the suptitle and the metrics' x axis.
        metrics: the metrics to plot (default: every scalar entry that all results have).
        n_images: at most this many reconstructions and samples are shown.
        shape: ``(height, width)`` of one image.
        figsize, title: as in :class:`Explorer`.

    Each state draws, left to right: a grid of reconstructions, a grid of samples and, when there are metrics,
    every metric against λ (log axis when all λ > 0; active units on a right-hand axis) with the current λ marked.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict {λ: {'reconstructions': ..., 'samples': ...}}")
    for lam in results:
        if not _is_number(_plain(lam)):
            raise TypeError(f"results must be keyed by the swept number λ, got the key {lam!r}")
    lams = sorted(_plain(lam) for lam in results)
    entries = {_plain(lam): entry for lam, entry in results.items()}
    images: dict[float, dict[str, np.ndarray]] = {}
    for lam in lams:
        entry = entries[lam]
        if not isinstance(entry, Mapping):
            raise TypeError(f"results[{lam:g}] must be a dict with 'reconstructions' and 'samples'")
        missing = [key for key in _IMAGE_KEYS if key not in entry]
        if missing:
            raise ValueError(f"results[{lam:g}] has no {missing}: each λ needs 'reconstructions' and 'samples' [n, D]")
        images[lam] = {key: _as_images(entry[key], shape, name=f"results[{lam:g}][{key!r}]")[:n_images]
                       for key in _IMAGE_KEYS}
    if metrics is None:
        common = [k for k in entries[lams[0]] if k not in _IMAGE_KEYS and all(k in entries[lam] for lam in lams)]
        metrics = [k for k in common if isinstance(_plain(entries[lams[0]][k]), numbers.Real)]
    for key in metrics:
        for lam in lams:
            if key not in entries[lam]:
                raise ValueError(f"metric {key!r} is missing from results[{lam:g}]: every λ needs it")
    curves = {key: [_scalar(entries[lam][key], f"results[{lam:g}][{key!r}]") for lam in lams] for key in metrics}

    def draw(fig: Figure, lam: float) -> None:
        axes = fig.subplots(1, 3 if curves else 2, width_ratios=[1, 1, 1.3] if curves else None)
        image_grid(images[lam]["reconstructions"], ax=axes[0], title="reconstructions")
        image_grid(images[lam]["samples"], ax=axes[1], title="samples")
        if curves:
            _draw_metrics(axes[2], lams, curves, lam, x_label)

    return Explorer(draw, {"lam": lams}, figsize=figsize, title=title, labels={"lam": x_label})


def _draw_metrics(ax, lams: list[float], curves: dict[str, list[float]], current: float, x_label: str) -> None:
    """Each metric against λ; active units (a count, not nats) on a twin axis; a vertical line at λ = current."""
    handles = []
    twin = None
    for i, (key, ys) in enumerate(curves.items()):
        target = ax
        if key == "active_units" and len(curves) > 1:
            twin = twin or ax.twinx()
            target = twin
            twin.set_ylabel(_METRIC_LABELS[key])
        (line,) = target.plot(lams, ys, marker="o", markersize=3, color=f"C{i}", label=_METRIC_LABELS.get(key, key),
                              linestyle="--" if target is twin else "-")
        handles.append(line)
    if all(lam > 0 for lam in lams):
        ax.set_xscale("log")
    ax.set_xticks(lams, [_default_format(lam) for lam in lams])  # ticks at the swept values only
    ax.xaxis.set_minor_locator(NullLocator())
    ax.axvline(current, color="k", linewidth=1, alpha=0.6)
    ax.set_xlabel(x_label)
    ax.set_ylabel("nats" if any(k in curves for k in ("elbo", "recon", "kl")) else "")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize="small")


# --------------------------------------------------------------------------------------------------- latent toy


def latent_explorer(
    runs: Mapping[str, Mapping[float, Mapping[str, Any]]],
    *,
    class_names: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Explorer:
    """An :class:`Explorer` of 2-D latent codes during training, with controls ``model``, ``lam`` and ``epoch``.

    Args:
        runs: ``runs[model][λ] = {"epochs": [e1, e2, ...], "z": [n_epochs, n_points, 2], "labels": [n_points]}``:
            the codes of the same points after each listed epoch, and each point's class (0..3 for the one-hot
            toy). Every model must have the same λ values and every run the same epochs.
        class_names: legend text per class (default ``x = e_1``, ``x = e_2``, ...).
        figsize: default 3.3 inches per model, wide enough for all models side by side.
        title: as in :class:`Explorer`.

    The ``model`` control offers ``"all models"`` (one panel per model, same axes) and each model. The axes
    limits are fixed per λ (the largest code over all models and epochs), so an animation over epochs does not jump.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty dict {model name: {λ: {'epochs', 'z', 'labels'}}}")
    models = list(runs)
    for model in models:
        if not isinstance(model, str) or model == ALL_MODELS:
            raise ValueError(f"model names must be strings other than {ALL_MODELS!r}, got {model!r}")
        if not isinstance(runs[model], Mapping) or not runs[model]:
            raise ValueError(f"runs[{model!r}] must be a non-empty dict {{λ: run}}")
    lams = sorted(_plain(lam) for lam in runs[models[0]])
    epochs: list[int] | None = None
    data: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}
    for model in models:
        by_lam = {_plain(lam): run for lam, run in runs[model].items()}
        if sorted(by_lam) != lams:
            raise ValueError(
                f"every model needs the same λ values: {models[0]!r} has {lams}, {model!r} has {sorted(by_lam)}"
            )
        for lam in lams:
            run, where = by_lam[lam], f"runs[{model!r}][{lam:g}]"
            missing = [k for k in ("epochs", "z", "labels") if not isinstance(run, Mapping) or k not in run]
            if missing:
                raise ValueError(f"{where} has no {missing}: each run needs 'epochs', 'z' and 'labels'")
            run_epochs = [int(_plain(e)) for e in run["epochs"]]
            if epochs is None:
                epochs = run_epochs
            elif run_epochs != epochs:
                raise ValueError(f"every run needs the same epochs: the first has {epochs}, {where} has {run_epochs}")
            z = _to_numpy(run["z"], f"{where}['z']")
            if z.ndim != 3 or z.shape[0] != len(epochs) or z.shape[2] != 2:
                raise ValueError(
                    f"{where}['z'] has shape {list(z.shape)}; expected [n_epochs={len(epochs)}, n_points, 2]"
                )
            if not np.isfinite(z).all():
                raise ValueError(f"{where}['z'] contains NaN or infinite values (did training diverge?)")
            labels = _to_numpy(run["labels"], f"{where}['labels']")
            if labels.ndim != 1 or len(labels) != z.shape[1]:
                raise ValueError(
                    f"{where}['labels'] has shape {list(labels.shape)}; expected one label per point ({z.shape[1]})"
                )
            if not np.all(labels == np.round(labels)) or labels.min(initial=0) < 0:
                raise ValueError(f"{where}['labels'] must be non-negative integers (class indices 0, 1, ...)")
            data[model, lam] = z, labels.astype(np.int64)
    if not epochs:
        raise ValueError("the runs list no epochs: give each run at least one")
    n_classes = 1 + max(int(labels.max()) for _, labels in data.values())
    names = list(class_names) if class_names is not None else [f"$x = e_{{{k + 1}}}$" for k in range(n_classes)]
    if len(names) < n_classes:
        raise ValueError(f"class_names has {len(names)} names but the labels go up to {n_classes - 1}")
    # One symmetric limit per λ, over all models and epochs, 5% beyond the largest |z| (at least 1: the prior's σ).
    lims = {lam: 1.05 * max(1.0, max(float(np.abs(data[m, lam][0]).max()) for m in models)) for lam in lams}

    def draw(fig: Figure, model: str, lam: float, epoch: int) -> None:
        shown = models if model == ALL_MODELS else [model]
        axes = np.atleast_1d(fig.subplots(1, len(shown), sharex=True, sharey=True))
        t = epochs.index(epoch)
        for ax, name in zip(axes, shown, strict=True):
            z, labels = data[name, lam]
            latent_scatter(z[t], labels, ax=ax, title=name, class_names=names)
            if ax is not axes[-1]:
                ax.get_legend().remove()
            if ax is not axes[0]:
                ax.set_ylabel("")
            ax.set_xlim(-lims[lam], lims[lam])
            ax.set_ylim(-lims[lam], lims[lam])
            ax.set_aspect("equal", adjustable="box")
        axes[-1].get_legend().set_title("input")

    controls = {"model": [ALL_MODELS, *models], "lam": lams, "epoch": epochs}
    size = figsize or (3.3 * len(models) + 1.6, 3.6)
    return Explorer(draw, controls, figsize=size, title=title, labels={"lam": "λ"})
