"""vaelab.callbacks: the LatentRecorder keeps frames of the latent codes without changing the training run (compared
bit for bit with a run without it), and its frames are samples of the trained encoder's posterior."""

import torch
from helpers import params, same, small_data, small_model

import vaelab as vl


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
