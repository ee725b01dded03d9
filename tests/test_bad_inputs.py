"""Bad inputs across the API and the command line, one row each: the input, the exception it must raise and words
its message must contain (the argument's name and, where there is one, the fix).

Every row for ``fit`` also checks that the error comes before any work: a training step (``VAE.loss``) fails the
test if it is reached.  Command-line rows check the exit status, ``error: ...`` on stderr and that no traceback is
printed.  Inputs that are accepted rather than refused (float64 data, numpy arrays) are at the end, with the check
that they give what the same values in float32 give.
"""

import numpy as np
import pytest
import torch
from helpers import results, small_data, small_model

import vaelab as vl
from vaelab import experiments
from vaelab.__main__ import main
from vaelab.checkpoints import CHECKPOINT_FORMAT, exclusive
from vaelab.metrics import features, kernel_inception_distance
from vaelab.toy import reconstruction_accuracy

X = small_data(n=200)
ONEHOT = vl.load("onehot", n=40, verbose=False)


def fit(**kw):
    return lambda tmp: vl.fit(small_model(), X, **{"epochs": 1, "progress": False, **kw})


def fit_at(name, **kw):
    """fit with a checkpoint at tmp/NAME (made by ``prepare`` below where the row needs a file there)."""
    return lambda tmp: vl.fit(small_model(), X, epochs=1, progress=False, checkpoint=tmp / name, **kw)


def make_file(tmp, name="file.txt"):
    (tmp / name).write_text("not a folder")


def make_incomplete_checkpoint(tmp):
    torch.save({"format": CHECKPOINT_FORMAT, "model_class": "VAE"}, tmp / "incomplete.pt")


