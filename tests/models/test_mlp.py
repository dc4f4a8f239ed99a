import torch

from streamfit.models import NgramMLP


def test_glorot_initialisation_of_the_sparse_first_layer():
    model = NgramMLP(20000, 2, units=64)
    limit = (6 / (20000 + 64)) ** 0.5
    weight = model.input_layer.bag.weight
    assert weight.abs().max() <= limit and weight.std() > 0.5 * limit / 3 ** 0.5
    assert torch.count_nonzero(model.input_layer.bias) == 0


def test_mlp_follows_the_guide_layer_count():
    # layers=2: one hidden Dense(units), then the output; layers=1: linear.
    assert sum(isinstance(m, torch.nn.Linear) for m in NgramMLP(10, 2, layers=2).modules()) == 1
    assert sum(isinstance(m, torch.nn.Linear) for m in NgramMLP(10, 2, layers=3).modules()) == 2
    linear = NgramMLP(10, 3, layers=1)
    assert linear.input_layer.out_features == 3
    assert linear(torch.zeros(2, 10).to_sparse_csr()).shape == (2, 3)
