"""Tests of vaelab.widgets: figures per state, live redraws, static frames, and clear errors on bad input."""

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot is imported

import re  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelab import widgets  # noqa: E402

pytest.importorskip("IPython")
LAMS = [0.25, 0.5, 1.0, 2.0, 4.0]
EPOCHS = [1, 2, 5]


@pytest.fixture(autouse=True)
def _no_leaked_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before  # nothing left open in pyplot
    plt.close("all")


def sweep_results(lams=LAMS, n=4):
    rng = np.random.default_rng(0)
    return {
        lam: {
            "reconstructions": torch.rand(n, 784),
            "samples": rng.random((n, 784)),
            "elbo": -100.0 - lam,
            "kl": 10.0 / lam,
            "active_units": float(int(8 / lam)),
        }
        for lam in lams
    }


def toy_runs(models=("VAE", "InfoVAE"), lams=(0.5, 1.0), n=12):
    rng = np.random.default_rng(0)
    return {
        m: {lam: {"epochs": list(EPOCHS), "z": rng.normal(size=(len(EPOCHS), n, 2)), "labels": np.arange(n) % 4}
            for lam in lams}
        for m in models
    }


def n_frames(html):
    return len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html.data))


def scatter_offsets(fig, panel=0):
    return np.asarray(fig.axes[panel].collections[0].get_offsets())


# ------------------------------------------------------------------------------------------------- Explorer


def recording_explorer():
    calls = []

    def draw(fig, lam, mode):
        calls.append((lam, mode))
        fig.add_subplot().plot([0, 1], [0, lam])

    ex = widgets.Explorer(draw, {"lam": [0.25, 0.5, 1, 2, 4], "mode": ["a", "b"]}, title="demo",
                          labels={"lam": "λ"})
    return ex, calls


def test_figure_defaults_and_caption():
    ex, calls = recording_explorer()
    fig = ex.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert calls == [(0.25, "a")]
    ex.figure(lam=np.float64(2.0), mode="b")  # NumPy scalars are matched to the allowed values
    assert calls[-1] == (2, "b")
    assert fig._suptitle.get_text() == "demo: λ = 0.25, mode = a"


def test_live_redraws_on_control_change():
    pytest.importorskip("ipywidgets")
    import ipywidgets

    ex, calls = recording_explorer()
    box = ex.live(mode="b")
    assert isinstance(box, ipywidgets.VBox) and box.children[-1] is ex.output
    assert isinstance(ex.controls["lam"], ipywidgets.SelectionSlider)
    assert isinstance(ex.controls["mode"], ipywidgets.Dropdown)
    assert calls == [(0.25, "b")]
    ex.controls["lam"].value = 4
    assert calls[-1] == (4, "b")
    fig = ex.current_figure
    assert fig._suptitle.get_text() == "demo: λ = 4, mode = b"
    (line,) = fig.axes[0].lines  # cleared, not drawn on top of the old state
    assert line.get_ydata()[-1] == 4
    ex.controls["mode"].value = "a"
    assert calls[-1] == (4, "a")


def test_static_one_frame_per_value():
    ex, calls = recording_explorer()
    assert [s["lam"] for s in ex.frames("lam", mode="b")] == [0.25, 0.5, 1, 2, 4]
    html = ex.static(over="lam", mode="b", dpi=30)
    assert "anim-slider" in html.data and "_anim_img" in html.data
    assert n_frames(html) == 5
    assert sorted(set(calls)) == [(v, "b") for v in [0.25, 0.5, 1, 2, 4]]


def test_static_is_a_slider_with_its_values_written_under_it_and_no_player():
    import re

    ex, _ = recording_explorer()
    html = ex.static(over="lam", mode="b", dpi=30).data
    ticks = re.search(r'<div class="vaelab-ticks" aria-hidden="true">(.*?)</div>', html)
    assert ticks and re.findall(r"<span>(.*?)</span>", ticks.group(1)) == ["0.25", "0.5", "1", "2", "4"]
    assert html.index("anim-slider") < ticks.start(), "the values are under the slider"
    assert re.search(r'<input aria-label="[^"]+" id="_anim_slider', html), "the slider is named for screen readers"
    style = html[html.index("<style>\n.vaelab-slider"):]
    assert ".vaelab-slider .anim-state" in style and 'button:not([title="Previous frame"])' in style


