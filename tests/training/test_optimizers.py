"""Optimizer names with Keras' defaults, instances and factories."""

from __future__ import annotations

import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training.optimizers import get_optimizer, learning_rate, set_learning_rate


@pytest.mark.parametrize(("name", "cls", "lr"), [
    ("adam", torch.optim.Adam, 1e-3), ("sgd", torch.optim.SGD, 0.01),
    ("rmsprop", torch.optim.RMSprop, 1e-3), ("adamw", torch.optim.AdamW, 1e-3),
    ("adagrad", torch.optim.Adagrad, 1e-3), ("Adam", torch.optim.Adam, 1e-3)])
def test_names_give_keras_defaults(name, cls, lr):
    optimizer = get_optimizer(name, torch.nn.Linear(2, 2).parameters())
    assert type(optimizer) is cls and learning_rate(optimizer) == lr


def test_instances_pass_through_and_factories_are_called():
    module = torch.nn.Linear(2, 2)
    ready = torch.optim.SGD(module.parameters(), lr=0.3)
    assert get_optimizer(ready, module.parameters()) is ready
    built = get_optimizer(lambda params: torch.optim.Adam(params, lr=3e-4), module.parameters())
    assert learning_rate(built) == 3e-4
    assert get_optimizer(None, module.parameters()) is None


def test_bad_optimizers_are_user_errors():
    params = torch.nn.Linear(2, 2).parameters()
    with pytest.raises(OptionError, match="optimizer='lion' is not a known optimizer"):
        get_optimizer("lion", params)
    with pytest.raises(UserError, match="factory returned list, not a torch.optim.Optimizer"):
        get_optimizer(lambda params: list(params), params)
    with pytest.raises(UserError, match="neither a name, an optimizer nor a factory"):
        get_optimizer(0.1, params)


def test_set_learning_rate_sets_every_group():
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    optimizer = torch.optim.SGD([{"params": module[0].parameters()},
                                 {"params": module[1].parameters(), "lr": 0.5}], lr=0.1)
    set_learning_rate(optimizer, 0.02)
    assert [group["lr"] for group in optimizer.param_groups] == [0.02, 0.02]
