"""Encoder and decoder networks.

The book's models differ in how they regularize the latent code, not in their networks: every chapter uses the
same multilayer perceptrons, built here.  ``MLP(784, [500], 2 * 20, activation="tanh")`` is the encoder of
Kingma & Welling's MNIST experiment (one hidden layer of 500 tanh units, chapter 1);
``MLP(784, [300, 300], 2 * 40, activation="gated")`` is the encoder of Tomczak & Welling's VampPrior experiments
(two gated layers of 300 units, chapter 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .checks import positive_int
from .saving import Rebuildable

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}


GATED = "gated"  # hidden layers are GatedLinear layers, which bring their own nonlinearity


class GatedLinear(nn.Module):
    """A gated layer (Dauphin et al., 2017), the hidden layer of Tomczak & Welling's VampPrior networks:

    h = (W x + b) ⊙ σ(V x + c),

    a linear map whose every unit is scaled by a sigmoid gate computed from the same input.  Both maps are one
    ``nn.Linear`` of twice the width (a single matrix product), split in two.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.both = nn.Linear(in_dim, 2 * out_dim)  # rows [:out_dim] are (W, b), rows [out_dim:] are (V, c)

    def forward(self, x):
        value, gate = self.both(x).chunk(2, dim=-1)
        return value * gate.sigmoid()

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}"


def check_hidden(hidden) -> list[int]:
    """The hidden-layer widths as a list of positive integers (one integer is one layer)."""
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"hidden must be a list of hidden-layer widths, e.g. [300, 300] (or [] for none), got "
                         f"{hidden!r}.")
    return [positive_int(width, f"hidden[{i}] (a hidden layer width)") for i, width in enumerate(hidden)]


class MLP(Rebuildable, nn.Sequential):
    """A fully connected network ``in_dim → hidden[0] → … → hidden[-1] → out_dim``.

    Every hidden layer is followed by ``activation``, or, with ``activation="gated"``, every hidden layer is a
    :class:`GatedLinear` layer; the output layer is linear (the likelihood or the encoder head decides what its
    outputs mean).
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu"):
        in_dim, out_dim = positive_int(in_dim, "in_dim"), positive_int(out_dim, "out_dim")
        hidden = check_hidden(hidden)
        if not isinstance(activation, str) or (activation not in ACTIVATIONS and activation != GATED):
            raise ValueError(f"Unknown activation {activation!r}; choose one of {sorted([*ACTIVATIONS, GATED])}.")
        layers: list[nn.Module] = []
        widths = [in_dim, *hidden]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [GatedLinear(a, b)] if activation == GATED else [nn.Linear(a, b), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], out_dim))
        super().__init__(*layers)
        self.in_dim, self.hidden, self.out_dim, self.activation = in_dim, hidden, out_dim, activation
