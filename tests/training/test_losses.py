"""Loss names: per-sample values equal torch's, targets in the shapes users give."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from streamfit.errors import OptionError, UserError
from streamfit.losses import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    Huber,
    KLDivergence,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from streamfit.training.losses import BINARY, MULTICLASS, PROBABILITIES, REGRESSION, get_loss

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
CLASSES = torch.tensor([0, 2, 1, 1])


def test_sparse_categorical_matches_cross_entropy_per_sample():
    loss = get_loss("sparse_categorical_crossentropy")
    expected = F.cross_entropy(LOGITS, CLASSES, reduction="none")
    torch.testing.assert_close(loss.fn(LOGITS, CLASSES), expected)
    torch.testing.assert_close(loss.fn(LOGITS, CLASSES[:, None].float()), expected)
    assert loss.kind == MULTICLASS
    torch.testing.assert_close(loss.probabilities(LOGITS), torch.softmax(LOGITS, dim=1))


def test_categorical_takes_one_hot_targets():
    one_hot = F.one_hot(CLASSES, 3)
    torch.testing.assert_close(get_loss("categorical_crossentropy").fn(LOGITS, one_hot),
                               F.cross_entropy(LOGITS, CLASSES, reduction="none"))


def test_binary_applies_the_sigmoid_and_takes_flat_targets():
    logits = torch.tensor([[1.5], [-0.3], [0.0]])
    target = torch.tensor([1, 0, 1])
    loss = get_loss("binary_crossentropy")
    expected = F.binary_cross_entropy(torch.sigmoid(logits[:, 0]), target.float(), reduction="none")
    torch.testing.assert_close(loss.fn(logits, target), expected)
    assert loss.kind == BINARY
    torch.testing.assert_close(loss.probabilities(logits), torch.sigmoid(logits))


def test_mse_averages_each_row():
    output = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    loss = get_loss("mse")
    torch.testing.assert_close(loss.fn(output, torch.zeros(2, 2)), torch.tensor([2.5, 0.0]))
    assert loss.kind == REGRESSION and loss.probabilities(output) is output


def test_torch_loss_modules_are_copied_with_reduction_none():
    module = torch.nn.CrossEntropyLoss()
    loss = get_loss(module)
    assert module.reduction == "mean" and loss.fn.reduction == "none"
    assert loss.name is None and loss.kind is None
    assert loss.fn(LOGITS, CLASSES).shape == (4,)


def test_unknown_losses_are_user_errors():
    with pytest.raises(OptionError, match="loss='hinge' is not a known loss; use one of"):
        get_loss("hinge")
    with pytest.raises(UserError, match="neither a loss name nor a callable"):
        get_loss(3)
    assert get_loss(None) is None





def _random(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(16, 4)).astype(np.float32) * 2
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ids = rng.integers(0, 4, 16)
    tokens = rng.normal(size=(8, 5, 4)).astype(np.float32)
    return {"logits": logits, "softmax": softmax.astype(np.float32), "ids": ids,
            "one_hot": np.eye(4, dtype=np.float32)[ids], "bits": rng.integers(0, 2, (16, 4)).astype(np.float32),
            "sigmoid": (1 / (1 + np.exp(-logits))).astype(np.float32),
            "weights": rng.random(16).astype(np.float32), "tokens": tokens,
            "token_ids": rng.integers(0, 4, (8, 5)), "mask": (rng.random((8, 5)) > 0.3).astype(np.float32),
            "values": rng.normal(size=(16, 3)).astype(np.float32) * 2,
            "targets": rng.normal(size=(16, 3)).astype(np.float32)}


def _cases(keras, d):
    """(streamfit loss, Keras loss, y_true, y_pred, sample_weight)."""
    k = keras.losses
    return [
        (BinaryCrossentropy(from_logits=False), k.BinaryCrossentropy(), d["bits"], d["sigmoid"], None),
        (BinaryCrossentropy(from_logits=True), k.BinaryCrossentropy(from_logits=True), d["bits"],
         d["logits"], d["weights"]),
        (CategoricalCrossentropy(from_logits=False), k.CategoricalCrossentropy(), d["one_hot"],
         d["softmax"], d["weights"]),
        (CategoricalCrossentropy(from_logits=True), k.CategoricalCrossentropy(from_logits=True),
         d["one_hot"], d["logits"], None),
        (SparseCategoricalCrossentropy(from_logits=False), k.SparseCategoricalCrossentropy(),
         d["ids"], d["softmax"], d["weights"]),
        (SparseCategoricalCrossentropy(from_logits=True),
         k.SparseCategoricalCrossentropy(from_logits=True), d["token_ids"], d["tokens"], d["mask"]),
        (BinaryFocalCrossentropy(from_logits=False), k.BinaryFocalCrossentropy(), d["bits"],
         d["sigmoid"], None),
        (BinaryFocalCrossentropy(from_logits=True), k.BinaryFocalCrossentropy(from_logits=True),
         d["bits"], d["logits"], d["weights"]),
        (BinaryFocalCrossentropy(from_logits=True, gamma=3.0, apply_class_balancing=True),
         k.BinaryFocalCrossentropy(from_logits=True, gamma=3.0, apply_class_balancing=True),
         d["bits"], d["logits"], None),
        (MeanSquaredError(), k.MeanSquaredError(), d["targets"], d["values"], d["weights"]),
        (MeanAbsoluteError(), k.MeanAbsoluteError(), d["targets"], d["values"], None),
        (Huber(), k.Huber(), d["targets"], d["values"], d["weights"]),
        (Huber(delta=0.5), k.Huber(delta=0.5), d["targets"], d["values"], None),
        (KLDivergence(), k.KLDivergence(), d["one_hot"] * 0.9 + 0.025, d["softmax"], d["weights"]),
    ]


@pytest.mark.parametrize("case", range(14))
def test_each_loss_equals_keras_3(keras, case):
    ours, theirs, y_true, y_pred, weights = _cases(keras, _random())[case]
    expected = float(keras.ops.convert_to_numpy(theirs(y_true, y_pred, sample_weight=weights)))
    assert float(ours(y_true, y_pred, sample_weight=weights)) == pytest.approx(expected, rel=1e-5,
                                                                               abs=1e-6)


@pytest.mark.parametrize("name", ["mae", "mean_absolute_error", "mse", "huber", "kld",
                                  "kl_divergence", "binary_focal_crossentropy"])
def test_names_resolve_as_keras_compile_strings_do(keras, name):
    d = _random(1)
    y_true, y_pred = (d["one_hot"], d["softmax"]) if "k" in name[:2] else (d["bits"], d["sigmoid"])
    expected = keras.losses.get(name)(y_true, y_pred)
    loss = get_loss(name)
    if loss.output is None:
        loss = loss.with_output(PROBABILITIES)  # what Keras' name means: from_logits=False
    values = loss.fn(torch.as_tensor(y_pred), torch.as_tensor(y_true))
    np.testing.assert_allclose(values.numpy(), keras.ops.convert_to_numpy(expected), rtol=1e-5,
                               atol=1e-6)


def test_per_token_sparse_crossentropy_reads_the_classes_on_the_last_axis():
    d = _random(2)
    tokens, ids = torch.as_tensor(d["tokens"][:, :4, :]), torch.as_tensor(d["token_ids"][:, :4])
    values = get_loss("sparse_categorical_crossentropy").fn(tokens, ids)  # maxlen == classes == 4
    expected = F.cross_entropy(tokens.reshape(-1, 4), ids.reshape(-1), reduction="none")
    torch.testing.assert_close(values, expected.reshape(8, 4))


def test_loss_weights_multiply_the_loss_and_bad_ones_say_why():
    assert get_loss("mse", 0.5).weight == 0.5
    assert get_loss("mse", [2.0]).weight == get_loss("mse", {"out": 2.0}).weight == 2.0
    with pytest.raises(OptionError, match=r"loss_weights=\[1, 2\] must be a number, or one entry"):
        get_loss("mse", [1, 2])
    with pytest.raises(OptionError, match="from_logits=True does not apply to mse"):
        MeanSquaredError(from_logits=True)
    with pytest.raises(OptionError, match="label_smoothing=0.1 is not a setting of BinaryCrossentropy"):
        BinaryCrossentropy(label_smoothing=0.1)


def test_compile_takes_keras_order_and_loss_weights_multiply_the_logged_loss(tmp_path):
    from streamfit.training import Model, load_model

    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    y = np.zeros((10, 2), np.float32)
    model = Model(module, loss="mse", device="cpu")
    plain = model.evaluate(x, y)
    model.compile("sgd", "mse", ["mae"], [0.25])
    assert isinstance(model.optimizer, torch.optim.SGD)
    loss, mae = model.evaluate(x, y)
    assert loss == pytest.approx(0.25 * plain) and model.metrics_names == ["loss", "mae"]
    with torch.no_grad():
        assert mae == pytest.approx(float(module(torch.as_tensor(x)).abs().mean()), rel=1e-5)
    model.save(tmp_path / "saved")
    loaded = load_model(tmp_path / "saved", module=torch.nn.Linear(3, 2), device="cpu")
    assert loaded.loss.weight == 0.25 and loaded.loss.name == "mse"
    focal = Model(module, loss=BinaryFocalCrossentropy(gamma=3.0, from_logits=True),
                  loss_weights={"out": 2.0}, device="cpu")
    focal.save(tmp_path / "focal")
    again = load_model(tmp_path / "focal", module=torch.nn.Linear(3, 2), device="cpu")
    assert again.loss.options["gamma"] == 3.0 and again.loss.weight == 2.0
    assert again.loss.output == "logits"
    Model(module, loss="mean_squared_error", device="cpu").save(tmp_path / "alias")
    alias = load_model(tmp_path / "alias", module=torch.nn.Linear(3, 2), device="cpu")
    assert alias.loss.name == "mean_squared_error"
