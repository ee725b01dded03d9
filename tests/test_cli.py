"""python -m vaelab: train / evaluate / reproduce / list, results files, resuming, and clear errors."""

import json

import pytest

import vaelab as vl
from vaelab import experiments
from vaelab.__main__ import main

TINY = ["--z-dim", "2", "--hidden", "16", "--epochs", "2", "--k", "5", "--quiet"]


def test_list_names_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in experiments.EXPERIMENTS)


@pytest.mark.parametrize("kind, cls", [("vae", vl.VAE), ("vamp", vl.VAE), ("implicit", vl.VAE), ("infovae", vl.InfoVAE),
                                       ("wae", vl.WAE), ("hebae", vl.HEBAE), ("two-stage", vl.VAE)])
def test_every_kind_builds_its_model(kind, cls):
    model = experiments.build(experiments.Spec("m", kind, z_dim=2, hidden=[8]), x_dim=784)
    assert type(model) is cls
    if kind == "vamp":
        assert isinstance(model.prior, vl.VampPrior)
    if kind == "two-stage":
        assert model.likelihood.learn_gamma


@pytest.mark.parametrize("budget", experiments.BUDGETS)
@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_named_experiment_builds_its_models_under_distinct_names(name, budget):
    data, specs = experiments.EXPERIMENTS[name](budget)
    stems = {experiments.file_stem(spec) for spec in specs}  # one checkpoint file each
    assert len(stems) == len(specs) and data["name"] in ("mnist", "fashion-mnist")
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


def test_train_takes_an_activation_and_evaluate_rebuilds_it(tmp_path):
    out = tmp_path / "gated"
    assert main(["train", "--kind", "vae", "--activation", "gated", "--out", str(out), *TINY]) == 0
    stored = json.loads((out / "spec.json").read_text())["spec"]
    assert stored["activation"] == "gated"
    assert main(["evaluate", str(out), "--k", "3", "--quiet"]) == 0  # the checkpoint loads into gated layers
    assert json.loads((out / "results.json").read_text())["models"]["vae"]["spec"]["activation"] == "gated"
    with pytest.raises(SystemExit):
        main(["train", "--activation", "swish", "--out", str(tmp_path / "bad"), *TINY])


def test_the_two_stage_experiment_follows_dai_and_wipfs_schedule_on_paper():
    _, specs = experiments.EXPERIMENTS["two-stage"]("paper")
    two_stage = next(spec for spec in specs if spec.kind == "two-stage")
    assert (two_stage.batch_size, two_stage.lr, two_stage.lr_decay_every, two_stage.lr_decay) == (64, 1e-4, 150, 0.5)
    assert (two_stage.stage_two_epochs, two_stage.stage_two_lr, two_stage.stage_two_lr_decay_every) == (800, 1e-4, 300)
    assert two_stage.stage_two_hidden == [1024, 1024, 1024]
    _, cpu = experiments.EXPERIMENTS["two-stage"]("cpu")
    assert all(spec.lr_decay_every == 0 and spec.stage_two_lr_decay_every == 0 for spec in cpu)


def test_a_two_stage_run_trains_its_second_stage_as_specified(tmp_path):
    spec = experiments.Spec("two", "two-stage", z_dim=2, hidden=[8], epochs=2, batch_size=200, lr=1e-3,
                            lr_decay_every=1, stage_two_epochs=3, stage_two_hidden=[6], stage_two_lr=0.02,
                            stage_two_lr_decay_every=2)
    data = {"name": "mnist", "source": "subset", "n_train": 400, "n_test": 100, "k": 0}
    experiments.EXPERIMENTS["_test"] = lambda budget: (dict(data), [spec])
    try:
        experiments.run("_test", out=tmp_path, progress=False, verbose=False)
    finally:
        experiments.EXPERIMENTS.pop("_test")
    stage_one = vl.load_checkpoint(tmp_path / "_test-cpu" / "checkpoints" / "two.pt")
    stage_two = vl.load_checkpoint(tmp_path / "_test-cpu" / "checkpoints" / "two-stage2.pt")
    assert stage_one.history.lr == pytest.approx([1e-3, 5e-4])
    assert stage_two.history.lr == pytest.approx([0.02, 0.02, 0.01])
    assert stage_two.model.encoder[0].out_features == 6 and stage_two.model.z_dim == 2


def test_train_writes_results_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--kind", "vae", "--out", str(out), *TINY]) == 0
    results = json.loads((out / "results.json").read_text())
    entry = results["models"]["vae"]
    for key in ("elbo", "recon", "log_likelihood", "active_units", "mmd_to_prior", "logdet_cov_qz", "fd", "kid",
                "train_seconds"):
        assert key in entry, key
    assert results["hardware"]["device"] == "cpu" and results["data"]["n_train"] == 8000
    assert "shipped" in results["data"]["source_used"]
    assert (out / "checkpoints" / entry["samples_figure"]).stat().st_size > 1000
    # a second run resumes from the finished checkpoint: no new training, the same model and numbers
    assert main(["train", "--kind", "vae", "--out", str(out), *TINY]) == 0
    again = json.loads((out / "results.json").read_text())["models"]["vae"]
    assert again["elbo"] == entry["elbo"] and again["train_seconds"] == entry["train_seconds"]
    assert main(["evaluate", str(out), "--k", "3", "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["models"]["vae"]["elbo"] == entry["elbo"]


def test_a_wae_has_no_likelihood_entries(tmp_path):
    out = tmp_path / "wae"
    assert main(["train", "--kind", "wae", "--out", str(out), *TINY]) == 0
    entry = json.loads((out / "results.json").read_text())["models"]["wae"]
    assert "elbo" not in entry and "log_likelihood" not in entry and "recon" in entry


def test_bad_input_gives_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no spec.json"):
        main(["evaluate", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["reproduce", "no-such-experiment"])
    with pytest.raises(ValueError, match="Unknown experiment"):
        experiments.run("no-such-experiment")
    with pytest.raises(ValueError, match="budget must be"):
        experiments.run("compare", budget="huge")
    with pytest.raises(ValueError, match="Unknown model kind"):
        experiments.build(experiments.Spec("m", "gan"), x_dim=784)


def test_full_mnist_without_a_network_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAELAB_OFFLINE", "1")
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = main(["train", "--source", "full", "--out", str(tmp_path / "full"), *TINY])
    assert code == 2
    assert "--source subset" in capsys.readouterr().err


def test_the_precision_is_recorded_and_evaluate_resumes_in_it(tmp_path):
    out = tmp_path / "bf16"
    assert main(["train", "--kind", "vae", "--precision", "bfloat16", "--out", str(out), *TINY]) == 0
    entry = json.loads((out / "results.json").read_text())["models"]["vae"]
    assert entry["spec"]["precision"] == "bfloat16"
    # evaluate rebuilds the spec from spec.json: a float32 fit would refuse the bfloat16 checkpoint
    assert main(["evaluate", str(out), "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["models"]["vae"]["elbo"] == entry["elbo"]
