"""class_weight="balanced" from the labels (Keras' and scikit-learn's formula), {} as none,
and the batch with 0 rows that a tutorial's inclusive randint draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training import Model
from streamfit.training.loop import balanced_class_weights


def _model() -> Model:
    torch.manual_seed(0)
    return Model(torch.nn.Linear(4, 3), loss="sparse_categorical_crossentropy",
                 optimizer=lambda params: torch.optim.SGD(params, lr=0.0), device="cpu", seed=0)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 4)).astype(np.float32), np.array([0] * 25 + [1] * 10 + [2] * 5)


def _per_sample_loss(model: Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = model.module(torch.as_tensor(x))
    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(y), reduction="none").numpy()


def test_balanced_weights_follow_the_formula_and_weigh_the_loss():
    x, y = _data()
    weights = balanced_class_weights(y)
    assert weights == pytest.approx({0: 40 / (3 * 25), 1: 40 / (3 * 10), 2: 40 / (3 * 5)})
    model = _model()
    per_sample = _per_sample_loss(model, x, y)
    history = model.fit(x, y, batch_size=40, epochs=1, verbose=0, class_weight="balanced")
    expected = np.mean(per_sample * np.array([weights[label] for label in y]))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    # One-hot labels give the same weights.
    assert balanced_class_weights(np.eye(3)[y]) == weights


def test_an_empty_dict_means_no_class_weights_as_keras():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=40, epochs=1, verbose=0, class_weight={})
    assert history.history["loss"][0] == pytest.approx(_per_sample_loss(model, x, y).mean(), rel=1e-5)


def test_balanced_without_known_labels_or_a_wrong_string_says_what_to_pass():
    x, y = _data()

    def batches():
        while True:
            yield x[:8], y[:8]

    with pytest.raises(UserError, match=r"class_weight='balanced' needs the labels before training, "
                       r"but x is a generator.*pass a dict \{class id: weight\}"):
        _model().fit(batches(), steps_per_epoch=2, verbose=0, class_weight="balanced")
    with pytest.raises(OptionError, match="class_weight='auto' must be 'balanced' or a dict"):
        _model().fit(x, y, verbose=0, class_weight="auto")


def test_an_empty_batch_names_the_batch_and_the_inclusive_randint():
    x, y = _data()

    def generator():
        step = 0
        while True:
            rows = slice(0, 0) if step == 3 else slice(8 * step, 8 * step + 8)
            yield x[rows], y[rows]
            step += 1

    with pytest.raises(UserError, match=r"^batch 3 of epoch 0 is empty \(0 rows\).*randint "
                       r"includes its upper bound.*randrange"):
        _model().fit(generator(), steps_per_epoch=5, verbose=0)
    with pytest.raises(UserError, match=r"a prediction batch is empty \(0 rows\)"):
        _model().predict(iter([x[:0]]), steps=1)


def test_balanced_reads_the_labels_of_a_prepared_split(tmp_path):
    from streamfit.batches.prepared import PreparedBatches
    from streamfit.prepare.cache import PreparedSplit, SplitWriter

    x, y = _data()
    writer = SplitWriter(tmp_path / "train.arrow")
    # One token per row: its id is the row, so featurize can give the row's features back.
    writer.write(np.arange(41), np.arange(40), y)
    writer.close()

    def featurize(offsets, ids):
        return x[ids]

    batches = PreparedBatches(PreparedSplit(tmp_path / "train.arrow"), featurize, batch_size=40,
                              shuffle=False)
    model = _model()
    history = model.fit(batches, epochs=1, verbose=0, class_weight="balanced")
    weights = balanced_class_weights(y)
    expected = np.mean(_per_sample_loss(model, x, y) * np.array([weights[label] for label in y]))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
