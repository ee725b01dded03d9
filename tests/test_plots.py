"""Tests of vaelab.plots: each figure has the expected image size / artists, and bad input a clear error."""

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vaelab import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def grid_array(fig):
    (ax,) = fig.axes
    (im,) = ax.images
    return np.asarray(im.get_array())


# ------------------------------------------------------------------------------------------------- image_grid


def test_image_grid_flat_tensor_default_layout():
    x = torch.rand(10, 784)
    fig = plots.image_grid(x)
    assert isinstance(fig, Figure)
    # ceil(sqrt(10)) = 4 per row, 3 rows; 1-pixel borders around and between the 28x28 tiles
    assert grid_array(fig).shape == (3 * 29 + 1, 4 * 29 + 1)
    assert plt.get_fignums() == []  # not left open in pyplot


def test_image_grid_places_images_row_by_row():
    x = np.zeros((6, 28, 28))
    x[4] = 1.0  # 5th image: row 1, column 1 with nrow=3
    g = grid_array(plots.image_grid(x, nrow=3))
    assert g.shape == (2 * 29 + 1, 3 * 29 + 1)
    assert g[30:58, 30:58].min() == 1.0
    assert g[1:29, 1:29].max() == 0.0
    assert g[0].min() == 1.0  # border row, pad_value=1


def test_image_grid_shapes_and_options():
    assert grid_array(plots.image_grid(torch.rand(4, 1, 28, 28), padding=0)).shape == (56, 56)
    assert grid_array(plots.image_grid(torch.rand(784))).shape == (30, 30)  # one image
    assert grid_array(plots.image_grid(np.random.rand(3, 20), shape=(4, 5), nrow=3)).shape == (6, 19)
    # values slightly outside [0, 1] (a Gaussian decoder's mean) are clipped, not rejected
    g = grid_array(plots.image_grid(torch.full((2, 784), 1.2)))
    assert g.max() == 1.0


def test_image_grid_accepts_grad_and_title_and_ax():
    x = torch.rand(8, 784, requires_grad=True)
    fig, (a, b) = plt.subplots(1, 2)
    out = plots.image_grid(x, ax=b, title="samples")
    assert out is fig
    assert b.get_title() == "samples" and len(b.images) == 1 and len(a.images) == 0


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.rand(5, 100), "100 values"),
        (torch.rand(0, 784), "empty"),
        (torch.randn(5, 784) * 5, "logits"),
        (torch.randint(0, 256, (5, 784)).float(), "255"),
        (torch.full((2, 784), float("nan")), "NaN"),
        (torch.rand(2, 3, 28, 28), "grayscale"),
        (torch.rand(2, 2, 2, 2, 2), "expected"),
    ],
)
def test_image_grid_errors(images, match):
    with pytest.raises(ValueError, match=match):
        plots.image_grid(images)


# ------------------------------------------------------------------------------------------------- latent_scatter


def test_latent_scatter_ten_classes():
    z = torch.randn(1000, 2)
    y = torch.arange(1000) % 10
    fig = plots.latent_scatter(z, y, title="q(z)")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (sc,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(sc.get_offsets()) == 1000
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [str(k) for k in range(10)]
    assert ax.get_title() == "q(z)"
    # the same label gets the same colour whatever else is in the plot
    fig2 = plots.latent_scatter(torch.randn(10, 2), torch.full((10,), 3))
    c3 = fig2.axes[0].collections[0].get_facecolors()[0][:3]
    assert np.allclose(c3, plt.get_cmap("tab10")(3)[:3])


def test_latent_scatter_class_names_no_labels_and_many_classes():
    names = ["zero", "one", "two"]
    fig = plots.latent_scatter(np.random.randn(30, 2), np.arange(30) % 3, class_names=names)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == names
    fig = plots.latent_scatter(np.random.randn(30, 2))
    assert fig.axes[0].get_legend() is None
    fig = plots.latent_scatter(np.random.randn(50, 2), np.arange(50))  # 50 classes: a colour bar
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    "z, labels, err, match",
    [
        (torch.randn(10, 20), None, ValueError, "20-D"),
        (torch.randn(10), None, ValueError, "2-D codes"),
        ((torch.randn(10, 2), torch.randn(10, 2)), None, TypeError, "encode"),
        (torch.randn(10, 2), torch.arange(9), ValueError, "one label per code"),
        (torch.randn(10, 2), torch.rand(10), ValueError, "integers"),
    ],
)
def test_latent_scatter_errors(z, labels, err, match):
    with pytest.raises(err, match=match):
        plots.latent_scatter(z, labels)


