"""Faults injected where data could be lost or a result be silently wrong: a weight that turns NaN on the last step
of an epoch, a failed write of results.json and spec.json, a callback that draws from the global random stream
followed by an interruption and a resume, two runs on one checkpoint, a flipped byte in a checkpoint, half-written
temporary files, and an interrupted command line (SIGINT)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import params, results, same, small_data, small_model

import vaelab as vl
from vaelab import experiments, train
from vaelab.__main__ import main

WORKER = Path(__file__).with_name("resume_worker.py")
STEPS = 8  # small_data() has 400 rows: 8 steps of 50 per epoch


def poison_step(monkeypatch, at_step: int):
    """Make optimizer step number ``at_step`` (1, 2, ...) write a NaN into the first weight after updating: the loss
    of that step was computed before the update, so every loss of the epoch stays finite."""
    make = train.make_optimizer

    def make_poisoned(params, lr):
        optimizer = make(params, lr)
        step, count = optimizer.step, [0]

        def poisoned_step(*args, **kwargs):
            out = step(*args, **kwargs)
            count[0] += 1
            if count[0] == at_step:
                with torch.no_grad():
                    optimizer.param_groups[0]["params"][0].view(-1)[0] = float("nan")
            return out
        optimizer.step = poisoned_step
        return optimizer
    monkeypatch.setattr(train, "make_optimizer", make_poisoned)


def test_a_weight_turned_nan_on_the_last_step_of_an_epoch_is_never_checkpointed(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    poison_step(monkeypatch, at_step=2 * STEPS)  # the last step of epoch 2
    diverged = r"epoch 2: after its last step, NaN or infinite values appeared in encoder"
    with pytest.raises(vl.NonFiniteLossError, match=diverged) as caught:
        vl.fit(small_model(), small_data(), epochs=3, batch_size=50, checkpoint=path, progress=False)
    assert f"The checkpoint {path} holds epoch 1, the last one saved, with finite weights" in str(caught.value)
    kept = vl.load_checkpoint(path)
    assert kept.epoch == 1 and all(torch.isfinite(p).all() for p in kept.model.parameters())


def test_with_a_test_set_a_bad_last_update_raises_instead_of_returning_nan_weights(tmp_path, monkeypatch):
    poison_step(monkeypatch, at_step=2 * STEPS)  # the very last step of training
    data = small_data()
    with pytest.raises(vl.NonFiniteLossError, match="epoch 2") as caught:
        vl.fit(small_model(), data, epochs=2, batch_size=50, test=data[:50], checkpoint=tmp_path / "run.pt",
               progress=False)
    assert "holds epoch 1" in str(caught.value)


def test_the_message_says_when_no_checkpoint_exists_yet(tmp_path, monkeypatch):
    poison_step(monkeypatch, at_step=STEPS)
    with pytest.raises(vl.NonFiniteLossError, match="No checkpoint was written"):
        vl.fit(small_model(), small_data(), epochs=2, batch_size=50, checkpoint=tmp_path / "run.pt", progress=False)
    assert not (tmp_path / "run.pt").exists()
    monkeypatch.undo()
    poison_step(monkeypatch, at_step=3 * STEPS)
    with pytest.raises(vl.NonFiniteLossError) as caught:  # with checkpoint_every, the message names the saved epoch
        vl.fit(small_model(), small_data(), epochs=4, batch_size=50, checkpoint=tmp_path / "every.pt",
               checkpoint_every=2, progress=False)
    assert "holds epoch 2" in str(caught.value) and vl.load_checkpoint(tmp_path / "every.pt").epoch == 2


def test_a_failed_write_of_results_or_spec_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    for name in ("results.json", "spec.json"):
        path = tmp_path / name
        experiments.write_json(path, {"models": {"a": 1}})
        before = path.read_bytes()

        def failing_fsync(fd):
            raise OSError("No space left on device")
        with monkeypatch.context() as m:
            m.setattr(os, "fsync", failing_fsync)
            with pytest.raises(OSError, match="No space left"):
                experiments.write_json(path, {"models": {"a": 2, "b": 3}})
        assert path.read_bytes() == before and json.loads(before) == {"models": {"a": 1}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "spec.json"]  # no temporary file left


def test_a_failed_results_write_in_the_cli_keeps_the_previous_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    tiny = ["--z-dim", "2", "--hidden", "16", "--epochs", "1", "--k", "5", "--quiet"]
    assert main(["train", "--out", str(out), *tiny]) == 0
    before = (out / "results.json").read_text()
    capsys.readouterr()

    def failing_fsync(fd):
        raise OSError("No space left on device")
    monkeypatch.setattr(os, "fsync", failing_fsync)
    assert main(["evaluate", str(out), "--k", "7", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == "error: No space left on device"
    assert (out / "results.json").read_text() == before


class GlobalRandomCallback:
    """A callback that draws from the global random stream, as a figure's ``model.sample(4)`` does, and can stop the
    process (like a kill) right after epoch ``stop_at``'s checkpoint."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at

    def __call__(self, epoch, history, model):
        model.sample(4)
        torch.rand(7)
        if epoch == self.stop_at:
            raise KeyboardInterrupt


