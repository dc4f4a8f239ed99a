"""class_weight="balanced" on multi-hot targets: each label's positives and negatives weighed as one
binary problem (scikit-learn's formula per label), pair by pair in the binary cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch

from streamfit.batches.prepared import PreparedBatches
from streamfit.errors import OptionError, UserError
from streamfit.prepare.cache import PreparedSplit, SplitWriter
from streamfit.training import Model
from streamfit.training.loop import ClassWeights, balanced_label_weights

#: 8 rows, 3 labels: label 0 on 6 rows, label 1 on 2, label 2 on 1; one row has none.
LABELS = [[0], [0, 1], [0], [0, 2], [0], [0, 1], [], [1]]


def _multi_hot(rows: list[list[int]], labels: int = 3) -> np.ndarray:
    matrix = np.zeros((len(rows), labels), np.float32)
    for i, row in enumerate(rows):
        matrix[i, row] = 1
    return matrix


def _sklearn_balanced(column: np.ndarray) -> dict[int, float]:
    """What `sklearn.utils.class_weight.compute_class_weight("balanced")` gives a 0/1 column."""
    classes, counts = np.unique(column, return_counts=True)
    return {int(c): len(column) / (len(classes) * n) for c, n in zip(classes, counts, strict=True)}


def test_each_label_is_weighed_as_its_own_binary_problem():
    y = _multi_hot(LABELS)
    positive, negative = balanced_label_weights(scipy.sparse.csr_matrix(y))
    for label in range(3):
        expected = _sklearn_balanced(y[:, label])
        assert positive[label] == pytest.approx(expected[1])
        assert negative[label] == pytest.approx(expected[0])
    assert positive.tolist() == pytest.approx([8 / 12, 8 / 6, 8 / 2])
    np.testing.assert_array_equal(balanced_label_weights(y)[0], positive)  # dense rows alike


def test_a_label_on_every_row_or_none_weighs_one_where_a_side_is_missing():
    positive, negative = balanced_label_weights(np.array([[1, 0], [1, 0]]))
    assert positive.tolist() == [1.0, 1.0] and negative.tolist() == [1.0, 1.0]
    with pytest.raises(UserError, match=r"needs multi-hot rows \(rows, labels\) of 0 and 1"):
        balanced_label_weights(np.array([[2, 0]]))


def _split(tmp_path, labels: list[list[int]]) -> PreparedSplit:
    writer = SplitWriter(tmp_path / "train.arrow", multi_label=True)
    lengths = [len(row) for row in labels]
    label_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    label_ids = np.array([i for row in labels for i in row], np.int32)
    # One token per row: its id is the row, so featurize gives the row's features back.
    writer.write(np.arange(len(labels) + 1), np.arange(len(labels)), (label_offsets, label_ids))
    writer.close()
    return PreparedSplit(tmp_path / "train.arrow", num_classes=3)


def test_fit_weighs_every_row_and_label_pair_of_a_multi_label_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(LABELS), 4)).astype(np.float32)
    y = _multi_hot(LABELS)
    batches = PreparedBatches(_split(tmp_path, LABELS), lambda offsets, ids: x[ids],
                              batch_size=len(LABELS), shuffle=False)
    torch.manual_seed(0)
    model = Model(torch.nn.Linear(4, 3), loss="binary_crossentropy",
                  optimizer=lambda params: torch.optim.SGD(params, lr=0.0), device="cpu", seed=0)
    with torch.no_grad():
        logits = model.module(torch.as_tensor(x))
    pairs = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.as_tensor(y), reduction="none").numpy()
    weights = np.empty_like(y)
    for label in range(3):
        by_value = _sklearn_balanced(y[:, label])
        weights[:, label] = np.where(y[:, label] > 0, by_value[1], by_value[0])
    history = model.fit(batches, epochs=1, verbose=0, class_weight="balanced")
    assert history.history["loss"][0] == pytest.approx((pairs * weights).mean(), rel=1e-5)
    unweighted = model.fit(batches, epochs=1, verbose=0).history["loss"][0]
    assert unweighted == pytest.approx(pairs.mean(), rel=1e-5)
    assert abs(unweighted - history.history["loss"][0]) > 1e-3  # the weights did change the loss


def test_per_label_weights_need_a_binary_loss_and_one_weight_per_label():
    weights = ClassWeights.per_label(np.ones(3), np.ones(3), torch.device("cpu"))
    loss = Model(torch.nn.Linear(2, 3), loss="mse").loss
    with pytest.raises(UserError, match=r"weighs each label's binary loss, but the loss is mse"):
        weights.losses(loss, torch.zeros(2, 3), torch.zeros(2, 3))
    bce = Model(torch.nn.Linear(2, 4), loss="binary_crossentropy").loss
    with pytest.raises(UserError, match=r"has 3 labels, but the outputs have shape \(2, 4\)"):
        weights.losses(bce, torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(OptionError, match=r"must give each label a finite weight >= 0"):
        ClassWeights.per_label(np.ones(3), -np.ones(3), torch.device("cpu"))
