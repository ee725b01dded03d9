"""vaelab.toy: the one-hot toy's sweep over models, KL weights and seeds, and the reconstruction accuracy against a
direct count."""

import pytest
import torch

import vaelab as vl


def test_sweep_trains_every_model_weight_and_seed_and_records_the_first_seed():
    train, test = vl.load("onehot", split="train", n=200, verbose=False), vl.load("onehot", split="test", verbose=False)
    makers = {"VAE": lambda: vl.VAE(x_dim=4, z_dim=2, hidden=[8]),
              "WAE": lambda: vl.WAE(x_dim=4, z_dim=2, hidden=[8], mmd_lambda=10.0)}
    result = vl.toy.sweep(makers, train, test, kl_weights=[0.5, 2.0], seeds=[0, 1], epochs=4, every=2,
                          no_kl_weight={"WAE"})
    assert len(result.models) == 8 and len({id(m) for m in result.models.values()}) == 6  # the WAE once per seed
    assert result.model("WAE", 0.5, 1) is result.model("WAE", 2.0, 1)
    assert result.runs["VAE"][0.5]["epochs"] == [0, 2, 4] and result.runs["VAE"][0.5]["z"].shape == (3, 200, 2)
    assert not torch.equal(result.model("VAE", 0.5, 0).encoder[0].weight, result.model("VAE", 0.5, 1).encoder[0].weight)


def test_reconstruction_accuracy_counts_the_hot_coordinate():
    test = vl.load("onehot", split="test", verbose=False)

    class Perfect(vl.VAE):
        def decode(self, z):  # the true input's logits, whatever z is: every code decodes to its own input
            return 10 * self._inputs.expand(len(z), *self._inputs.shape[-2:])

    model = Perfect(x_dim=4, z_dim=2, hidden=[8])
    model._inputs = test.as_subclass(torch.Tensor)
    assert vl.toy.reconstruction_accuracy(model, test, samples=3) == 1.0
    with pytest.raises(ValueError, match=r"needs data with \.labels"):
        vl.toy.reconstruction_accuracy(model, torch.eye(4))


def test_a_stored_sweep_is_loaded_with_its_recorded_codes_instead_of_trained_again(tmp_path):
    train, test = vl.load("onehot", split="train", n=200, verbose=False), vl.load("onehot", split="test", verbose=False)
    makers = {"VAE": lambda: vl.VAE(x_dim=4, z_dim=2, hidden=[8])}
    first = vl.toy.sweep(makers, train, test, kl_weights=[1.0], seeds=[0], epochs=4, every=2, store=tmp_path)
    again = vl.toy.sweep(makers, train, test, kl_weights=[1.0], seeds=[0], epochs=4, every=2, store=tmp_path)
    assert len(list(tmp_path.glob("toy-*.pt"))) == 2  # the checkpoint and its codes
    assert torch.equal(first.model("VAE", 1.0, 0).encoder[0].weight, again.model("VAE", 1.0, 0).encoder[0].weight)
    assert again.runs["VAE"][1.0]["epochs"] == [0, 2, 4]
    assert (again.runs["VAE"][1.0]["z"] == first.runs["VAE"][1.0]["z"]).all()