def test_a_callback_drawing_random_numbers_changes_neither_training_nor_a_resume(tmp_path):
    data = small_data()
    plain = small_model()
    vl.fit(plain, data, epochs=4, batch_size=50, progress=False)
    straight = small_model()
    history = vl.fit(straight, data, epochs=4, batch_size=50, callback=GlobalRandomCallback(), progress=False)
    assert same(params(straight), params(plain))  # the callback's draws do not touch training

    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        vl.fit(small_model(), data, epochs=4, batch_size=50, checkpoint=path, callback=GlobalRandomCallback(2),
               progress=False)
    assert vl.load_checkpoint(path).epoch == 2 and not path.with_name("run.pt.lock").exists()
    resumed = small_model(seed=9)
    again = vl.fit(resumed, data, epochs=4, batch_size=50, checkpoint=path, callback=GlobalRandomCallback(),
                   progress=False)
    assert same(params(resumed), params(straight)) and results(again) == results(history)


def worker(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(vl.__file__).parents[1])}
    return [sys.executable, str(WORKER)], env


def test_a_second_run_on_a_checkpoint_in_use_is_refused_naming_the_first(tmp_path):
    run, env = worker(tmp_path)
    path = tmp_path / "shared.pt"
    first = subprocess.Popen([*run, str(path), "200", str(tmp_path / "first.out"), "0.2"], env=env)
    try:
        deadline = time.time() + 60
        while not path.exists() and time.time() < deadline:  # the first run is training (and holds the lock)
            time.sleep(0.05)
        assert path.exists()
        with pytest.raises(RuntimeError, match=rf"is in use: process {first.pid} on"):
            vl.fit(vl.VAE(x_dim=30, z_dim=3, hidden=[16]), torch.rand(600, 30), epochs=300, batch_size=50, seed=3,
                   checkpoint=path, progress=False)
        epoch = vl.load_checkpoint(path).epoch
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the killed run's lock is stale (its process is gone): the next run takes it over and resumes
    assert path.with_name("shared.pt.lock").exists()
    torch.manual_seed(0)
    model = vl.VAE(x_dim=30, z_dim=3, hidden=[16])
    data = torch.rand(600, 30, generator=torch.Generator().manual_seed(0))
    data.binarize = "dynamic"
    history = vl.fit(model, data, epochs=epoch + 1, batch_size=50, seed=3, checkpoint=path, progress=False)
    assert len(history) == epoch + 1 and not path.with_name("shared.pt.lock").exists()


def test_a_flipped_byte_is_reported_as_damage(tmp_path):
    path = tmp_path / "run.pt"
    vl.fit(small_model(), small_data(), epochs=1, batch_size=50, checkpoint=path, progress=False)
    data = bytearray(path.read_bytes())
    middle = data.index(b"model_state") + len(data) // 2  # inside the tensors' bytes
    data[middle % len(data)] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged") as caught:
        vl.load_checkpoint(path)
    assert "malicious" not in str(caught.value)
    with pytest.raises(ValueError, match="is damaged"):  # fit refuses to resume from it too, before any work
        vl.fit(small_model(), small_data(), epochs=2, batch_size=50, checkpoint=path, progress=False)


def test_half_written_temporary_files_are_removed_by_the_next_run(tmp_path):
    path = tmp_path / "run.pt"
    left = [tmp_path / ".run.pt.abc123.tmp", tmp_path / ".run.pt.xyz.tmp"]
    for tmp in left:
        tmp.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.pt.abc.tmp"  # another checkpoint's: not this run's to delete
    other.write_bytes(b"x")
    vl.fit(small_model(), small_data(), epochs=1, batch_size=50, checkpoint=path, progress=False)
    assert not any(tmp.exists() for tmp in left) and other.exists()


@pytest.mark.parametrize("after_training", [False, True])
def test_sigint_prints_one_line_saying_what_was_saved_and_exits_130(tmp_path, monkeypatch, capsys, after_training):
    out = tmp_path / "run"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    if after_training:  # the checkpoint of the finished training is kept: rerunning resumes
        monkeypatch.setattr(experiments, "evaluate_model", interrupt)
    else:  # interrupted while loading the data: nothing was saved, no folder is left behind
        monkeypatch.setattr(experiments, "load_data", interrupt)
    code = main(["train", "--out", str(out), "--z-dim", "2", "--hidden", "16", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    if after_training:
        assert "run the same command again to resume" in err and list(out.rglob("*.pt"))
    else:
        assert "interrupted: nothing was saved" in err and not out.exists()


def test_a_failed_run_leaves_no_half_made_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAELAB_OFFLINE", "1")
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "new" / "run"
    assert main(["train", "--source", "full", "--out", str(out), "--epochs", "1", "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "new").exists()


def test_a_real_sigint_during_training_exits_130_and_keeps_the_saved_epochs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(vl.__file__).parents[1])}
    out = tmp_path / "run"
    command = [sys.executable, "-m", "vaelab", "train", "--out", str(out), "--z-dim", "2", "--hidden", "16",
               "--epochs", "400", "--batch-size", "10", "--k", "0", "--quiet"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.rglob("*.pt")):  # interrupt once an epoch is saved
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=120)[1]
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().startswith("interrupted:") and "to resume" in err
    (checkpoint,) = out.rglob("*.pt")
    epoch = vl.load_checkpoint(checkpoint).epoch
    assert 1 <= epoch < 400 and not list(out.rglob("*.lock")) and not list(out.rglob("*.tmp"))
