"""Decision thresholds for multi-label models, tuned on validation data.

A multi-label model gives each label a probability; a row is predicted to
carry a label when its probability is at or above the label's threshold.
`tune_thresholds` picks the thresholds that maximise F1 on the validation
rows, exactly: the candidates are the distinct probabilities themselves.

| mode | threshold | maximises |
| --- | --- | --- |
| global (default) | one for all labels, repeated | micro F1 over all (row, label) pairs |
| `per_label=True` | one per label | that label's F1 (a label without validation |
| | | positives keeps the global threshold) |

Ties (several candidates giving the same best F1) go to the higher
threshold: fewer labels predicted for the same score. When the validation
rows hold no positive at all there is nothing to tune and the threshold is
`DEFAULT_THRESHOLD`.

The best threshold is always the probability of some positive pair (moving a
threshold up to the next positive's probability keeps every true positive and
drops false ones), so only those are scored: a sort of the probabilities and a
binary search per candidate, O(n L log(n L)) for n rows and L labels.

Torch-free: numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

DEFAULT_THRESHOLD = 0.5
"""The threshold when validation data has no positive labels (a sigmoid's even odds)."""


def tune_thresholds(probabilities: np.ndarray, truth: sparse.spmatrix | np.ndarray,
                    per_label: bool = False) -> np.ndarray:
    """The decision thresholds that maximise F1 on validation data.

    Args:
        probabilities: (n, L) probability of each label for each row.
        truth: (n, L) true labels, 1 (or any nonzero) for a label the row
            carries; a scipy sparse matrix (CSR) or a dense array.
        per_label: tune each label's own threshold on its F1 (a label with no
            positive in `truth` keeps the global threshold); False: one global
            threshold on micro F1.

    Returns:
        float64 array of shape (L,): predict label l for a row when its
        probability is >= thresholds[l]. The global threshold is repeated.

    Raises:
        ValueError: `probabilities` is not 2-D, or `truth` has another shape.

    Example:
        >>> tune_thresholds(np.array([[0.9, 0.4], [0.6, 0.2]]), np.array([[1, 0], [1, 0]]))
        array([0.6, 0.6])
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be 2-D (rows, labels), not of shape "
                         f"{probabilities.shape}")
    if truth.shape != probabilities.shape:
        raise ValueError(f"truth has shape {truth.shape}, probabilities {probabilities.shape}; "
                         f"they must match")
    rows, labels = _positives(truth)
    positive = probabilities[rows, labels]
    threshold = _best_threshold(np.sort(probabilities, axis=None), np.sort(positive))
    thresholds = np.full(probabilities.shape[1], threshold, dtype=np.float64)
    if per_label and len(positive):
        ordered = np.sort(probabilities, axis=0)
        by_label = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[by_label], np.arange(probabilities.shape[1] + 1))
        for label in np.flatnonzero(np.diff(starts)):
            mine = positive[by_label[starts[label]:starts[label + 1]]]
            thresholds[label] = _best_threshold(ordered[:, label], np.sort(mine))
    return thresholds


def _positives(truth: sparse.spmatrix | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, label) index arrays of the nonzero entries of `truth`."""
    if sparse.issparse(truth):
        coo = sparse.coo_matrix(truth)
        keep = coo.data != 0  # explicit zeros stored in the matrix are not positives
        return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
    rows, labels = np.nonzero(np.asarray(truth))
    return rows.astype(np.int64), labels.astype(np.int64)


def _best_threshold(ordered: np.ndarray, positive: np.ndarray) -> float:
    """The threshold with the best F1, from all probabilities and the positives' (both sorted).

    F1 at threshold t is 2 TP / (predicted + positives), with TP the positives
    >= t and predicted all probabilities >= t. Both sides are exact integers,
    so equal scores compare equal and the tie rule (the higher threshold) holds.
    """
    if not len(positive):
        return DEFAULT_THRESHOLD
    candidates = np.unique(positive)
    true_positive = len(positive) - np.searchsorted(positive, candidates, side="left")
    predicted = len(ordered) - np.searchsorted(ordered, candidates, side="left")
    f1 = 2.0 * true_positive / (predicted + len(positive))
    best = len(f1) - 1 - int(np.argmax(f1[::-1]))  # the last maximum: the higher threshold
    return float(candidates[best])