# ------------------------------------------------------------------------------------------------ decoded_grid


class FakeModel(torch.nn.Module):
    """Decodes z to an image whose brightness is sigmoid(z1) everywhere; remembers what it was called with."""

    def __init__(self, z_dim=2, x_dim=784):
        super().__init__()
        self.z_dim, self.x_dim = z_dim, x_dim
        self.w = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
        self.calls = []

    def decode_mean(self, z):
        self.calls.append((z.clone(), torch.is_grad_enabled(), self.training))
        return torch.sigmoid(z[:, :1] * self.w).expand(len(z), self.x_dim)


def test_decoded_grid_grid_and_axes():
    model = FakeModel()
    model.train()
    fig = plots.decoded_grid(model, n=5, span=2.0)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert grid_array(fig).shape == (5 * 28, 5 * 28)
    (z, grad_enabled, training), = model.calls
    assert z.shape == (25, 2) and z.dtype == torch.float64  # on the model's device and dtype
    assert not grad_enabled and not training and model.training  # no_grad, eval mode, restored after
    # row-major from the top-left: z1 grows to the right, z2 downwards decreases
    assert torch.allclose(z[0], torch.tensor([-2.0, 2.0], dtype=torch.float64))
    assert torch.allclose(z[4], torch.tensor([2.0, 2.0], dtype=torch.float64))
    assert torch.allclose(z[-1], torch.tensor([2.0, -2.0], dtype=torch.float64))
    # axis in z-units: the tile centres are the grid points
    left, right, bottom, top = ax.images[0].get_extent()
    assert np.allclose([left, right, bottom, top], [-2.5, 2.5, -2.5, 2.5])
    g = grid_array(fig)
    assert g[:, :28].mean() < g[:, -28:].mean()  # brighter to the right, as sigmoid(z1)


def test_decoded_grid_plain_object_and_ax():
    class Plain:  # any object with z_dim and decode_mean, no parameters
        z_dim = 2

        def decode_mean(self, z):
            return torch.full((len(z), 16), 0.5)

    fig, ax = plt.subplots()
    assert plots.decoded_grid(Plain(), n=3, span=1.0, ax=ax, title="m") is fig
    assert np.asarray(ax.images[0].get_array()).shape == (12, 12)


@pytest.mark.parametrize(
    "model, kwargs, err, match",
    [
        (FakeModel(z_dim=20), {}, ValueError, "z_dim=20"),
        (object(), {}, TypeError, "z_dim"),
        (FakeModel(), {"n": 1}, ValueError, "n must be"),
        (FakeModel(), {"span": 0.0}, ValueError, "span"),
        (FakeModel(x_dim=100), {"shape": (28, 28)}, ValueError, "needs 784"),
    ],
)
def test_decoded_grid_errors(model, kwargs, err, match):
    with pytest.raises(err, match=match):
        plots.decoded_grid(model, **kwargs)


# ------------------------------------------------------------------------------------------------- training_curves


class History:  # the shape of vaelab.History
    def __init__(self, train, test):
        self.epoch = list(range(1, len(train) + 1))
        self.train_elbo, self.test_elbo = train, test


def test_training_curves_train_and_test():
    fig = plots.training_curves(History([-200.0, -150.0, -120.0], [-205.0, -160.0, -131.0]))
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    assert list(ax.lines[1].get_ydata()) == [-205.0, -160.0, -131.0]
    assert ax.get_ylabel() == "ELBO (nats per example)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]


def test_training_curves_empty_test_list_and_dict():
    fig = plots.training_curves(History([-200.0, -150.0], []))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train"]
    fig = plots.training_curves({"train_elbo": [-100.0]}, title="t")
    assert len(fig.axes[0].lines) == 1 and fig.axes[0].get_title() == "t"


def test_training_curves_errors():
    with pytest.raises(ValueError, match="empty"):
        plots.training_curves(History([], []))
    with pytest.raises(ValueError, match="one per epoch"):
        plots.training_curves(History([-1.0, -2.0], [-1.0]))
    with pytest.raises(TypeError, match="History"):
        plots.training_curves([1, 2, 3])


def test_the_old_name_of_decoded_grid_still_works_and_says_so():
    with pytest.warns(DeprecationWarning, match="decoded_grid"):
        fig = plots.manifold(FakeModel(), n=3, span=1.0)
    assert grid_array(fig).shape == (3 * 28, 3 * 28)
