"""vaelab.experiments: specs and the registry of kinds, the named experiments' settings against their papers, the
shared checkpoint store, run_specs (train, resume, evaluate without training, reuse of evaluations), clear errors."""

import json

import pytest
import torch

import vaelab as vl
from vaelab import experiments
from vaelab.experiments import Spec

SMALL = {"name": "mnist", "source": "subset", "n_train": 400, "n_test": 100, "k": 0}


@pytest.mark.parametrize("kind, cls", [("vae", vl.VAE), ("vamp", vl.VAE), ("implicit", vl.VAE), ("infovae", vl.InfoVAE),
                                       ("wae", vl.WAE), ("hebae", vl.HEBAE), ("two-stage", vl.TwoStageVAE)])
def test_every_kind_builds_its_model(kind, cls):
    model = experiments.build(Spec("m", kind, z_dim=2, hidden=[8]), x_dim=784)
    assert type(model) is cls
    if kind == "vamp":
        assert isinstance(model.prior, vl.VampPrior)
    if kind == "two-stage":
        assert model.first.likelihood.learn_gamma and model.second.x_dim == 2


def test_unknown_options_are_an_error_never_dropped():
    with pytest.raises(ValueError, match=r"the 'vamp' model has no option\(s\) \['k'\]; its options are "
                                         r"\{'K': 500, 'parameterization': 'projected'\}"):
        experiments.build(Spec("m", "vamp", options={"k": 50}), x_dim=784)
    with pytest.raises(ValueError, match=r"'implicit' model has no option\(s\) \['K'\]"):
        experiments.build(Spec("m", "implicit", options={"K": 50}), x_dim=784)
    model = experiments.build(Spec("m", "implicit", z_dim=4, hidden=[8], options={"every": "epoch", "steps": 3}), 784)
    assert (model.prior.every, model.prior.steps) == ("epoch", 3)  # options reach the prior
    with pytest.raises(ValueError, match="Unknown model kind 'gan'"):
        experiments.build(Spec("m", "gan"), x_dim=784)


def test_the_seed_initializes_the_networks():
    a, b, c = (experiments.build(Spec("m", "vae", hidden=[8], seed=s), 784) for s in (0, 0, 1))
    assert torch.equal(a.encoder[0].weight, b.encoder[0].weight)
    assert not torch.equal(a.encoder[0].weight, c.encoder[0].weight)


def test_a_new_kind_is_registered_without_editing_the_library():
    def build_beta(spec, x_dim, beta=4.0):
        model = vl.VAE(x_dim, spec.z_dim, spec.hidden)
        model.beta = beta
        return model

    experiments.register_kind("beta-vae", build_beta)
    try:
        model = experiments.build(Spec("b", "beta-vae", z_dim=3, hidden=[8], options={"beta": 2.0}), 784)
        assert model.beta == 2.0 and experiments.kind_options("beta-vae") == {"beta": 4.0}
    finally:
        experiments.KINDS.pop("beta-vae")
    with pytest.raises(ValueError, match="builder"):
        experiments.register_kind("bad", lambda x: x)


def test_old_spec_files_with_two_stage_fields_still_load():
    old = {"name": "two", "kind": "two-stage", "stage_two_epochs": 5, "stage_two_hidden": [6], "stage_two_lr": 0.01,
           "stage_two_lr_decay_every": 0}
    spec = Spec.from_dict(old)
    assert spec.options == {"stage_two_epochs": 5, "stage_two_hidden": [6], "stage_two_lr": 0.01,
                            "stage_two_lr_decay_every": 0}
    with pytest.raises(ValueError, match=r"Unknown spec field\(s\) \['colour'\]"):
        Spec.from_dict({"name": "m", "kind": "vae", "colour": "red"})


@pytest.mark.parametrize("budget", experiments.BUDGETS)
@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_named_experiment_builds_its_models_under_distinct_names(name, budget):
    data, specs = experiments.EXPERIMENTS[name](budget)
    assert len({spec.name for spec in specs}) == len(specs) and data["name"] in ("mnist", "fashion-mnist")
    assert len({spec.key() for spec in specs}) == len(specs)  # one checkpoint each
    for spec in specs:
        assert experiments.build(spec, 784).z_dim == spec.z_dim


