"""Metric names, accuracy per loss kind, and row-weighted running means."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.metrics import (
    AUC,
    BinaryAccuracy,
    F1Score,
    Precision,
    Recall,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
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





def _batches(kind: str, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three batches of (y_true, probabilities), of unequal sizes, so that means of batch
    values would differ from the epoch's exact value."""
    rng = np.random.default_rng(seed)
    batches = []
    for rows in (40, 25, 7):
        if kind == "binary":
            y = rng.integers(0, 2, (rows, 1)).astype(np.float32)
            p = np.clip(y * 0.3 + rng.random((rows, 1)) * 0.7, 0, 1).astype(np.float32)
        else:
            logits = rng.normal(size=(rows, 7)).astype(np.float32)
            y = rng.integers(0, 7, rows)
            logits[np.arange(rows), y] += 1.0
            p = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
        batches.append((y, p))
    return batches


def _ours(name, loss: str, batches) -> float:
    metric = get_metrics([name], get_loss(loss))[0]
    means = RunningMeans()
    for y, p in batches:
        means.update({metric.name: metric.fn(torch.as_tensor(p), torch.as_tensor(y))}, rows=len(y))
    return means.result()[metric.name]


def _theirs(keras, metric, batches, one_hot: bool = False) -> float:
    for y, p in batches:
        metric.update_state(np.eye(p.shape[1], dtype=np.float32)[y] if one_hot else y, p)
    return float(np.mean(keras.ops.convert_to_numpy(metric.result())))


@pytest.mark.parametrize(("name", "loss", "kind", "make", "one_hot"), [
    ("binary_accuracy", "binary_crossentropy", "binary", lambda k: k.metrics.BinaryAccuracy(), False),
    ("accuracy", "binary_crossentropy", "binary", lambda k: k.metrics.BinaryAccuracy(), False),
    ("precision", "binary_crossentropy", "binary", lambda k: k.metrics.Precision(), False),
    ("recall", "binary_crossentropy", "binary", lambda k: k.metrics.Recall(), False),
    ("auc", "binary_crossentropy", "binary", lambda k: k.metrics.AUC(), False),
    ("f1_score", "binary_crossentropy", "binary", lambda k: k.metrics.F1Score(threshold=0.5), False),
    ("sparse_categorical_accuracy", "sparse_categorical_crossentropy", "multi",
     lambda k: k.metrics.SparseCategoricalAccuracy(), False),
    ("categorical_accuracy", "categorical_crossentropy", "multi",
     lambda k: k.metrics.CategoricalAccuracy(), True),
    ("top_k_categorical_accuracy", "categorical_crossentropy", "multi",
     lambda k: k.metrics.TopKCategoricalAccuracy(), True),
    ("sparse_top_k_categorical_accuracy", "sparse_categorical_crossentropy", "multi",
     lambda k: k.metrics.SparseTopKCategoricalAccuracy(), False),
    ("precision", "sparse_categorical_crossentropy", "multi", lambda k: k.metrics.Precision(), True),
    ("recall", "sparse_categorical_crossentropy", "multi", lambda k: k.metrics.Recall(), True),
    ("auc", "sparse_categorical_crossentropy", "multi", lambda k: k.metrics.AUC(), True),
    # Keras' F1Score(average=None) is a vector per class; streamfit's is its macro mean.
    ("f1_score", "sparse_categorical_crossentropy", "multi",
     lambda k: k.metrics.F1Score(average="macro"), True),
    # Keras' classes with settings, spelled as in Keras.
    (AUC(num_thresholds=50), "binary_crossentropy", "binary",
     lambda k: k.metrics.AUC(num_thresholds=50), False),
    (Precision(thresholds=0.7), "binary_crossentropy", "binary",
     lambda k: k.metrics.Precision(thresholds=0.7), False),
    (Recall(thresholds=0.3), "binary_crossentropy", "binary",
     lambda k: k.metrics.Recall(thresholds=0.3), False),
    (BinaryAccuracy(threshold=0.3), "binary_crossentropy", "binary",
     lambda k: k.metrics.BinaryAccuracy(threshold=0.3), False),
    (F1Score(threshold=0.3), "binary_crossentropy", "binary",
     lambda k: k.metrics.F1Score(threshold=0.3), False),
    (TopKCategoricalAccuracy(k=2), "categorical_crossentropy", "multi",
     lambda k: k.metrics.TopKCategoricalAccuracy(k=2), True),
    (SparseTopKCategoricalAccuracy(k=3, name="top3"), "sparse_categorical_crossentropy", "multi",
     lambda k: k.metrics.SparseTopKCategoricalAccuracy(k=3), False),
])
def test_each_metric_over_an_epoch_equals_keras_3(keras, name, loss, kind, make, one_hot):
    batches = _batches(kind)
    targets = [(np.eye(7, dtype=np.float32)[y], p) for y, p in batches] \
        if one_hot and "sparse" not in loss else batches
    expected = _theirs(keras, make(keras), batches, one_hot)
    tolerance = 1e-3 if "auc" in str(name).lower() else 1e-5
    assert _ours(name, loss, targets) == pytest.approx(expected, abs=tolerance)


