"""Modules that end in a probability (the guide's nn.Sigmoid / nn.Softmax): the loss, predict
and accuracy follow, as Keras' `from_logits=False`; `from_logits=` chooses explicitly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from streamfit.errors import UserError
from streamfit.losses import BinaryCrossentropy, SparseCategoricalCrossentropy
from streamfit.training import Model, load_model
from streamfit.training.losses import (
    LOG_PROBABILITIES,
    LOGITS,
    PROBABILITIES,
    ProbabilityOutputWarning,
)


def tfidf_like(rows: int, classes: int = 3, seed: int = 0, features: int = 300):
    """Sparse-looking rows whose class shows in its own block of features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    x = (rng.random((rows, features)) < 0.03) * rng.random((rows, features))
    block = features // classes
    for _ in range(4):
        x[np.arange(rows), labels * block + rng.integers(0, 20, rows)] += 0.8
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


def _mlp(outputs: int, last: torch.nn.Module | None, features: int = 300) -> torch.nn.Module:
    """The guide's MLP: dropout, dense + relu, dropout, dense, then its final activation."""
    torch.manual_seed(0)
    layers = [torch.nn.Dropout(0.2), torch.nn.Linear(features, 16), torch.nn.ReLU(),
              torch.nn.Dropout(0.2), torch.nn.Linear(16, outputs)]
    return torch.nn.Sequential(*layers, *([last] if last is not None else []))


def _binary_data() -> tuple[np.ndarray, np.ndarray]:
    x, labels = tfidf_like(rows=600, classes=3, seed=1)
    # Two of three blocks positive: a 2/3 positive share that a stuck model would report.
    return x, (labels > 0).astype(np.float32)


def _module_output(model: Model, x: np.ndarray) -> np.ndarray:
    model.module.eval()
    with torch.no_grad():
        return model.module(torch.as_tensor(x)).numpy()


def test_a_final_sigmoid_trains_with_binary_crossentropy_on_probabilities():
    x, y = _binary_data()
    model = Model(_mlp(1, torch.nn.Sigmoid()), loss="binary_crossentropy", metrics=["accuracy"],
                  device="cpu", seed=0)
    with pytest.warns(ProbabilityOutputWarning, match=r"Sigmoid.*binary_crossentropy reads "
                      r"probabilities") as caught:
        history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
        loss, accuracy = model.evaluate(x, y)
        predicted = model.predict(x)
    assert sum(isinstance(w.message, ProbabilityOutputWarning) for w in caught) == 1
    assert model.loss.output == PROBABILITIES
    share = float(y.mean())
    assert history.history["accuracy"][-1] > 0.95 > share + 0.2 and accuracy > 0.95
    # predict returns the module's own probabilities (no second sigmoid).
    np.testing.assert_allclose(predicted, _module_output(model, x), rtol=1e-6)
    clipped = np.clip(predicted[:, 0], 1e-7, 1 - 1e-7)
    by_hand = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    assert loss == pytest.approx(by_hand, rel=1e-4)
    # Accuracy thresholds the probability at 0.5, not the "logit" at 0.
    assert accuracy == pytest.approx(np.mean((predicted[:, 0] > 0.5) == (y > 0.5)))


@pytest.mark.parametrize(("last", "output"), [(torch.nn.Softmax(dim=-1), PROBABILITIES),
                                              (torch.nn.LogSoftmax(dim=1), LOG_PROBABILITIES)])
