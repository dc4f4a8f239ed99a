"""Which labels a prediction names: the top k, at or above a threshold (fastText's rule).

fastText's `predict-prob MODEL FILE k threshold` keeps, of a row's labels,
those whose probability is at or above `threshold`, and of those the `k`
most probable (its `Loss::findKBest`: a label under the threshold is never
taken, whatever k; `k = -1` is every label). `select_labels` does the same
for a whole batch with numpy, and also takes one threshold per label (the
thresholds tuned per label and kept in a multi-label bundle): a label is
kept when its probability is at or above its own threshold, then the top k
of those. With one threshold for all labels that equals "the top k, then
those at or above the threshold".

The order is by probability, highest first; equal probabilities go by label
id, lowest first (fastText's heap leaves them in no set order). Probabilities
are compared with the thresholds exactly, in float64: a threshold equal to a
probability (as the tuned ones are, `recipe.thresholds`) keeps it.

The defaults (`default_selection`) keep today's answer for a single-label
bundle (k 1, no threshold: the most probable label, as `argmax`) and, for a
multi-label one, every label at or above the bundle's tuned thresholds.

No torch here: the command line and the evaluation use it too.

Example:
    >>> import numpy as np
    >>> p = np.array([[0.1, 0.7, 0.2], [0.4, 0.4, 0.2]])
    >>> select_labels(p, k=2, threshold=0.15)
    [[(1, 0.7), (2, 0.2)], [(0, 0.4), (1, 0.4)]]
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from streamfit.errors import OptionError


@dataclass(frozen=True)
class Selection:
    """The labels chosen for each row of a batch, flat (no Python object per row).

    Row i's labels are `ids[offsets[i]:offsets[i + 1]]`, most probable first,
    with their probabilities at the same places in `probabilities`.

    Attributes:
        offsets: int64, one more than the rows.
        ids: int32 label ids.
        probabilities: the labels' probabilities, in the input's dtype.
    """

    offsets: np.ndarray
    ids: np.ndarray
    probabilities: np.ndarray

    def rows(self) -> list[list[tuple[int, float]]]:
        """Per row, the (label id, probability) pairs."""
        ids, values = self.ids.tolist(), self.probabilities.tolist()
        bounds = self.offsets.tolist()
        return [list(zip(ids[start:end], values[start:end], strict=True))
                for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def select_labels(probabilities: np.ndarray, k: int | None = None,
                  threshold: float | np.ndarray | None = None) -> list[list[tuple[int, float]]]:
    """Per row, the labels at or above `threshold`, the `k` most probable of them.

    Args:
        probabilities: `(rows, labels)`, e.g. `Bundle.predict_proba`'s.
        k: how many labels at most per row; -1 or None: all of them.
        threshold: the least probability a label needs: one number for all
            labels, one per label (shape `(labels,)`), or None for none.

    Returns:
        Per row, a list of (label id, probability), most probable first
        (ties by label id); it may be empty when a threshold is given.

    Raises:
        OptionError: k is not -1, None or an integer >= 1; a threshold is not
            in [0, 1] or has the wrong shape.
    """
    return select(probabilities, k, threshold).rows()


def select(probabilities: np.ndarray, k: int | None = None,
           threshold: float | np.ndarray | None = None) -> Selection:
    """`select_labels`, flat: the same choice as one `Selection` for the batch."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise OptionError("probabilities", f"an array of shape {probabilities.shape}",
                          "must have two dimensions, (rows, labels)")
    rows, labels = probabilities.shape
    k = check_k(k, labels)
    limits = check_threshold(threshold, labels)
    # A stable sort of the negated values: highest first, equal ones by label id.
    order = np.argsort(-probabilities, axis=1, kind="stable")
    ranked = np.take_along_axis(probabilities, order, axis=1)
    keep = np.ones(ranked.shape, dtype=bool)
    if limits is not None:
        wanted = limits[order] if limits.ndim else limits
        keep = ranked.astype(np.float64) >= wanted
    if k < labels:
        keep &= np.cumsum(keep, axis=1) <= k
    counts = keep.sum(axis=1)
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Selection(offsets, order[keep].astype(np.int32), ranked[keep])


def check_k(k, labels: int | None = None) -> int:
    """k as a count of labels (-1 and None: `labels`, or -1 when `labels` is None).

    Raises:
        OptionError: k is not -1, None or an integer >= 1.
    """
    if k is None or (isinstance(k, numbers.Integral) and not isinstance(k, bool) and k == -1):
        return -1 if labels is None else labels
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise OptionError("k", k, "must be an integer >= 1, or -1 for every label")
    return int(k) if labels is None else min(int(k), labels)


def check_threshold(threshold, labels: int) -> np.ndarray | None:
    """The threshold as a float64 scalar array or one value per label; None stays None.

    Raises:
        OptionError: a value outside [0, 1] (or NaN), or not one per label.
    """
    if threshold is None:
        return None
    if isinstance(threshold, bool):
        raise OptionError("threshold", threshold, "must be a probability in [0, 1]")
    try:
        values = np.asarray(threshold, dtype=np.float64)
    except (TypeError, ValueError):
        raise OptionError("threshold", threshold, "must be a probability in [0, 1], or one "
                          "per label") from None
    if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != labels):
        raise OptionError("threshold", f"an array of shape {values.shape}",
                          f"must be one number, or one per label ({labels},)")
    if not np.all((values >= 0) & (values <= 1)):  # NaN fails both
        shown = threshold if values.ndim == 0 else "an array"
        raise OptionError("threshold", shown, "must be a probability in [0, 1]"
                          + ("" if values.ndim == 0 else " for every label"))
    return values


def default_selection(multi_label: bool, thresholds: np.ndarray | None, k: int | None = None,
                      threshold: float | np.ndarray | None = None) -> tuple[int, np.ndarray | float | None]:
    """The k and threshold a prediction uses when the caller leaves them out (None).

    A single-label bundle: k 1 and no threshold, the most probable label. A
    multi-label bundle: every label (k -1) at or above the bundle's tuned
    `thresholds`. A threshold given replaces the bundle's; a k given keeps
    them.

    Args:
        multi_label: the bundle's `multi_label`.
        thresholds: the bundle's `thresholds` (None for a single-label bundle).
        k, threshold: the caller's, or None.

    Returns:
        (k, threshold) for `select`.
    """
    if k is None:
        k = -1 if multi_label else 1
    if threshold is None and multi_label:
        threshold = thresholds
    return k, threshold