def test_metric_classes_are_saved_with_their_settings_and_refuse_what_streamfit_lacks(tmp_path):
    from streamfit.training import Model, load_model

    specs = ["acc", AUC(num_thresholds=50), Precision(thresholds=0.7), AUC(name="roc"), Recall()]
    model = Model(torch.nn.Linear(3, 1), loss="binary_crossentropy", metrics=specs, device="cpu")
    assert model.metrics_names == ["loss", "acc", "auc", "precision", "roc", "recall"]
    model.save(tmp_path / "saved")
    loaded = load_model(tmp_path / "saved", module=torch.nn.Linear(3, 1), device="cpu")
    assert [metric.spec for metric in loaded.metrics] == [metric.spec for metric in model.metrics]
    assert loaded.metrics[2].spec == {"class": "Precision", "name": "precision", "thresholds": 0.7}
    with pytest.raises(OptionError, match="curve='PR' is not supported by streamfit's AUC"):
        AUC(curve="PR")
    with pytest.raises(OptionError, match="average='weighted' is not supported"):
        F1Score(average="weighted")
    with pytest.raises(OptionError, match="k=0 must be an integer >= 1"):
        TopKCategoricalAccuracy(k=0)
    with pytest.raises(OptionError, match="threshold=0.5 is not supported by F1Score with a multiclass"):
        get_metrics([F1Score(threshold=0.5)], get_loss("sparse_categorical_crossentropy"))


def test_count_metrics_are_exact_over_ranks_and_checkpoints():
    batches = _batches("binary", seed=3)
    metric = get_metrics(["precision"], get_loss("binary_crossentropy"))[0]
    first, second = RunningMeans(), RunningMeans()
    for means, part in ((first, batches[:1]), (second, batches[1:])):
        for y, p in part:
            means.update({"precision": metric.fn(torch.as_tensor(p), torch.as_tensor(y))}, len(y))
    state = json.loads(json.dumps(first.state_dict()))
    assert state == {"rows": 40, "floats": {}, "totals": {"precision": "precision"}}
    restored = RunningMeans()
    restored.load_state_dict(state)
    restored.load_tensor_state_dict(first.tensor_state_dict())
    for y, p in batches[1:]:
        restored.update({"precision": metric.fn(torch.as_tensor(p), torch.as_tensor(y))}, len(y))
    assert restored.result() == {"precision": pytest.approx(_ours("precision", "binary_crossentropy",
                                                                  batches), abs=1e-12)}
    # Two ranks' sums, added as Replicas.total adds them (one process: as is).
    from streamfit.training.replicas import Replicas

    total = Replicas.total(None, first)
    assert total.totals == {"precision": "precision"} and total.result() == first.result()
    zeroed = first.zeroed()
    assert zeroed.rows == 0 and float(zeroed.sums["precision"].sum()) == 0.0
    with pytest.raises(UserError, match="counts of the metric kind 'pr_auc'"):
        RunningMeans().load_state_dict({"rows": 1, "floats": {}, "totals": {"x": "pr_auc"}})


def test_count_metrics_resume_mid_epoch_to_the_uninterrupted_values(tmp_path):
    from streamfit.training import Callback, Model, TrainingInterrupted

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=100) > 0).astype(np.float32)

    class Interrupt(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                raise KeyboardInterrupt

    def run(directory, callbacks=(), resume=False):
        torch.manual_seed(0)
        model = Model(torch.nn.Linear(6, 1), loss="binary_crossentropy", seed=3, device="cpu",
                      metrics=["auc", "precision", "f1_score", "accuracy"])
        return model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=list(callbacks),
                         validation_data=(x[:30], y[:30]), checkpoint_dir=directory,
                         checkpoint_every_steps=3, resume_from=directory if resume else None)

    whole = run(tmp_path / "whole").history
    with pytest.raises(TrainingInterrupted):
        run(tmp_path / "cut", [Interrupt()])
    resumed = run(tmp_path / "cut", resume=True).history
    assert resumed == whole and 0.5 < whole["auc"][-1] <= 1.0


def test_train_on_batch_gives_a_count_metric_of_its_batch():
    from streamfit.training import Model

    torch.manual_seed(0)
    model = Model(torch.nn.Linear(2, 1), loss="binary_crossentropy", metrics=["precision", "auc"],
                  device="cpu")
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    expected = _ours("precision", "binary_crossentropy", [(y, model.predict(x))])
    loss, precision, auc = model.test_on_batch(x, y)
    assert precision == pytest.approx(expected) and 0.0 <= auc <= 1.0
    assert model.train_on_batch(x, y, return_dict=True)["precision"] == pytest.approx(expected)
