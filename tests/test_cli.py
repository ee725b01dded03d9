"""python -m vaelab: train / evaluate / reproduce / list, results files, resuming, and clear errors."""

import json

import pytest

from vaelab import experiments
from vaelab.__main__ import main

TINY = ["--z-dim", "2", "--hidden", "16", "--epochs", "2", "--k", "5", "--quiet"]


def test_list_names_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in experiments.EXPERIMENTS)


def test_train_takes_an_activation_and_evaluate_rebuilds_it(tmp_path):
    out = tmp_path / "gated"
    assert main(["train", "--kind", "vae", "--activation", "gated", "--out", str(out), *TINY]) == 0
    stored = json.loads((out / "spec.json").read_text())["spec"]
    assert stored["activation"] == "gated"
    assert main(["evaluate", str(out), "--k", "3", "--quiet"]) == 0  # the checkpoint loads into gated layers
    assert json.loads((out / "results.json").read_text())["models"]["vae"]["spec"]["activation"] == "gated"
    with pytest.raises(SystemExit):
        main(["train", "--activation", "swish", "--out", str(tmp_path / "bad"), *TINY])


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
    assert (out / entry["samples_figure"]).stat().st_size > 1000
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
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: exit status 2 and a usage line naming the choices
        main(["reproduce", "no-such-experiment"])


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


def test_train_refuses_other_settings_in_a_used_folder_before_writing_anything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--kind", "vae", "--out", str(out), *TINY]) == 0
    spec_before = (out / "spec.json").read_text()
    assert main(["train", "--kind", "vae", "--lr", "0.01", "--out", str(out), *TINY]) == 2
    assert "other settings" in capsys.readouterr().err
    assert (out / "spec.json").read_text() == spec_before  # the folder still evaluates
    assert main(["evaluate", str(out), "--quiet"]) == 0


def test_evaluate_never_trains_a_missing_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--kind", "vae", "--out", str(out), *TINY]) == 0
    results = (out / "results.json").read_text()
    for checkpoint in (out / "checkpoints").glob("*.pt"):
        checkpoint.unlink()
    assert main(["evaluate", str(out), "--quiet"]) == 2
    assert "evaluating never trains" in capsys.readouterr().err
    assert (out / "results.json").read_text() == results and not list((out / "checkpoints").glob("*.pt"))


def test_a_seed_trains_another_model(tmp_path):
    runs = {}
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}"
        assert main(["train", "--kind", "vae", "--seed", str(seed), "--out", str(out), *TINY]) == 0
        runs[seed] = json.loads((out / "results.json").read_text())["models"]["vae"]
    assert runs[0]["spec"]["seed"] == 0 and runs[1]["spec"]["seed"] == 1 and runs[0]["elbo"] != runs[1]["elbo"]


def test_train_prints_a_results_table_and_json_on_request(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY]) == 0
    table = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("model"))
    assert "ELBO" in table[header] and "log p(x)" in table[header] and set(table[header + 1]) == {"-"}
    entry = json.loads((out / "results.json").read_text())["models"]["vae"]
    assert table[header + 2].split()[0] == "vae" and f"{entry['elbo']:.2f}" in table[header + 2]

    assert main(["evaluate", str(out), "--json", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert printed["models"]["vae"]["elbo"] == entry["elbo"]


def test_version_help_and_list(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"vaelab {experiments.__version__}"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    helped = capsys.readouterr().out
    assert "(default: 0.001)" in helped and "examples:" in helped and "(default: None)" not in helped
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in experiments.EXPERIMENTS:
        assert f"{name} " in listed
    assert listed.count(" cpu ") >= len(experiments.EXPERIMENTS) and "rough time" in listed


def test_the_time_estimate_grows_with_the_work():
    speed = 1e10
    cpu, paper = (experiments.estimate("vampprior", budget, speed) for budget in ("cpu", "paper"))
    assert cpu["models"] == paper["models"] == 2 and paper["epochs"] == 2 * 2000
    assert 10 * cpu["seconds"] < paper["seconds"]
    assert experiments.estimate("vampprior", "cpu", 2 * speed)["seconds"] == pytest.approx(cpu["seconds"] / 2)