def test_the_vampprior_experiment_has_the_papers_gated_layers():
    for budget in experiments.BUDGETS:
        _, specs = experiments.EXPERIMENTS["vampprior"](budget)
        for spec in specs:
            model = experiments.build(spec, 784)
            assert spec.activation == "gated"
            assert [type(m).__name__ for m in model.encoder] == ["GatedLinear", "GatedLinear", "Linear"]
            assert model.encoder[0].out_dim == 300 and model.z_dim == 40
            assert spec.lr == (5e-4 if budget == "paper" else 1e-3)  # Tomczak & Welling's code: Adam 5e-4


def test_the_hebae_experiment_decays_its_rate_as_the_paper_on_paper():
    _, specs = experiments.EXPERIMENTS["hebae"]("paper")
    assert {(s.lr, s.lr_decay_every, s.lr_decay, s.batch_size, s.epochs) for s in specs} == {(1e-3, 1, 0.995, 128, 100)}
    _, cpu = experiments.EXPERIMENTS["hebae"]("cpu")
    assert all(spec.lr_decay_every == 0 for spec in cpu)


def test_the_two_stage_experiment_follows_dai_and_wipfs_schedule_on_paper():
    _, specs = experiments.EXPERIMENTS["two-stage"]("paper")
    two_stage = next(spec for spec in specs if spec.kind == "two-stage")
    assert (two_stage.batch_size, two_stage.lr, two_stage.lr_decay_every, two_stage.lr_decay) == (64, 1e-4, 150, 0.5)
    assert two_stage.options == {"stage_two_epochs": 800, "stage_two_lr": 1e-4, "stage_two_lr_decay_every": 300,
                                 "stage_two_hidden": [1024, 1024, 1024]}
    _, cpu = experiments.EXPERIMENTS["two-stage"]("cpu")
    assert all(spec.lr_decay_every == 0 and spec.options.get("stage_two_lr_decay_every", 0) == 0 for spec in cpu)


def test_a_two_stage_run_trains_its_second_stage_as_specified(tmp_path):
    spec = Spec("two", "two-stage", z_dim=2, hidden=[8], epochs=2, batch_size=200, lr=1e-3, lr_decay_every=1,
                options={"stage_two_epochs": 3, "stage_two_hidden": [6], "stage_two_lr": 0.02,
                         "stage_two_lr_decay_every": 2})
    results = experiments.run_specs(SMALL, [spec], tmp_path, progress=False, verbose=False)
    path = experiments.Path(results["models"]["two"]["checkpoint"])
    stage_one = vl.load_checkpoint(path, model=experiments.build(spec, 784).first)
    stage_two = vl.load_checkpoint(path.with_name(path.stem + "-stage2.pt"), model=experiments.build(spec, 784).second)
    assert stage_one.history.lr == pytest.approx([1e-3, 5e-4])
    assert stage_two.history.lr == pytest.approx([0.02, 0.02, 0.01])
    assert stage_two.model.encoder[0].out_features == 6 and stage_two.model.z_dim == 2
    # the trained two-stage model is returned, evaluated as its first stage, sampled through both
    model = results.trained["two"]
    assert isinstance(model, vl.TwoStageVAE) and results["models"]["two"]["active_units"] <= 2
    assert model.sample(3).shape == (3, 784)


def test_equal_models_share_one_checkpoint_across_experiments(tmp_path):
    spec = Spec("a", "vae", z_dim=2, hidden=[8], epochs=2)
    first = experiments.run_specs(SMALL, [spec], tmp_path / "one", store=tmp_path / "store", progress=False,
                                  verbose=False)
    renamed = Spec("another name", "vae", z_dim=2, hidden=[8], epochs=2)
    second = experiments.run_specs(SMALL, [renamed], tmp_path / "two", store=tmp_path / "store", progress=False,
                                   verbose=False)
    assert first["models"]["a"]["checkpoint"] == second["models"]["another name"]["checkpoint"]
    assert second["models"]["another name"]["train_seconds"] == first["models"]["a"]["train_seconds"]  # loaded
    other_seed = Spec("a", "vae", z_dim=2, hidden=[8], epochs=2, seed=1)
    third = experiments.run_specs(SMALL, [other_seed], tmp_path / "three", store=tmp_path / "store", progress=False,
                                  verbose=False)
    assert third["models"]["a"]["checkpoint"] != first["models"]["a"]["checkpoint"]
    assert len(list((tmp_path / "store").glob("*.pt"))) == 2


