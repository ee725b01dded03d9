"""vaelab.saving: model.save(folder) and vl.load_model(folder) rebuild every kind of model without the code that made
it (same parameters and buffers, same ELBO), load_checkpoint rebuilds every kind too, and a custom part that cannot be
rebuilt gets an error saying what to do."""

import json
import sys

import pytest
import torch
from helpers import params, same, small_data
from torch import nn

import vaelab as vl
from vaelab.experiments import Spec, build


def make(kind):
    torch.manual_seed(0)
    if kind == "vae-gaussian-learned-gamma":
        return vl.VAE(x_dim=30, z_dim=3, hidden=[16], likelihood="gaussian", learn_gamma=True, gamma_lr=0.01)
    if kind == "vae-monte-carlo-kl":
        return vl.VAE(x_dim=30, z_dim=3, hidden=[16], prior=vl.StandardNormal(3, kl="monte-carlo"))
    if kind == "vae-mlp-encoder":
        return vl.VAE(x_dim=30, z_dim=3, encoder=vl.MLP(30, [8, 8], 6, "tanh"), hidden=[16])
    if kind == "vamp-data-init":
        return vl.VAE(x_dim=30, z_dim=3, hidden=[16], prior=vl.VampPrior(4, 30, init=small_data(n=4).clone()))
    spec = Spec(kind, kind, z_dim=3, hidden=[16], activation="gated" if kind == "vae" else "relu",
                options={"stage_two_hidden": [8]} if kind == "two-stage" else {})
    return build(spec, 30)


KINDS = ["vae", "vamp", "implicit", "infovae", "wae", "hebae", "two-stage", "vae-gaussian-learned-gamma",
         "vae-monte-carlo-kl", "vae-mlp-encoder", "vamp-data-init"]


def trained(kind):
    model = make(kind)
    data = small_data()
    net = model.first if isinstance(model, vl.TwoStageVAE) else model
    vl.fit(net, data, epochs=1, batch_size=50, progress=False, binarize="none")
    if isinstance(model, vl.TwoStageVAE):
        vl.fit(model.second, vl.latent_codes(model.first, data), epochs=1, batch_size=50, progress=False)
    return model, data


def score(model, data):
    """The ELBO, or for a deterministic encoder (WAE) the reconstruction term."""
    parts = vl.elbo_parts(model, data, seed=1)
    return parts["recon"] if getattr(model, "deterministic_encoder", False) else parts["elbo"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_round_trips_through_a_folder(kind, tmp_path):
    model, data = trained(kind)
    folder = model.save(tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.pt"]
    loaded = vl.load_model(folder)
    assert type(loaded) is type(model) and not loaded.training
    assert same(params(loaded), params(model))  # parameters and buffers (HEBAE's running covariance, γ, ...)
    assert score(loaded, data) == score(model, data)
    torch.manual_seed(3)
    a = model.sample(5)
    torch.manual_seed(3)
    assert torch.equal(loaded.sample(5), a)


@pytest.mark.parametrize("kind", ["vamp", "implicit", "hebae", "infovae", "two-stage"])
def test_load_checkpoint_rebuilds_every_kind_without_the_model(kind, tmp_path):
    model, data = trained(kind)
    vl.save_checkpoint(model, tmp_path / "m.pt")
    loaded = vl.load_checkpoint(tmp_path / "m.pt").model
    assert type(loaded) is type(model) and same(params(loaded), params(model))


def test_the_description_is_plain_json_naming_every_part(tmp_path):
    model, _ = trained("vamp")
    description = json.loads((model.save(tmp_path / "v") / "model.json").read_text())
    assert description["format"] == "vaelab-model/1" and description["model"]["class"] == "vaelab.models.VAE"
    prior = description["model"]["kwargs"]["prior"]["__module__"]
    assert prior["class"] == "vaelab.priors.VampPrior"


class Unrecorded(nn.Module):
    """A custom encoder that vaelab cannot rebuild: constructor arguments it does not record."""

    def __init__(self, width):
        super().__init__()
        self.net = nn.Linear(30, width)

    def forward(self, x):
        return self.net(x)


class WithConfig(Unrecorded):
    def __init__(self, width):
        super().__init__(width)
        self.config = {"width": width}


def test_custom_parts_are_rebuilt_from_their_config_or_refused_with_the_fix(tmp_path):
    with_config = vl.VAE(x_dim=30, z_dim=3, hidden=[16], encoder=WithConfig(6))
    loaded = vl.load_model(with_config.save(tmp_path / "a"))
    assert same(params(loaded), params(with_config))

    unrecorded = vl.VAE(x_dim=30, z_dim=3, hidden=[16], encoder=Unrecorded(6))
    with pytest.raises(ValueError, match="Build the model yourself and load its weights"):
        vl.load_model(unrecorded.save(tmp_path / "b"))

    folder = with_config.save(tmp_path / "c")
    description = json.loads((folder / "model.json").read_text())
    description["model"]["kwargs"]["encoder"]["__module__"]["class"] = "not_imported_package.Encoder"
    (folder / "model.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match="not imported here .* Import not_imported_package first"):
        vl.load_model(folder)
    assert "not_imported_package" not in sys.modules  # reading a file never imports code


def test_bad_folders_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved vaelab model"):
        vl.load_model(tmp_path)
    folder = make("vae").save(tmp_path / "m")
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable saved-model description"):
        vl.load_model(folder)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        make("vae").save(tmp_path / "file")