def test_static_refuses_to_truncate():
    ex, _ = recording_explorer()
    # about 1 kB: not even one frame fits
    with matplotlib.rc_context({"animation.embed_limit": 0.001}), pytest.raises(ValueError, match="lower dpi"):
        ex.static(over="lam", dpi=30)


@pytest.mark.parametrize(
    "draw, controls, err, match",
    [
        ("not callable", {"a": [1]}, TypeError, "draw must be a function"),
        (lambda fig, a: None, {}, ValueError, "non-empty"),
        (lambda fig, a: None, {"a": []}, ValueError, "no values"),
        (lambda fig, a: None, {"a b": [1]}, ValueError, "identifier"),
        (lambda fig, a: None, {"over": [1]}, ValueError, "identifier"),
        (lambda fig, a: None, {"a": [1, "x"]}, TypeError, "all-string or all-number"),
        (lambda fig, a: None, {"a": [1, 1.0]}, ValueError, "repeat"),
        (lambda fig, a: None, {"a": "abc"}, TypeError, "list of allowed values"),
    ],
)
def test_explorer_construction_errors(draw, controls, err, match):
    with pytest.raises(err, match=match):
        widgets.Explorer(draw, controls)


def test_explorer_state_errors():
    ex, _ = recording_explorer()
    with pytest.raises(ValueError, match=r"unknown control 'beta'.*\['lam', 'mode'\]"):
        ex.figure(beta=1)
    with pytest.raises(ValueError, match=r"lam=3 is not an allowed value.*\[0.25, 0.5, 1, 2, 4\]"):
        ex.figure(lam=3)
    with pytest.raises(ValueError, match="not a control"):
        ex.static(over="epoch")
    with pytest.raises(ValueError, match="do not also fix"):
        ex.frames("lam", lam=1)


# ------------------------------------------------------------------------------------------------- sweep_explorer


def test_sweep_explorer_figure_and_live():
    ex = widgets.sweep_explorer(sweep_results())
    assert ex.values == {"lam": LAMS} and ex.labels == {"lam": "λ"}
    fig = ex.figure(lam=2.0)
    assert len(fig.axes) == 4  # reconstructions, samples, metrics and the active-units twin axis
    assert [ax.get_title() for ax in fig.axes[:2]] == ["reconstructions", "samples"]
    metrics = fig.axes[2]
    assert metrics.get_xscale() == "log"
    assert [line.get_label() for line in metrics.get_legend().get_lines()] == ["ELBO", "KL", "active units"]
    assert metrics.lines[-1].get_xdata()[0] == 2.0  # the current λ is marked
    assert len(widgets.sweep_explorer(sweep_results(), metrics=[]).figure().axes) == 2

    pytest.importorskip("ipywidgets")
    ex.live()
    ex.controls["lam"].value = 0.5
    fig = ex.current_figure
    assert fig.axes[2].lines[-1].get_xdata()[0] == 0.5
    assert fig._suptitle.get_text() == "λ = 0.5"


def test_sweep_explorer_static():
    html = widgets.sweep_explorer(sweep_results(lams=[0.5, 1.0, 2.0], n=1), figsize=(6, 2)).static(over="lam", dpi=30)
    assert "anim-slider" in html.data and n_frames(html) == 3


