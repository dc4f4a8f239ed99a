"""Save and load: a directory of JSON and tensors, no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamfit.errors import UserError
from streamfit.models.registry import module_class
from streamfit.training import Model, load_model, register_module

SPARSE_CE = "sparse_categorical_crossentropy"


@register_module
class SavedMLP(torch.nn.Module):
    def __init__(self, features: int, classes: int, hidden: int = 8):
        super().__init__()
        self.features, self.classes, self.hidden = features, classes, hidden
        self.net = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)

    def get_config(self):
        return {"features": self.features, "classes": self.classes, "hidden": self.hidden}


class Unregistered(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(300, 3)

    def forward(self, x):
        return self.linear(x)


def _trained(module, data) -> Model:
    x, y = data
    model = Model(module, loss=SPARSE_CE, optimizer="rmsprop", metrics=["accuracy"], seed=5)
    model.fit(x, y, epochs=1, verbose=0)
    return model


def test_a_registered_module_is_rebuilt_without_module(data, tmp_path):
    x, y = data
    torch.manual_seed(0)
    model = _trained(SavedMLP(300, 3), data)
    model.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "weights.pt"]
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["module"] == {"class": "SavedMLP", "registered_name": "SavedMLP",
                              "config": {"features": 300, "classes": 3, "hidden": 8}}
    assert (meta["loss"], meta["optimizer"], meta["metrics"], meta["seed"]) == (
        SPARSE_CE, "rmsprop", ["accuracy"], 5)

    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded.module, SavedMLP) and loaded.seed == 5
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    assert isinstance(loaded.optimizer, torch.optim.RMSprop)


def test_an_unregistered_module_needs_module(data, tmp_path):
    x, _ = data
    torch.manual_seed(0)
    model = _trained(Unregistered(), data)
    model.save(tmp_path / "model")
    with pytest.raises(UserError, match="holds weights of Unregistered, which load_model cannot "
                                        "rebuild .* pass load_model\\(.*, module=Unregistered"):
        load_model(tmp_path / "model")
    loaded = load_model(tmp_path / "model", module=Unregistered())
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_weights_load_with_weights_only(data, tmp_path):
    torch.manual_seed(0)
    model = _trained(Unregistered(), data)
    model.save(tmp_path / "model")
    weights = torch.load(tmp_path / "model" / "weights.pt", weights_only=True)
    assert sorted(weights) == ["linear.bias", "linear.weight"]
    assert torch.equal(weights["linear.weight"], model.module.linear.weight.detach())


def test_a_path_that_is_not_a_saved_model_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("hello")
    for path in (tmp_path / "empty", tmp_path / "file.txt", tmp_path / "missing"):
        with pytest.raises(UserError, match="is not a saved streamfit model"):
            load_model(path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.json").write_text('{"format": "keras"}')
    (tmp_path / "other" / "weights.pt").write_bytes(b"")
    with pytest.raises(UserError, match="is not a streamfit model description"):
        load_model(tmp_path / "other")
    with pytest.raises(UserError, match="it is a file; give a directory path"):
        Model(Unregistered()).save(tmp_path / "file.txt")


def test_weights_that_do_not_fit_the_module_are_a_user_error(tmp_path):
    Model(Unregistered()).save(tmp_path / "model")
    with pytest.raises(UserError, match="do not fit SavedMLP .* built like the saved Unregistered"):
        load_model(tmp_path / "model", module=SavedMLP(300, 3))


def test_callables_are_not_saved_and_compile_restores_them(data, tmp_path):
    x, y = data
    model = Model(Unregistered(), loss=torch.nn.CrossEntropyLoss(),
                  optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model", module=Unregistered())
    assert loaded.loss is None and loaded.optimizer is None
    loaded.compile(loss=torch.nn.CrossEntropyLoss(), optimizer="sgd")
    assert loaded.evaluate(x, y) == pytest.approx(model.evaluate(x, y), rel=1e-6)


def test_registry_names_and_conflicts():
    assert module_class("SavedMLP") is SavedMLP
    register_module(SavedMLP)  # the same class again (a module imported twice) is fine

    class Other(torch.nn.Module):
        pass

    with pytest.raises(UserError, match="'SavedMLP' is already .*SavedMLP; register .*Other with another name="):
        register_module(name="SavedMLP")(Other)
    assert register_module(name="other-for-test")(Other) is Other
    assert module_class("other-for-test") is Other
