"""The threshold search, against a brute-force reference that tries every distinct probability."""

import numpy as np
import pytest
from scipy import sparse

from streamfit.recipe.thresholds import DEFAULT_THRESHOLD, tune_thresholds


def f1_at(probabilities, truth, threshold):
    """Micro F1 of `probability >= threshold`, by counting pairs one by one."""
    true_positive = predicted = positive = 0
    for row_p, row_t in zip(probabilities.tolist(), truth.tolist(), strict=True):
        for p, t in zip(row_p, row_t, strict=True):
            predicted += p >= threshold
            positive += t != 0
            true_positive += p >= threshold and t != 0
    return 2 * true_positive / (predicted + positive) if predicted + positive else 0.0


def brute_force(probabilities, truth):
    """The best threshold over every distinct probability, ties to the higher one."""
    best, best_f1 = None, -1.0
    for threshold in sorted(set(probabilities.ravel().tolist())):
        f1 = f1_at(probabilities, truth, threshold)
        if f1 >= best_f1:
            best, best_f1 = threshold, f1
    return best, best_f1


def random_case(seed, rows, labels, decimals=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    truth = (rng.random((rows, labels)) < 0.3).astype(np.int8)
    noise = rng.random((rows, labels))
    probabilities = np.clip(0.35 * truth + 0.65 * noise, 0, 1).astype(dtype)
    if decimals is not None:  # many equal probabilities: ties between pairs
        probabilities = np.round(probabilities, decimals)
    return probabilities, truth


@pytest.mark.parametrize("seed, rows, labels, decimals, dtype", [
    (0, 30, 5, None, np.float64), (1, 40, 3, 1, np.float64), (2, 25, 8, 2, np.float32),
    (3, 1, 4, None, np.float64), (4, 50, 1, 1, np.float32), (5, 60, 6, 1, np.float64),
])
def test_the_global_threshold_is_the_brute_force_best_on_micro_f1(seed, rows, labels, decimals,
                                                                     dtype):
    probabilities, truth = random_case(seed, rows, labels, decimals, dtype)
    if not truth.any():
        truth[0, 0] = 1
    expected, expected_f1 = brute_force(probabilities, truth)
    thresholds = tune_thresholds(probabilities, truth)
    assert thresholds.shape == (labels,) and thresholds.dtype == np.float64
    assert (thresholds == expected).all()
    assert f1_at(probabilities, truth, thresholds[0]) == expected_f1
    sparse_thresholds = tune_thresholds(probabilities, sparse.csr_matrix(truth.astype(np.float32)))
    assert (sparse_thresholds == thresholds).all()


@pytest.mark.parametrize("seed, decimals", [(10, None), (11, 1), (12, 2)])
def test_each_label_gets_its_brute_force_best_and_a_label_without_positives_the_global(seed,
                                                                                       decimals):
    probabilities, truth = random_case(seed, 40, 6, decimals)
    truth[:, 2] = 0  # no validation positive for label 2
    glob, _ = brute_force(probabilities, truth)
    thresholds = tune_thresholds(probabilities, sparse.csr_matrix(truth), per_label=True)
    for label in range(6):
        column_p, column_t = probabilities[:, [label]], truth[:, [label]]
        expected = glob if label == 2 else brute_force(column_p, column_t)[0]
        assert thresholds[label] == expected, label
    assert (tune_thresholds(probabilities, truth, per_label=True) == thresholds).all()


def test_a_tie_goes_to_the_higher_threshold():
    # t=0.9: 1 of 1 predicted right, F1 = 2/3; t=0.3: 2 of 4, F1 = 4/6 = 2/3; t=0.5: 2/4
    probabilities = np.array([[0.9], [0.5], [0.4], [0.3]])
    truth = np.array([[1], [0], [0], [1]])
    assert f1_at(probabilities, truth, 0.9) == f1_at(probabilities, truth, 0.3)
    assert tune_thresholds(probabilities, truth).tolist() == [0.9]
    assert tune_thresholds(probabilities, truth, per_label=True).tolist() == [0.9]


def test_the_threshold_predicts_at_or_above_it_and_explicit_zeros_are_not_positives():
    probabilities = np.array([[0.8, 0.1], [0.6, 0.7], [0.2, 0.3]])
    # rows {0}, {0, 1}, and row 2 with a stored zero for label 0: no label
    truth = sparse.csr_matrix((np.array([1, 1, 1, 0], dtype=np.float32), np.array([0, 0, 1, 0]),
                               np.array([0, 1, 3, 4])), shape=(3, 2))
    assert truth.nnz == 4
    assert tune_thresholds(probabilities, truth).tolist() == [0.6, 0.6]  # F1 = 1 at p >= 0.6


def test_no_positive_at_all_gives_the_default_and_bad_shapes_are_refused():
    probabilities = np.array([[0.2, 0.9], [0.4, 0.1]])
    assert tune_thresholds(probabilities, np.zeros((2, 2))).tolist() == [DEFAULT_THRESHOLD] * 2
    assert tune_thresholds(np.zeros((0, 3)), sparse.csr_matrix((0, 3)),
                           per_label=True).tolist() == [DEFAULT_THRESHOLD] * 3
    with pytest.raises(ValueError, match="truth has shape"):
        tune_thresholds(probabilities, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        tune_thresholds(np.zeros(4), np.zeros(4))