@pytest.mark.parametrize(
    "mutate, err, match",
    [
        (lambda r: r[1.0].pop("samples"), ValueError, r"results\[1\] has no \['samples'\]"),
        (lambda r: r[1.0].update(samples=torch.rand(3, 100)), ValueError, "100 values"),
        (lambda r: r[1.0].update(reconstructions=torch.randn(3, 784) * 10), ValueError, "logits"),
        (lambda r: r.update({"big": r[1.0]}), TypeError, "keyed by the swept number"),
        (lambda r: r[1.0].update(elbo=float("nan")), ValueError, "one finite number"),
    ],
)
def test_sweep_explorer_errors(mutate, err, match):
    results = sweep_results(lams=[0.5, 1.0])
    mutate(results)
    with pytest.raises(err, match=match):
        widgets.sweep_explorer(results)
    with pytest.raises(ValueError, match="non-empty"):
        widgets.sweep_explorer({})


# ------------------------------------------------------------------------------------------------- latent_explorer


def test_latent_explorer_panels_and_fixed_limits():
    runs = toy_runs()
    ex = widgets.latent_explorer(runs)
    assert ex.values == {"model": ["all models", "VAE", "InfoVAE"], "lam": [0.5, 1.0], "epoch": EPOCHS}
    fig = ex.figure(lam=1.0, epoch=5)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["VAE", "InfoVAE"]
    np.testing.assert_allclose(np.sort(scatter_offsets(fig, 1), axis=0), np.sort(runs["InfoVAE"][1.0]["z"][2], axis=0))
    legend = fig.axes[1].get_legend()
    assert fig.axes[0].get_legend() is None
    assert [t.get_text() for t in legend.get_texts()] == [f"$x = e_{{{k}}}$" for k in range(1, 5)]
    assert fig.axes[0].get_xlabel() == "$z_1$" and fig.axes[0].get_ylabel() == "$z_2$"
    one = ex.figure(model="VAE", lam=1.0, epoch=1)
    assert len(one.axes) == 1 and one.axes[0].get_title() == "VAE"
    # the same limits for every epoch and model at one λ, so an animation does not jump
    assert one.axes[0].get_xlim() == fig.axes[0].get_xlim() == fig.axes[1].get_ylim()


def test_latent_explorer_live_and_static():
    runs = toy_runs(models=("VAE",), lams=(1.0,))
    ex = widgets.latent_explorer(runs)
    html = ex.static(over="epoch", model="all models", lam=1.0, dpi=30)
    assert "anim-slider" in html.data and n_frames(html) == len(EPOCHS)

    pytest.importorskip("ipywidgets")
    ex.live(model="VAE")
    z = runs["VAE"][1.0]["z"]
    before = scatter_offsets(ex.current_figure)
    np.testing.assert_allclose(np.sort(before, axis=0), np.sort(z[0], axis=0))
    ex.controls["epoch"].value = 5
    after = scatter_offsets(ex.current_figure)
    np.testing.assert_allclose(np.sort(after, axis=0), np.sort(z[2], axis=0))
    assert ex.current_figure._suptitle.get_text() == "model = VAE, λ = 1, epoch = 5"


def _set(path, value):
    def mutate(runs):
        model, lam, key = path
        runs[model][lam][key] = value
    return mutate


@pytest.mark.parametrize(
    "mutate, match",
    [
        (_set(("VAE", 1.0, "z"), np.zeros((3, 12, 3))), r"\['z'\] has shape \[3, 12, 3\]; expected \[n_epochs=3"),
        (_set(("VAE", 1.0, "z"), np.zeros((2, 12, 2))), "n_epochs=3"),
        (_set(("VAE", 1.0, "labels"), np.arange(11) % 4), "one label per point"),
        (_set(("VAE", 1.0, "labels"), np.arange(12) - 1), "non-negative integers"),
        (_set(("InfoVAE", 0.5, "epochs"), [1, 2, 3]), "same epochs"),
        (lambda r: r["InfoVAE"].pop(0.5), "same λ values"),
        (lambda r: r["VAE"][1.0].pop("labels"), r"has no \['labels'\]"),
        (lambda r: r.update({"all models": r["VAE"]}), "model names"),
    ],
)
def test_latent_explorer_errors(mutate, match):
    runs = toy_runs()
    mutate(runs)
    with pytest.raises(ValueError, match=match):
        widgets.latent_explorer(runs)
