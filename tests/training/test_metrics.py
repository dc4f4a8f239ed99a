"""Metric names, accuracy per loss kind, and row-weighted running means."""

from __future__ import annotations

import json

import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training.losses import get_loss
from streamfit.training.metrics import RunningMeans, get_metrics


def _accuracy(loss_name):
    return get_metrics(["accuracy"], get_loss(loss_name))[0].fn


def test_accuracy_follows_the_loss():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert _accuracy("sparse_categorical_crossentropy")(logits, torch.tensor([0, 1, 1, 1])) == 0.75
    one_hot = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    assert _accuracy("categorical_crossentropy")(logits, one_hot) == 0.5
    # The built-in metrics read probabilities (what predict returns): sigmoid of the logits.
    binary = torch.sigmoid(torch.tensor([[0.3], [-2.0], [0.0], [4.0]]))
    assert _accuracy("binary_crossentropy")(binary, torch.tensor([1.0, 0.0, 1.0, 0.0])) == 0.5
    assert _accuracy("mse")(torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 3.0])) == 0.5
    assert _accuracy("mse")(logits, torch.tensor([0, 1, 0, 0])) == 0.75


def test_names_callables_and_duplicates():
    def top_score(output, target):
        return output.max()

    metrics = get_metrics(["acc", top_score], get_loss("mse"))
    assert [m.name for m in metrics] == ["acc", "top_score"]
    assert [m.spec for m in metrics] == ["acc", None]
    with pytest.raises(OptionError, match=r"^metrics=\['f1'\] holds 'f1', which is not a known metric"):
        get_metrics(["f1"], None)
    with pytest.raises(UserError, match="each must be unique and not 'loss'"):
        get_metrics(["accuracy", "accuracy"], None)
    with pytest.raises(OptionError, match="a metric must be a name or a callable"):
        get_metrics([3], None)


def test_running_means_weight_batches_by_rows():
    means = RunningMeans()
    assert means.result() == {}
    means.update({"loss": torch.tensor(1.0), "accuracy": 1.0}, rows=3)
    means.update({"loss": torch.tensor([4.0, 6.0]), "accuracy": 0.0}, rows=1)
    assert means.result() == {"loss": pytest.approx(2.0), "accuracy": 0.75}


def test_running_means_state_round_trips_floats_and_tensors():
    means = RunningMeans()
    means.update({"loss": torch.tensor(2.0), "accuracy": 0.5}, rows=4)
    state, tensors = means.state_dict(), means.tensor_state_dict()
    assert json.loads(json.dumps(state)) == {"rows": 4, "floats": {"accuracy": 2.0}}
    assert set(tensors) == {"loss"} and tensors["loss"].item() == 8.0
    restored = RunningMeans()
    restored.load_state_dict(state)
    restored.load_tensor_state_dict(tensors)
    assert restored.result() == means.result() == {"loss": 2.0, "accuracy": 0.5}
    assert RunningMeans().state_dict() == {"rows": 0, "floats": {}}