def test_with_seeds_names_every_copy():
    specs = experiments.with_seeds([Spec("VAE", "vae"), Spec("WAE", "wae")], seeds=[0, 1, 2])
    assert [s.name for s in specs[:3]] == ["VAE, seed 0", "VAE, seed 1", "VAE, seed 2"]
    assert [s.seed for s in specs] == [0, 1, 2, 0, 1, 2]


def test_evaluation_never_trains_and_is_reused_when_nothing_changed(tmp_path):
    spec = Spec("m", "vae", z_dim=2, hidden=[8], epochs=2)
    with pytest.raises(FileNotFoundError, match="evaluating never trains"):
        experiments.run_specs(SMALL, [spec], tmp_path, train=False, progress=False, verbose=False)
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").glob("*.pt"))
    done = experiments.run_specs(dict(SMALL, k=5), [spec], tmp_path, progress=False, verbose=False)
    again = experiments.run_specs(dict(SMALL, k=5), [spec], tmp_path, train=False, progress=False, verbose=False)
    assert again["models"]["m"]["evaluation_key"] == done["models"]["m"]["evaluation_key"]
    assert again["models"]["m"]["log_likelihood"] == done["models"]["m"]["log_likelihood"]
    longer = Spec("m", "vae", z_dim=2, hidden=[8], epochs=3)  # another model: its checkpoint does not exist yet
    with pytest.raises(FileNotFoundError, match="No checkpoint for 'm'"):
        experiments.run_specs(SMALL, [longer], tmp_path, train=False, progress=False, verbose=False)


def test_results_are_written_atomically_and_name_their_setting(tmp_path, monkeypatch):
    spec = Spec("m", "vae", z_dim=2, hidden=[8], epochs=1)
    experiments.run_specs(SMALL, [spec], tmp_path, progress=False, verbose=False)
    before = (tmp_path / "results.json").read_text()
    results = json.loads(before)
    assert results["data"]["n_train"] == 400 and "shipped" in results["data"]["source_used"]
    assert results["hardware"]["device"] == "cpu"

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(experiments.json, "dumps", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        experiments.run_specs(SMALL, [Spec("m", "vae", z_dim=2, hidden=[8], epochs=2)], tmp_path, progress=False,
                              verbose=False)
    assert (tmp_path / "results.json").read_text() == before  # the previous results are intact
    assert not list(tmp_path.glob(".results.json.*"))


def test_run_refuses_bad_names_budgets_and_repeated_spec_names(tmp_path):
    with pytest.raises(ValueError, match="name \\(the experiment\\) must be one of"):
        experiments.run("no-such-experiment")
    with pytest.raises(ValueError, match="budget must be one of"):
        experiments.run("compare", budget="huge")
    with pytest.raises(ValueError, match="Spec names must be distinct"):
        experiments.run_specs(SMALL, [Spec("m", "vae"), Spec("m", "wae")], tmp_path, verbose=False)


def test_an_epoch_cap_shortens_every_model_and_keeps_its_results_apart(tmp_path, monkeypatch):
    def tiny(budget):
        return dict(SMALL, k=0), [Spec("a", "vae", z_dim=2, hidden=[8], epochs=5, warmup=4),
                                  Spec("b", "wae", z_dim=2, hidden=[8], epochs=1)]

    monkeypatch.setitem(experiments.EXPERIMENTS, "tiny", tiny)
    results = experiments.run("tiny", out=tmp_path, epochs=2, progress=False, verbose=False)
    assert (tmp_path / "tiny-cpu-e2" / "results.json").exists() and not (tmp_path / "tiny-cpu").exists()
    assert [len(h.train_loss) for h in results.histories.values()] == [2, 1]
    assert results["models"]["a"]["spec"]["warmup"] == 2
    with pytest.raises(ValueError, match="epochs"):
        experiments.run("tiny", out=tmp_path, epochs=0, progress=False, verbose=False)
