"""vaelab.nets: the MLP against the papers' layer configurations (Kingma & Welling's; Tomczak & Welling's gated
network) and the gated layer against its formula h = (W x + b) ⊙ σ(V x + c) computed directly."""

import torch

import vaelab as vl


def test_mlp_matches_kingma_welling_configuration():
    net = vl.MLP(784, [500], 100, activation="tanh")
    assert [type(m).__name__ for m in net] == ["Linear", "Tanh", "Linear"]
    assert net[0].weight.shape == (500, 784) and net[2].weight.shape == (100, 500)
    model = vl.VAE(x_dim=784, z_dim=50, hidden=[500], activation="tanh")
    assert model.encoder[0].out_features == 500 and model.decoder[-1].out_features == 784


def test_gated_layer_is_a_linear_map_times_a_sigmoid_gate():
    # Dauphin et al. (2017), Tomczak & Welling's hidden layer: h = (W x + b) ⊙ σ(V x + c), computed directly
    torch.manual_seed(0)
    layer = vl.nets.GatedLinear(7, 5)
    W, V = layer.both.weight[:5], layer.both.weight[5:]
    b, c = layer.both.bias[:5], layer.both.bias[5:]
    x = torch.randn(11, 7)
    expected = (x @ W.T + b) * torch.sigmoid(x @ V.T + c)
    torch.testing.assert_close(layer(x), expected)
    # a gate far below zero shuts its unit; far above, the unit is the plain linear map
    with torch.no_grad():
        layer.both.bias[5:] = torch.tensor([-100.0, -100.0, 100.0, 100.0, 100.0])
    h = layer(x)
    assert h[:, :2].abs().max() < 1e-30
    torch.testing.assert_close(h[:, 2:], x @ W[2:].T + b[2:])


def test_gated_mlp_is_the_vampprior_papers_network():
    net = vl.MLP(784, [300, 300], 80, activation="gated")
    assert [type(m).__name__ for m in net] == ["GatedLinear", "GatedLinear", "Linear"]
    assert net[0].both.weight.shape == (600, 784) and net[1].both.weight.shape == (600, 300)
    model = vl.VAE(x_dim=784, z_dim=40, hidden=[300, 300], activation="gated", prior=vl.VampPrior(5, 784))
    x = torch.rand(4, 784).bernoulli()
    out = model.loss(x)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.encoder[0].both.weight.grad.abs().sum() > 0
