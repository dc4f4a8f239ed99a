"""`select_labels`: fastText's predict-prob k threshold, checked against a literal reference."""

import numpy as np
import pytest

from streamfit.errors import OptionError
from streamfit.recipe.selection import default_selection, select, select_labels


def find_k_best(row, k, threshold):
    """fastText's `Loss::findKBest` in plain Python: skip labels under their threshold, keep k.

    Ties go by label id (fastText's heap leaves them in no set order).
    """
    k = len(row) if k in (None, -1) else k
    kept = []
    for label, p in enumerate(row):
        limit = threshold if threshold is None or np.ndim(threshold) == 0 else threshold[label]
        if limit is not None and p < limit:
            continue
        kept.append((label, p))
    kept.sort(key=lambda pair: (-pair[1], pair[0]))
    return kept[:k]


def test_every_k_and_threshold_against_the_reference():
    rng = np.random.default_rng(7)
    for trial in range(300):
        rows, labels = rng.integers(1, 6), rng.integers(1, 9)
        # Few distinct values, so ties and values equal to a threshold are common.
        p = (rng.integers(0, 6, size=(rows, labels)) / 5).astype(np.float32 if trial % 2 else np.float64)
        k = [None, -1, 1, 2, 3, 20][trial % 6]
        threshold = [None, 0.0, 0.4, 1.0, rng.integers(0, 6, size=labels) / 5][trial % 5]
        expected = [find_k_best(row.tolist(), k, threshold) for row in p]
        assert select_labels(p, k, threshold) == expected, (p, k, threshold)


def test_one_threshold_per_label_is_applied_before_k_as_fastText_does():
    p = np.array([[0.9, 0.8, 0.3]])
    thresholds = np.array([0.95, 0.5, 0.2])  # label 0 is the most probable, but under its own
    assert select_labels(p, 2, thresholds) == [[(1, 0.8), (2, 0.3)]]
    assert select_labels(p, 1, 0.5) == [[(0, 0.9)]]


def test_a_threshold_equal_to_a_probability_keeps_it_exactly():
    p = np.array([[np.float32(0.3), np.float32(0.7)]], np.float32)
    tuned = float(np.float32(0.3))  # as a tuned threshold is: one of the probabilities
    assert [label for label, _ in select_labels(p, -1, tuned)[0]] == [1, 0]
    assert select_labels(p, -1, np.nextafter(tuned, 1)) == [[(1, float(np.float32(0.7)))]]


def test_the_default_is_argmax_and_rows_may_be_empty():
    rng = np.random.default_rng(0)
    p = rng.random((50, 4))
    p[3] = [0.25, 0.25, 0.25, 0.25]  # a tie: the lowest id, as argmax
    chosen = select(p, 1, None)
    assert chosen.ids.tolist() == p.argmax(axis=1).tolist()
    assert chosen.offsets.tolist() == list(range(51))
    nothing = select(np.array([[0.2, 0.3], [0.6, 0.1]]), -1, 0.5)
    assert nothing.offsets.tolist() == [0, 0, 1] and nothing.ids.tolist() == [0]
    assert select_labels(np.zeros((0, 3)), 2, None) == []


@pytest.mark.parametrize("k", [0, -2, 1.5, True, "2"])
def test_a_bad_k_names_the_argument(k):
    with pytest.raises(OptionError, match=r"k=.* must be an integer >= 1, or -1 for every label"):
        select_labels(np.ones((1, 2)) / 2, k)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), True, np.array([0.5, 2.0]),
                                       np.array([0.5, 0.5, 0.5]), "high"])
def test_a_bad_threshold_names_the_argument(threshold):
    with pytest.raises(OptionError, match=r"^threshold="):
        select_labels(np.ones((1, 2)) / 2, None, threshold)


def test_defaults_single_label_one_label_multi_label_the_bundle_thresholds():
    tuned = np.array([0.3, 0.6])
    assert default_selection(False, None) == (1, None)
    k, threshold = default_selection(True, tuned)
    assert k == -1 and threshold is tuned
    assert default_selection(True, tuned, 2, 0.9) == (2, 0.9)
    k, threshold = default_selection(True, tuned, k=3)
    assert k == 3 and threshold is tuned
    assert default_selection(False, None, threshold=0.2) == (1, 0.2)
