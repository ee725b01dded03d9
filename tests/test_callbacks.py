"""vaelab.callbacks: the LatentRecorder keeps frames of the latent codes without changing the training run (compared
bit for bit with a run without it), and its frames are samples of the trained encoder's posterior; fit(callbacks=[...])
calls every callback in order; CSVLogger, EarlyStopping and TensorBoardLogger, each also across a resume."""

import csv

import pytest
import torch
from helpers import params, same, small_data, small_model

import vaelab as vl
from vaelab.callbacks import CSVLogger, EarlyStopping, TensorBoardLogger


def test_latent_recorder_keeps_frames_without_touching_training():
    x = small_data()
    x.labels = torch.arange(len(x)) % 4
    plain = small_model()
    vl.fit(plain, x, epochs=4, batch_size=50, progress=False)
    watched = small_model()
    recorder = vl.LatentRecorder(x[:40], every=2)
    recorder.data.labels = x.labels[:40]
    recorder(0, None, watched)
    vl.fit(watched, x, epochs=4, batch_size=50, progress=False, callback=recorder)
    assert same(params(plain), params(watched))  # recording did not change the training run
    run = recorder.run()
    assert run["epochs"] == [0, 2, 4] and run["z"].shape == (3, 40, 3) and run["labels"].shape == (40,)
    mu, _ = vl.encode_data(watched, x[:40])
    assert not torch.allclose(torch.as_tensor(run["z"][-1]), mu)  # a sample, not the mean ...
    assert (torch.as_tensor(run["z"][-1]) - mu).abs().mean() < 2  # ... of the trained encoder


def test_fit_calls_every_callback_in_order_and_any_can_stop_it():
    calls = []
    first = lambda epoch, history, model: calls.append(("first", epoch))  # noqa: E731
    second = lambda epoch, history, model: calls.append(("second", epoch)) or epoch == 2  # noqa: E731
    history = vl.fit(small_model(), small_data(), epochs=5, batch_size=50, progress=False, callback=first,
                     callbacks=[second])
    assert len(history) == 2 and calls == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]


def test_csv_logger_writes_the_rows_of_the_history_every_epoch_and_continues_after_a_resume(tmp_path):
    data = small_data()
    log, straight_log = tmp_path / "log.csv", tmp_path / "straight.csv"
    straight = vl.fit(small_model(), data, epochs=3, batch_size=50, test=data[:50], progress=False,
                      callbacks=[CSVLogger(straight_log)])
    rows = list(csv.DictReader(straight_log.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["test_elbo"]) for r in rows] == straight.test_elbo  # exact: repr of the floats

    checkpoint = tmp_path / "run.pt"
    vl.fit(small_model(), data, epochs=2, batch_size=50, test=data[:50], checkpoint=checkpoint, progress=False,
           callbacks=[CSVLogger(log)])
    vl.fit(small_model(), data, epochs=3, batch_size=50, test=data[:50], checkpoint=checkpoint, progress=False,
           callbacks=[CSVLogger(log)])
    drop_seconds = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop_seconds(csv.DictReader(log.open())) == drop_seconds(rows)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    data = small_data()
    stopper = EarlyStopping(patience=2)
    history = vl.fit(small_model(), data, epochs=60, batch_size=50, lr=3e-2, test=data[:50], progress=False,
                     callbacks=[stopper])
    assert len(history) < 60, "the test ELBO kept improving for 60 epochs at lr 0.03: the test needs a faster setting"
    best = max(range(len(history)), key=lambda i: history.test_elbo[i])
    assert stopper.best_epoch == best + 1 and len(history) == best + 1 + 2  # stopped two epochs after the best


def test_early_stopping_says_it_needs_a_test_set_and_checks_its_settings():
    with pytest.raises(ValueError, match="pass fit\\(..., test=...\\)"):
        vl.fit(small_model(), small_data(), epochs=2, batch_size=50, progress=False, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(TypeError, match="callbacks must be a list"):
        vl.fit(small_model(), small_data(), epochs=1, progress=False, callbacks=EarlyStopping())


def test_tensorboard_logger_writes_scalars_or_says_how_to_install_it(tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install tensorboard"):
            TensorBoardLogger(tmp_path / "tb")
        return
    logger = TensorBoardLogger(tmp_path / "tb")
    vl.fit(small_model(), small_data(), epochs=2, batch_size=50, progress=False, callbacks=[logger])
    logger.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
