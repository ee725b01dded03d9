"""Run by test_train.py in a subprocess: train a small VAE with a checkpoint, optionally slowly so it can be killed.

usage: python resume_worker.py CHECKPOINT EPOCHS OUT [SLEEP_SECONDS]
Writes the final parameters to OUT (a torch file) when training ends.
"""

import sys
import time

import torch

import vaelab as vl

checkpoint, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

torch.set_num_threads(1)
data = torch.rand(600, 30, generator=torch.Generator().manual_seed(0))
data.binarize = "dynamic"
torch.manual_seed(0)
model = vl.VAE(x_dim=30, z_dim=3, hidden=[16])


def slow_down(epoch, history, model):
    time.sleep(pause)  # leaves time to be killed between two checkpoints


vl.fit(model, data, epochs=epochs, batch_size=50, seed=3, checkpoint=checkpoint, callback=slow_down, progress=False)
torch.save(model.state_dict(), out)