def test_a_final_softmax_or_log_softmax_trains_with_sparse_categorical(last, output):
    x, y = tfidf_like(rows=600, seed=2)
    model = Model(_mlp(3, last), loss="sparse_categorical_crossentropy", metrics=["acc"],
                  device="cpu", seed=0)
    with pytest.warns(ProbabilityOutputWarning, match=type(last).__name__):
        history = model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    assert model.loss.output == output
    assert history.history["acc"][-1] > 0.9
    raw = _module_output(model, x)
    probabilities = raw if output == PROBABILITIES else np.exp(raw)
    np.testing.assert_allclose(model.predict(x), probabilities, rtol=1e-5, atol=1e-7)
    chosen = probabilities[np.arange(len(y)), y]
    if output == PROBABILITIES:
        chosen = np.clip(chosen / probabilities.sum(axis=1), 1e-7, 1 - 1e-7)
    assert model.evaluate(x, y)[0] == pytest.approx(-np.mean(np.log(chosen)), rel=1e-4)


def test_a_softmax_computed_in_forward_is_found_from_the_values():
    class Functional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = _mlp(3, None)

        def forward(self, x):
            return torch.softmax(self.body(x), dim=-1)

    x, y = tfidf_like(rows=64, seed=3)
    model = Model(Functional(), loss="sparse_categorical_crossentropy", device="cpu", seed=0)
    with pytest.warns(ProbabilityOutputWarning, match="rows that sum to 1"):
        predicted = model.predict(x)
    np.testing.assert_allclose(predicted, _module_output(model, x), rtol=1e-6)


def test_logits_modules_and_explicit_from_logits_are_left_alone():
    x, y = _binary_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProbabilityOutputWarning)
        logits = Model(_mlp(1, None), loss="binary_crossentropy", device="cpu", seed=0)
        logits.fit(x[:64], y[:64], epochs=1, verbose=0)
        assert logits.loss.output == LOGITS
        np.testing.assert_allclose(logits.predict(x[:8]), 1 / (1 + np.exp(-_module_output(logits, x[:8]))),
                                   rtol=1e-5)
        # from_logits=True on a sigmoid module: the user's word, as Keras takes it.
        explicit = Model(_mlp(1, torch.nn.Sigmoid()), loss=BinaryCrossentropy(from_logits=True),
                         device="cpu", seed=0)
        raw = _module_output(explicit, x[:8])
        np.testing.assert_allclose(explicit.predict(x[:8]), 1 / (1 + np.exp(-raw)), rtol=1e-5)
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.as_tensor(raw[:, 0]), torch.as_tensor(y[:8]))
        assert explicit.evaluate(x[:8], y[:8]) == pytest.approx(float(expected), rel=1e-5)
        assert explicit.loss.output == LOGITS


def test_from_logits_false_on_a_logits_module_is_an_error():
    x, y = tfidf_like(rows=32, seed=4)
    model = Model(_mlp(3, None), loss=SparseCategoricalCrossentropy(from_logits=False), device="cpu")
    with torch.no_grad():
        model.module[-1].bias.fill_(5.0)  # outputs above 1 for certain
    with pytest.raises(UserError, match=r"from_logits=False, but the module's outputs for batch 0 "
                       r"of epoch 0 lie outside \[0, 1\].*pass from_logits=True"):
        model.fit(x, y, epochs=1, verbose=0)


def test_the_decision_survives_save_load_and_compile_decides_again(tmp_path):
    x, y = _binary_data()
    model = Model(_mlp(1, torch.nn.Sigmoid()), loss="binary_crossentropy", device="cpu", seed=0)
    with pytest.warns(ProbabilityOutputWarning):
        model.fit(x[:64], y[:64], epochs=1, verbose=0)
    model.save(tmp_path / "saved")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProbabilityOutputWarning)
        loaded = load_model(tmp_path / "saved", module=_mlp(1, torch.nn.Sigmoid()), device="cpu")
        np.testing.assert_allclose(loaded.predict(x[:16]), model.predict(x[:16]), rtol=1e-6)
    assert loaded.loss.output == PROBABILITIES and loaded.loss.name == "binary_crossentropy"
    model.compile("adam", "binary_crossentropy")
    assert model.loss.output is None
    with pytest.warns(ProbabilityOutputWarning):
        model.evaluate(x[:16], y[:16])