# (id, prepare(tmp) or None, call(tmp), exception, words the message must contain)
API_ROWS = [
    # counts of the evaluation functions, validated like fit's own
    ("elbo n_samples=0", None, lambda tmp: vl.elbo(small_model(), X, n_samples=0), ValueError, "n_samples"),
    ("elbo n_samples=-1", None, lambda tmp: vl.elbo(small_model(), X, n_samples=-1), ValueError, "n_samples"),
    ("elbo_parts n_samples=1.5", None, lambda tmp: vl.elbo_parts(small_model(), X, n_samples=1.5), ValueError,
     "n_samples"),
    ("elbo batch_size=0", None, lambda tmp: vl.elbo(small_model(), X, batch_size=0), ValueError, "batch_size"),
    ("log_likelihood k=0", None, lambda tmp: vl.log_likelihood(small_model(), X, k=0), ValueError, "k (the number"),
    ("log_likelihood k=-1", None, lambda tmp: vl.log_likelihood(small_model(), X, k=-1), ValueError, "k (the number"),
    ("log_likelihood chunk_elements=0", None,
     lambda tmp: vl.log_likelihood(small_model(), X, k=2, chunk_elements=0), ValueError, "chunk_elements"),
    ("elbo_surgery n_samples=0", None, lambda tmp: vl.elbo_surgery(small_model(), X, n_samples=0), ValueError,
     "n_samples"),
    ("mmd_to_prior n=0", None, lambda tmp: vl.mmd_to_prior(small_model(), X, n=0), ValueError, "n must"),
    ("encode_data batch_size=0", None, lambda tmp: vl.encode_data(small_model(), X, batch_size=0), ValueError,
     "batch_size"),
    ("active_units threshold=-1", None, lambda tmp: vl.active_units(small_model(), X, threshold=-1), ValueError,
     "threshold"),
    ("model.sample(0)", None, lambda tmp: small_model().sample(0), ValueError, "n (the number of samples)"),
    ("reconstruction_accuracy samples=0", None,
     lambda tmp: reconstruction_accuracy(vl.VAE(x_dim=4, z_dim=2, hidden=[4]), ONEHOT, samples=0), ValueError,
     "samples"),
    ("kid n_subsets=0", None, lambda tmp: kernel_inception_distance(torch.randn(20, 3), torch.randn(20, 3),
                                                                    n_subsets=0), ValueError, "n_subsets"),
    ("kid subset_size=-5", None, lambda tmp: kernel_inception_distance(torch.randn(20, 3), torch.randn(20, 3),
                                                                       subset_size=-5), ValueError, "subset_size"),
    ("features batch_size=0", None, lambda tmp: features(torch.rand(4, 784), batch_size=0), ValueError,
     "batch_size"),
    # seeds
    ("fit seed='abc'", None, fit(seed="abc"), ValueError, "seed must be an integer >= 0"),
    ("fit seed=None", None, fit(seed=None), ValueError, "seed must be an integer >= 0"),
    ("fit seed=1.5", None, fit(seed=1.5), ValueError, "seed must be an integer >= 0"),
    ("fit seed=-1", None, fit(seed=-1), ValueError, "seed must be an integer >= 0"),
    ("elbo seed='abc'", None, lambda tmp: vl.elbo(small_model(), X, seed="abc"), ValueError, "seed"),
    ("load seed=1.5", None, lambda tmp: vl.load("onehot", seed=1.5, verbose=False), ValueError, "seed"),
    ("binarize seed=None", None, lambda tmp: vl.binarize(torch.rand(3, 4), seed=None), ValueError, "seed"),
    # the other arguments of fit, checked before any work
    ("fit epochs=-1", None, fit(epochs=-1), ValueError, "epochs"),
    ("fit lr=0", None, fit(lr=0), ValueError, "lr"),
    ("fit batch_size=0", None, fit(batch_size=0), ValueError, "batch_size"),
    ("fit callback=3", None, fit(callback=3), TypeError, "callback must be a function"),
    ("fit a non-vaelab nn.Module", None, lambda tmp: vl.fit(torch.nn.Linear(30, 30), X, epochs=1, progress=False),
     TypeError, "fit trains vaelab models"),
    ("fit test set of another width", None, fit(test=torch.rand(10, 7)), ValueError, "x_dim=30"),
    ("fit test set with NaN", None, fit(test=torch.full((10, 30), float("nan"))), ValueError, "NaN"),
    # paths
    ("fit checkpoint=123", None, fit(checkpoint=123), TypeError, "checkpoint must be a file or folder path"),
    ("fit checkpoint is a folder", None, lambda tmp: vl.fit(small_model(), X, epochs=1, progress=False,
                                                            checkpoint=tmp), IsADirectoryError, "is a folder"),
    ("fit checkpoint under a file", make_file, fit_at("file.txt/run.pt"), NotADirectoryError, "is a file"),
    ("fit checkpoint without model_config", make_incomplete_checkpoint, fit_at("incomplete.pt"), ValueError,
     "is incomplete"),
    ("load_checkpoint(123)", None, lambda tmp: vl.load_checkpoint(123), TypeError, "path (the checkpoint file)"),
    ("load_checkpoint of a folder", None, lambda tmp: vl.load_checkpoint(tmp), IsADirectoryError, "is a folder"),
    ("load_checkpoint without model_config", make_incomplete_checkpoint,
     lambda tmp: vl.load_checkpoint(tmp / "incomplete.pt"), ValueError, "'model_config'"),
    ("save_checkpoint(model, 123)", None, lambda tmp: vl.save_checkpoint(small_model(), 123), TypeError,
     "path (where to save"),
    ("load root=123", None, lambda tmp: vl.load("mnist", root=123, verbose=False), TypeError, "root must be"),
    ("load root is a file", make_file, lambda tmp: vl.load("mnist", root=tmp / "file.txt", verbose=False),
     NotADirectoryError, "root must be a folder"),
    # models
    ("VAE hidden=None", None, lambda tmp: vl.VAE(x_dim=30, z_dim=3, hidden=None), ValueError, "hidden must be"),
    ("VAE prior='vamp'", None, lambda tmp: vl.VAE(x_dim=30, z_dim=3, hidden=[8], prior="vamp"), TypeError,
     "prior must be a vaelab prior"),
    ("VAE z_dim=0", None, lambda tmp: vl.VAE(x_dim=30, z_dim=0), ValueError, "z_dim"),
    # data
    ("fit on complex data", None, lambda tmp: vl.fit(small_model(), X.to(torch.complex64), epochs=1,
                                                     progress=False), TypeError, "real numbers"),
    ("fit on a list of strings", None, lambda tmp: vl.fit(small_model(), ["a", "b"], epochs=1, progress=False),
     TypeError, "Data must be a tensor or an array"),
]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a training step runs: the error must come before any work."""
    def loss(self, *args, **kwargs):
        raise AssertionError("a training step ran before the bad input was refused")
    monkeypatch.setattr(vl.VAE, "loss", loss)


@pytest.mark.parametrize("row", API_ROWS, ids=[row[0] for row in API_ROWS])
def test_bad_api_input_is_refused_before_any_work_with_a_message_naming_it(row, tmp_path, no_training):
    _, prepare, call, exception, words = row
    if prepare is not None:
        prepare(tmp_path)
    with pytest.raises(exception) as caught:
        call(tmp_path)
    assert words in str(caught.value), f"message {str(caught.value)!r} lacks {words!r}"


def test_a_checkpoint_in_use_is_refused_before_any_work(tmp_path, no_training):
    path = tmp_path / "run.pt"
    with exclusive(path), pytest.raises(RuntimeError, match="is in use: process") as caught:
        vl.fit(small_model(), X, epochs=1, progress=False, checkpoint=path)
    assert "another checkpoint path" in str(caught.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_refused_before_any_work(no_training):
    with pytest.raises(ValueError, match="no CUDA GPU; use device='auto'"):
        vl.fit(small_model(), X, epochs=1, progress=False, device="cuda")


# ------------------------------------------------------------------------------------------------- the command line
TINY = ["--z-dim", "2", "--hidden", "16", "--epochs", "1", "--k", "5", "--quiet"]


def write_spec(tmp, text):
    run = tmp / "run"
    run.mkdir()
    (run / "spec.json").write_text(text)


GOOD_SPEC = '{"spec": {"name": "vae", "kind": "vae"}, "data": {"name": "mnist"}}'

# (id, prepare(tmp) or None, argv with {tmp}, words stderr must contain)
CLI_ROWS = [
    ("train --k -1", None, ["train", "--k", "-1", "--out", "{tmp}/run"], "argument --k: must be an integer >= 0"),
    ("train --epochs 0", None, ["train", "--epochs", "0", "--out", "{tmp}/run"], "argument --epochs"),
    ("train --lr nan", None, ["train", "--lr", "nan", "--out", "{tmp}/run"], "argument --lr"),
    ("train --lr-decay 2", None, ["train", "--lr-decay", "2", "--out", "{tmp}/run"], "argument --lr-decay"),
    ("train --seed x", None, ["train", "--seed", "x", "--out", "{tmp}/run"], "argument --seed: expected an integer"),
    ("evaluate --k -1", None, ["evaluate", "{tmp}/run", "--k", "-1"], "argument --k"),
    ("reproduce --epochs 0", None, ["reproduce", "compare", "--epochs", "0", "--out", "{tmp}"], "argument --epochs"),
    ("reproduce --seeds -2", None, ["reproduce", "compare", "--seeds", "-2", "--out", "{tmp}"], "argument --seeds"),
    ("train --device tpu9", None, ["train", "--device", "tpu9", "--out", "{tmp}/run", *TINY], "--device tpu9"),
    ("train --out is a file", make_file, ["train", "--out", "{tmp}/file.txt", *TINY], "is a file"),
    ("train --out under a file", make_file, ["train", "--out", "{tmp}/file.txt/run", *TINY], "which is a file"),
    ("evaluate without spec.json", None, ["evaluate", "{tmp}"], "has no spec.json"),
    ("evaluate a corrupt spec.json", lambda tmp: write_spec(tmp, '{"spec": {"kind": "va'),
     ["evaluate", "{tmp}/run"], "spec.json is not a readable run description"),
    ("evaluate a spec.json with an unknown key", lambda tmp: write_spec(tmp, GOOD_SPEC.replace(
        '"kind": "vae"', '"kind": "vae", "colour": 3')), ["evaluate", "{tmp}/run"], "Unknown spec field(s) ['colour']"),
    ("evaluate a spec.json without data", lambda tmp: write_spec(tmp, '{"spec": {"name": "vae", "kind": "vae"}}'),
     ["evaluate", "{tmp}/run"], "no 'data' entry"),
    ("evaluate a spec.json that is a list", lambda tmp: write_spec(tmp, "[1, 2]"), ["evaluate", "{tmp}/run"],
     "not a readable run description"),
    ("evaluate without a checkpoint", lambda tmp: write_spec(tmp, GOOD_SPEC), ["evaluate", "{tmp}/run", "--quiet"],
     "evaluating never trains"),
]
if not torch.cuda.is_available():
    CLI_ROWS.append(("train --device cuda", None, ["train", "--device", "cuda", "--out", "{tmp}/run", *TINY],
                     "--device cuda: this machine has no CUDA GPU; use --device auto"))


@pytest.mark.parametrize("row", CLI_ROWS, ids=[row[0] for row in CLI_ROWS])
def test_bad_command_lines_exit_2_with_one_error_line_and_no_traceback(row, tmp_path, capsys, monkeypatch):
    _, prepare, argv, words = row
    if prepare is not None:
        prepare(tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the bad input was refused")
    monkeypatch.setattr(vl, "fit", no_training)
    monkeypatch.setattr(experiments, "fit", no_training)
    try:
        code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists() or (tmp_path / "run" / "spec.json").exists()  # nothing half-made


# ------------------------------------------------------------------------------------- accepted rather than refused
def test_float64_float16_and_numpy_data_train_exactly_like_float32():
    """One behaviour for the whole API: data of another dtype are cast once to the model's float32."""
    x = torch.bernoulli(small_data(n=200)).float()  # binary values: exactly representable in every dtype
    reference = vl.fit(small_model(), x, epochs=2, test=x[:50], progress=False)
    for other in (x.double(), x.half(), x.numpy().astype(np.float64), x.to(torch.uint8)):
        test = other[:50]
        got = vl.fit(small_model(), other, epochs=2, test=test, progress=False)
        assert results(got) == results(reference), type(other)


def test_float64_data_evaluate_exactly_like_float32():
    model, x = small_model(), small_data(n=100).clone()  # grey values, no binarization mark
    for f in (vl.elbo, vl.log_likelihood):
        kw = {"k": 8} if f is vl.log_likelihood else {}
        a, b = f(model, x.float(), **kw), f(model, x.double(), **kw)
        assert float(a) == float(b), f.__name__
