"""vaelab.train, fit(): determinism, history, λ and its warm-up, callbacks, resumption (after a kill too) against an
uninterrupted run compared bit for bit, refused settings, faults, bfloat16, the learning-rate schedule, CUDA."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import params, results, same, small_data, small_model
from torch import nn

import vaelab as vl
from vaelab.train import kl_weight_at

WORKER = Path(__file__).with_name("resume_worker.py")


def test_fit_is_deterministic_on_cpu_and_seed_matters():
    x = small_data()
    runs = []
    for seed in (0, 0, 1):
        model = small_model()
        history = vl.fit(model, x, epochs=3, batch_size=50, seed=seed, progress=False)
        runs.append((params(model), history))
    assert same(runs[0][0], runs[1][0]) and results(runs[0][1]) == results(runs[1][1])
    assert not same(runs[0][0], runs[2][0])


def test_history_records_every_epoch_and_training_improves_the_elbo():
    x, test = small_data(), torch.bernoulli(small_data(100, seed=1))
    model = small_model()
    history = vl.fit(model, x, epochs=8, batch_size=50, lr=3e-3, test=test, progress=False)
    assert history.epoch == list(range(1, 9)) and len(history) == 8
    for name in ("train_loss", "train_elbo", "train_recon", "train_kl", "test_elbo", "test_recon", "test_kl",
                 "seconds"):
        assert len(getattr(history, name)) == 8, name
    for e, r, k in zip(history.train_elbo, history.train_recon, history.train_kl, strict=True):
        assert e == pytest.approx(r - k)
    assert history.train_loss == pytest.approx([-e for e in history.train_elbo])  # λ = 1: loss is −ELBO
    assert history.train_elbo[-1] > history.train_elbo[0] + 1
    assert history.test_elbo[-1] > history.test_elbo[0]
    assert history.test_elbo[-1] == pytest.approx(vl.elbo(model, test, seed=0))
    assert "8 epochs" in repr(history)


def test_kl_weight_is_the_weight_in_the_training_loss():
    history = vl.fit(small_model(), small_data(), epochs=2, batch_size=50, kl_weight=0.25, progress=False)
    for loss, recon, kl in zip(history.train_loss, history.train_recon, history.train_kl, strict=True):
        assert loss == pytest.approx(0.25 * kl - recon)


def test_dynamic_binarization_trains_on_binary_draws_and_none_on_grey_values():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = vl.MLP(30, [8], 6)

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.net(x)

    x = small_data(100)
    torch.manual_seed(0)
    vl.fit(vl.VAE(x_dim=30, z_dim=3, hidden=[8], encoder=Spy()), x, epochs=2, batch_size=100, progress=False)
    assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in seen)
    assert not torch.equal(seen[0].sum(0), seen[1].sum(0))  # a fresh draw each epoch
    seen.clear()
    vl.fit(vl.VAE(x_dim=30, z_dim=3, hidden=[8], encoder=Spy()), x, epochs=1, batch_size=100, binarize="none",
           progress=False)
    assert len(seen[0].unique()) > 2


def test_callback_follows_training_and_can_stop_it():
    calls = []

    def callback(epoch, history, model):
        calls.append((epoch, len(history)))
        return epoch == 2

    history = vl.fit(small_model(), small_data(), epochs=5, batch_size=50, callback=callback, progress=False)
    assert calls == [(1, 1), (2, 2)] and len(history) == 2


def test_progress_bar_runs(capsys):
    vl.fit(small_model(), small_data(), epochs=1, batch_size=50, progress=True)
    assert "VAE" in capsys.readouterr().err


# ---- resuming ----------------------------------------------------------------------------------------------------
def test_resuming_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path):
    x = small_data()
    straight = small_model()
    vl.fit(straight, x, epochs=4, batch_size=50, checkpoint=tmp_path / "a.pt", progress=False)
    first = small_model()
    vl.fit(first, x, epochs=2, batch_size=50, checkpoint=tmp_path / "b.pt", progress=False)
    resumed = small_model(seed=9)  # another initialization: the checkpoint must override it
    history = vl.fit(resumed, x, epochs=4, batch_size=50, checkpoint=tmp_path / "b.pt", progress=False)
    assert same(params(straight), params(resumed)) and len(history) == 4
    # a finished run is returned as it is
    again = small_model(seed=11)
    assert len(vl.fit(again, x, epochs=4, batch_size=50, checkpoint=tmp_path / "b.pt", progress=False)) == 4
    assert same(params(again), params(straight))


def test_a_killed_training_process_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(vl.__file__).parents[1])}
    run = [sys.executable, str(WORKER)]
    subprocess.run([*run, str(tmp_path / "straight.pt"), "6", str(tmp_path / "straight.out")], env=env, check=True)

    killed = tmp_path / "killed.pt"
    process = subprocess.Popen([*run, str(killed), "6", str(tmp_path / "never.out"), "0.5"], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait for a checkpoint of at least two epochs, then kill mid-training
        if killed.exists() and vl.load_checkpoint(killed).epoch >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.out").exists()
    epoch_at_kill = vl.load_checkpoint(killed).epoch
    assert 2 <= epoch_at_kill < 6
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no half-written file left behind

    subprocess.run([*run, str(killed), "6", str(tmp_path / "resumed.out")], env=env, check=True)
    straight = torch.load(tmp_path / "straight.out", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.out", weights_only=True)
    assert same(straight, resumed)


def test_checkpoint_every_saves_on_its_schedule_at_the_end_and_when_a_callback_stops(tmp_path):
    x = small_data()
    epochs_saved = []

    def watch(epoch, history, model):
        epochs_saved.append(vl.load_checkpoint(tmp_path / "run.pt").epoch if (tmp_path / "run.pt").exists() else 0)

    vl.fit(small_model(), x, epochs=5, batch_size=50, checkpoint=tmp_path / "run.pt", checkpoint_every=2,
           callback=watch, progress=False)
    assert epochs_saved == [0, 2, 2, 4, 5]  # every second epoch, and the last
    stopped = tmp_path / "stopped.pt"
    vl.fit(small_model(), x, epochs=6, batch_size=50, checkpoint=stopped, checkpoint_every=4, progress=False,
           callback=lambda epoch, history, model: epoch == 3)
    assert vl.load_checkpoint(stopped).epoch == 3  # the epoch the callback stopped at is not lost
    straight, resumed = small_model(), small_model()
    vl.fit(straight, x, epochs=6, batch_size=50, progress=False)
    vl.fit(resumed, x, epochs=6, batch_size=50, checkpoint=stopped, checkpoint_every=4, progress=False)
    assert same(params(straight), params(resumed))
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        vl.fit(small_model(), x, epochs=1, checkpoint_every=0, progress=False)


def test_resuming_with_other_settings_is_refused(tmp_path):
    x = small_data()
    vl.fit(small_model(), x, epochs=1, batch_size=50, checkpoint=tmp_path / "run.pt", progress=False)
    with pytest.raises(ValueError, match=r"other settings \(lr: 0.001 there, 0.01 now\)"):
        vl.fit(small_model(), x, epochs=2, batch_size=50, lr=0.01, checkpoint=tmp_path / "run.pt", progress=False)


def test_an_existing_checkpoint_is_never_overwritten_without_resume(tmp_path):
    x = small_data()
    vl.fit(small_model(), x, epochs=1, batch_size=50, checkpoint=tmp_path / "run.pt", progress=False)
    before = (tmp_path / "run.pt").read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        vl.fit(small_model(), x, epochs=1, batch_size=50, checkpoint=tmp_path / "run.pt", resume=False, progress=False)
    assert (tmp_path / "run.pt").read_bytes() == before


# ---- faults ----------------------------------------------------------------------------------------------------
class BreaksAfter(nn.Module):
    """Wraps a network and turns its output to NaN (or +inf in the log-variance) from the n-th call on."""

    def __init__(self, net, calls, value, columns=slice(None)):
        super().__init__()
        self.net, self.calls, self.value, self.columns, self.count = net, calls, value, columns, 0

    def forward(self, x):
        self.count += 1
        out = self.net(x)
        if self.count >= self.calls:
            out = out.clone()
            out[:, self.columns] = self.value
        return out


def test_a_nan_reconstruction_stops_training_naming_epoch_step_and_term(tmp_path):
    torch.manual_seed(0)
    decoder = BreaksAfter(vl.MLP(3, [16], 30), calls=11, value=float("nan"))  # 8 steps per epoch: epoch 2, step 3
    model = vl.VAE(x_dim=30, z_dim=3, hidden=[16], decoder=decoder)
    with pytest.raises(vl.NonFiniteLossError, match=r"epoch 2, step 3 of 8: the reconstruction term .* became nan"):
        vl.fit(model, small_data(), epochs=3, batch_size=50, checkpoint=tmp_path / "run.pt", progress=False)
    assert vl.load_checkpoint(tmp_path / "run.pt", model=model).epoch == 1  # the good epoch is kept


def test_an_infinite_kl_stops_training_naming_the_kl_term():
    torch.manual_seed(0)
    encoder = BreaksAfter(vl.MLP(30, [16], 6), calls=2, value=1e4, columns=slice(3, 6))  # σ² = e^10000
    model = vl.VAE(x_dim=30, z_dim=3, hidden=[16], encoder=encoder)
    with pytest.raises(vl.NonFiniteLossError, match=r"epoch 1, step 2 of 8: .*and the KL term became inf"):
        vl.fit(model, small_data(), epochs=1, batch_size=50, progress=False)


# ---- bad input ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [0, -3, 401, 2.0])
def test_batch_size_must_fit_the_data(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be an integer between 1 and .*\(400\)"):
        vl.fit(small_model(), small_data(), batch_size=batch_size, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 0}, "lr .* > 0"),
        ({"lr": float("nan")}, "lr"),
        ({"kl_weight": -0.5}, r"kl_weight \(λ\) must be a finite number >= 0"),
        ({"epochs": -1}, "epochs must be an integer >= 0"),
        ({"binarize": "sometimes"}, "binarize must be"),
        ({"precision": "fp32"}, "precision must be one of 'float32', 'bfloat16', got 'fp32'"),
        ({"precision": "float16"}, "float16 needs loss scaling"),
        ({"lr_decay_every": -1}, "lr_decay_every must be an integer >= 0, got -1. It is a number of epochs"),
        ({"lr_decay_every": 2.5}, "lr_decay_every must be an integer"),
        ({"lr_decay": 0}, r"lr_decay \(the factor of each learning-rate step\) must be a finite number > 0"),
        ({"lr_decay": 2.0}, r"lr_decay .* must be a finite number > 0 and <= 1, got 2.0"),
    ],
)
def test_bad_training_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vl.fit(small_model(), small_data(), **{"batch_size": 50, "progress": False, **kwargs})


def test_bfloat16_runs_the_networks_in_bfloat16_the_formulas_in_float32_and_learns_as_well():
    x, test = small_data(), torch.bernoulli(small_data(200, seed=1))
    runs = {}
    for precision in ("float32", "bfloat16"):
        model, inside, outside = small_model(), set(), set()
        layer = next(m for m in model.encoder.modules() if isinstance(m, nn.Linear))
        hook = layer.register_forward_hook(lambda module, inputs, output, seen=inside: seen.add(output.dtype))
        log_prob = model.likelihood.log_prob

        def watched(x, params, seen=outside, log_prob=log_prob):
            seen.add(params.dtype)
            return log_prob(x, params)

        model.likelihood.log_prob = watched
        history = vl.fit(model, x, epochs=15, batch_size=50, precision=precision, progress=False)
        hook.remove()
        del model.likelihood.log_prob
        assert inside == {torch.bfloat16 if precision == "bfloat16" else torch.float32}
        assert outside == {torch.float32}  # what the log-densities and the KL receive
        assert model._network_dtype is None  # back to float32 after training
        assert all(p.dtype == torch.float32 for p in model.parameters())  # weights and Adam stay float32
        assert history.train_elbo[-1] > history.train_elbo[0] + 2
        runs[precision] = (history.train_loss, vl.elbo(model, test))
    assert runs["bfloat16"][0] != runs["float32"][0]  # the precision did change the arithmetic
    assert abs(runs["bfloat16"][1] - runs["float32"][1]) < 0.5  # nats per example, on a test ELBO near -19


def test_resuming_in_another_precision_is_refused_and_older_checkpoints_count_as_float32(tmp_path):
    x, path = small_data(), tmp_path / "run.pt"
    vl.fit(small_model(), x, epochs=1, batch_size=50, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"precision: 'float32' there, 'bfloat16' now"):
        vl.fit(small_model(), x, epochs=2, batch_size=50, precision="bfloat16", checkpoint=path, progress=False)
    state = torch.load(path, weights_only=True)
    del state["fit_settings"]["precision"]  # as written before fit had a precision
    torch.save(state, path)
    history = vl.fit(small_model(), x, epochs=2, batch_size=50, checkpoint=path, progress=False)
    assert history.epoch == [1, 2]


def test_lr_step_decay_follows_its_formula():
    from vaelab.train import lr_at

    # Dai & Wipf's stage 1: 1e-4 halved every 150 epochs (0-based epochs)
    assert [lr_at(e, 1e-4, 150, 0.5) for e in (0, 149, 150, 299, 300, 399)] == [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5]
    assert lr_at(1000, 3e-3, 0, 0.5) == 3e-3  # no decay


def test_fit_trains_each_epoch_at_the_decayed_rate_and_resumes_on_schedule(tmp_path):
    x, seen = small_data(), []
    model = small_model()
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):  # the rate Adam actually used at each step
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", spy)
        history = vl.fit(model, x, epochs=5, batch_size=100, lr=0.01, lr_decay_every=2, lr_decay=0.1, progress=False)
    assert history.lr == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert seen == pytest.approx([rate for rate in history.lr for _ in range(4)])  # 4 steps per epoch
    # stopped after epoch 3, halfway through the second rate step, then resumed: the straight run's parameters
    vl.fit(small_model(), x, epochs=3, batch_size=100, lr=0.01, lr_decay_every=2, lr_decay=0.1,
           checkpoint=tmp_path / "run.pt", progress=False)
    resumed = small_model(seed=9)
    again = vl.fit(resumed, x, epochs=5, batch_size=100, lr=0.01, lr_decay_every=2, lr_decay=0.1,
                   checkpoint=tmp_path / "run.pt", progress=False)
    assert same(params(resumed), params(model)) and again.lr == history.lr
    with pytest.raises(ValueError, match=r"lr_decay_every: 2 there, 3 now"):
        vl.fit(small_model(), x, epochs=6, batch_size=100, lr=0.01, lr_decay_every=3, lr_decay=0.1,
               checkpoint=tmp_path / "run.pt", progress=False)


def test_checkpoints_from_before_the_lr_schedule_resume_at_a_constant_rate(tmp_path):
    x, path = small_data(), tmp_path / "run.pt"
    vl.fit(small_model(), x, epochs=1, batch_size=50, checkpoint=path, progress=False)
    state = torch.load(path, weights_only=True)
    for key in ("lr_decay_every", "lr_decay"):
        del state["fit_settings"][key]  # as written before fit had a schedule
    del state["history"]["lr"]
    torch.save(state, path)
    history = vl.fit(small_model(), x, epochs=2, batch_size=50, checkpoint=path, progress=False)
    assert history.epoch == [1, 2] and history.lr == [0.001]  # the old epoch has no record of its rate


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="no CUDA GPU; use device='auto'"):
        vl.fit(small_model(), small_data(), device="cuda", progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_and_evaluate_on_cuda():
    x = small_data()
    model = small_model()
    history = vl.fit(model, x, epochs=2, batch_size=50, device="cuda", test=torch.bernoulli(x[:100]), progress=False)
    assert model.device.type == "cuda" and len(history.test_elbo) == 2
    assert vl.log_likelihood(model, x[:50], k=100) < 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("kind", vl.experiments.KINDS)
def test_every_model_trains_and_evaluates_on_cuda(kind, precision):
    if precision == "bfloat16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16 arithmetic")
    model = vl.experiments.build(vl.experiments.Spec("m", kind, z_dim=4, hidden=[32]), x_dim=30)
    x = small_data()
    train = x.as_subclass(torch.Tensor) if kind == "two-stage" else x  # grey values for its Gaussian decoder
    history = vl.fit(model, train, epochs=2, batch_size=50, device="cuda", precision=precision, progress=False)
    assert model.device.type == "cuda" and torch.isfinite(torch.tensor(history.train_loss)).all()
    assert vl.mmd_to_prior(model, x[:100]) >= -0.05  # an unbiased estimate: near 0 or above


# ---- λ and its warm-up -------------------------------------------------------------------------------------------
def test_warm_up_grows_lambda_linearly_then_holds_it():
    assert [kl_weight_at(s, 2.0, 4) for s in (1, 2, 4, 9)] == [0.5, 1.0, 2.0, 2.0]
    assert kl_weight_at(1, 0.7, 0) == 0.7
    history = vl.fit(small_model(), small_data(), epochs=4, batch_size=50, warmup=2, kl_weight=2.0, progress=False)
    assert history.kl_weight == [1.0, 2.0, 2.0, 2.0]


def test_warm_up_changes_training_and_bad_values_are_refused():
    x = small_data()
    a, b = small_model(), small_model()
    vl.fit(a, x, epochs=2, batch_size=50, progress=False)
    vl.fit(b, x, epochs=2, batch_size=50, progress=False, warmup=2)
    assert not same(params(a), params(b))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="warmup must be an integer"):
            vl.fit(small_model(), x, epochs=1, warmup=bad, progress=False)
    with pytest.raises(ValueError, match="kl_weight"):
        vl.fit(small_model(), x, epochs=1, kl_weight=-0.5, progress=False)


def test_tqdm_disable_silences_the_bar_unless_progress_is_asked_for(monkeypatch, capsys):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    vl.fit(small_model(), small_data(), epochs=1, batch_size=50)
    assert "VAE" not in capsys.readouterr().err
    vl.fit(small_model(), small_data(), epochs=1, batch_size=50, progress=True)
    assert "VAE" in capsys.readouterr().err
    monkeypatch.setenv("TQDM_DISABLE", "0")
    vl.fit(small_model(), small_data(), epochs=1, batch_size=50)
    assert "VAE" in capsys.readouterr().err
