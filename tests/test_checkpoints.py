"""vaelab.checkpoints: save_checkpoint and load_checkpoint rebuild the model bit for bit, write atomically, and give
clear errors for another model's, a saved model's (not a training run), a corrupted, a foreign or an unsafe
checkpoint, and for a checkpoint with a learned prior loaded without its model."""

import pytest
import torch
from helpers import params, same, small_data, small_model, vamp_model

import vaelab as vl


def test_checkpoint_round_trip_rebuilds_the_model(tmp_path):
    model = small_model()
    history = vl.fit(model, small_data(), epochs=2, batch_size=50, checkpoint=tmp_path / "run.pt", progress=False)
    loaded = vl.load_checkpoint(tmp_path / "run.pt")
    assert same(params(loaded.model), params(model)) and loaded.history == history and loaded.epoch == 2
    into = small_model(seed=5)
    vl.load_checkpoint(tmp_path / "run.pt", model=into)
    assert same(params(into), params(model))
    vl.save_checkpoint(model, tmp_path / "plain.pt")
    assert same(params(vl.load_checkpoint(tmp_path / "plain.pt").model), params(model))


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    model = small_model()
    vl.save_checkpoint(model, path)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        vl.save_checkpoint(small_model(seed=1), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_checkpoint_of_another_model_is_refused(tmp_path):
    vl.save_checkpoint(small_model(), tmp_path / "run.pt")
    torch.manual_seed(0)
    other = vl.VAE(x_dim=30, z_dim=5, hidden=[16])
    with pytest.raises(ValueError, match=r"another model: .*z_dim=3 there, 5 here"):
        vl.load_checkpoint(tmp_path / "run.pt", model=other)
    with pytest.raises(ValueError, match="another model"):
        vl.fit(other, small_data(), epochs=1, batch_size=50, checkpoint=tmp_path / "run.pt", progress=False)


def test_a_saved_model_is_not_mistaken_for_a_training_run(tmp_path):
    vl.save_checkpoint(small_model(), tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"holds a saved model \(save_checkpoint\), not a training run"):
        vl.fit(small_model(), small_data(), epochs=1, batch_size=50, checkpoint=tmp_path / "model.pt", progress=False)


def test_corrupted_or_foreign_checkpoints_give_clear_errors(tmp_path):
    path = tmp_path / "run.pt"
    vl.save_checkpoint(small_model(), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="damaged, truncated or not a vaelab checkpoint"):
        vl.load_checkpoint(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a vaelab checkpoint"):
        vl.load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        vl.load_checkpoint(tmp_path / "missing.pt")


class Payload:
    """An arbitrary Python object: a weights_only load must refuse to unpickle it."""


def test_checkpoints_load_with_weights_only(tmp_path):
    path = tmp_path / "run.pt"
    torch.save({"format": "vaelab-checkpoint/1", "payload": Payload()}, path)
    with pytest.raises(ValueError, match="not a vaelab checkpoint"):
        vl.load_checkpoint(path)


def test_an_old_checkpoint_with_a_learned_prior_asks_for_the_model(tmp_path):
    model = vamp_model()
    path = tmp_path / "vamp.pt"
    vl.save_checkpoint(model, path)
    assert same(params(vl.load_checkpoint(path).model), params(model))  # rebuilt from its description
    state = torch.load(path, weights_only=True)
    del state["model_description"]  # as written before vaelab recorded it
    torch.save(state, path)
    with pytest.raises(ValueError, match="pass it"):
        vl.load_checkpoint(path)
    assert same(params(vl.load_checkpoint(path, model=vamp_model(seed=3)).model), params(model))
