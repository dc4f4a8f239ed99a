"""Evaluation reports, accumulated batch by batch: one-label and multi-label.

| counter | model | scores |
| --- | --- | --- |
| `ConfusionMatrix` | single-label | accuracy, macro F1, per-class scores, the matrix |
| `MultiLabelCounts` | multi-label | micro/macro/weighted P, R, F1; subset accuracy; |
| | | Hamming loss; per-label precision/recall/F1/support |
| `TopKCounts` | both | P@k and R@k, as fastText's `test` computes them |

Each counter keeps sums only (per-label counts, never rows x labels), so a
report over any number of rows costs the memory of one batch. The scores
follow scikit-learn's definitions (`precision_recall_fscore_support`,
`accuracy_score` on label sets, `hamming_loss`), with 0 where a ratio has
nothing to divide by (`zero_division=0`):

- per label l: precision = TP_l / predicted_l, recall = TP_l / support_l,
  F1 = 2 precision recall / (precision + recall); support_l = rows carrying l.
- micro: the same from the sums over labels (micro F1 = 2 TP / (predicted + support)).
- macro: the mean over all labels (a label without support counts, as 0 recall).
- weighted: the mean over labels weighted by support.
- subset accuracy: the rows whose predicted label set is exactly their true set.
- Hamming loss: wrong (row, label) pairs (false positives + false negatives) / (rows * labels).
- P@k, R@k: the k most probable labels of each row that has at least one true
  label (rows without any are left out, as fastText's `test` leaves them),
  correct = those among its true labels; P@k = correct / (rows * min(k, labels)),
  R@k = correct / true labels. Single-label: P@1 is the accuracy of the top label.

Torch-free: numpy and scipy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import sparse

from streamfit.errors import OptionError, UserError


class ConfusionMatrix:
    """Counts of (true class, predicted class), accumulated batch by batch.

    Args:
        labels: the class names, by class id.

    Example:
        >>> matrix = ConfusionMatrix(["neg", "pos"])
        >>> matrix.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
        >>> matrix.report()["accuracy"]
        0.6666666666666666
    """

    def __init__(self, labels: list[str]):
        self.labels = list(labels)
        self.matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)

    def update(self, true: np.ndarray, predicted: np.ndarray) -> None:
        """Count a batch: the true and the predicted class id of each row."""
        k = len(self.labels)
        self.matrix += np.bincount(true * k + predicted, minlength=k * k).reshape(k, k)

    def report(self) -> dict:
        """Accuracy, macro F1, per-class precision/recall/F1/support, the matrix."""
        m = self.matrix
        samples = int(m.sum())
        true_positive = np.diag(m).astype(np.float64)
        predicted = m.sum(axis=0)
        support = m.sum(axis=1)
        precision, recall = _ratio(true_positive, predicted), _ratio(true_positive, support)
        f1 = _ratio(2 * precision * recall, precision + recall)
        return {
            "samples": samples,
            "accuracy": float(true_positive.sum() / samples) if samples else 0.0,
            "macro_f1": float(f1.mean()) if len(f1) else 0.0,
            "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]),
                                  "f1": float(f1[i]), "support": int(support[i])}
                          for i, label in enumerate(self.labels)},
            "labels": self.labels,
            "confusion_matrix": m.tolist(),
        }


def format_report(report: dict) -> str:
    """The report as text: summary, per-class table, confusion matrix."""
    lines = [f"samples: {report['samples']}", f"accuracy: {report['accuracy']:.4f}",
             f"macro F1: {report['macro_f1']:.4f}", *_top_k_lines(report), "",
             f"{'class':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
    for label, row in report["per_class"].items():
        lines.append(f"{label[:12]:>12} {row['precision']:9.4f} {row['recall']:9.4f} "
                     f"{row['f1']:9.4f} {row['support']:9d}")
    width = max(6, *(len(label[:12]) for label in report["labels"])) + 1
    lines += ["", "confusion matrix (rows: true, columns: predicted)",
              " " * width + "".join(f"{label[:12]:>{width}}" for label in report["labels"])]
    for label, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        lines.append(f"{label[:12]:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def check_k(k: int) -> int:
    """`k` when it is a valid number of top labels: at least 1, or -1 for all.

    Raises:
        OptionError: naming `k`.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or (k < 1 and k != -1):
        raise OptionError("k", k, "must be an integer >= 1, or -1 for all labels")
    return int(k)


def top_k_mask(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Each row's `k` most probable labels, as a boolean (rows, labels) mask.

    Labels rank by probability, descending; equal probabilities by label id,
    the lower first (as `argmax` picks), so exactly min(k, labels) are marked
    per row. O(rows x labels): a partition, not a sort.

    Args:
        probabilities: (n, L) scores.
        k: labels per row; -1: all.

    Example:
        >>> top_k_mask(np.array([[0.2, 0.5, 0.5]]), 2).tolist()
        [[False, True, True]]
    """
    probabilities = np.asarray(probabilities)
    n, labels = probabilities.shape
    k = labels if check_k(k) == -1 else min(k, labels)
    if k == labels or n == 0:
        return np.ones((n, labels), dtype=bool)
    kth = -np.partition(-probabilities, k - 1, axis=1)[:, k - 1:k]  # each row's k-th largest
    above = probabilities > kth
    tied = probabilities == kth
    room = k - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


def truth_matrix(offsets: np.ndarray, ids: np.ndarray, num_labels: int) -> sparse.csr_matrix:
    """Rows' true label sets as a 0/1 CSR matrix, from `LabelMap.encode_lists`' (offsets, ids)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    return sparse.csr_matrix((np.ones(len(ids), dtype=np.float32), np.asarray(ids, np.int64),
                              offsets), shape=(len(offsets) - 1, num_labels))


def _positives(truth, num_labels: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(rows, labels) of the true pairs and the row count, from class ids (1-D) or multi-hot."""
    if not sparse.issparse(truth) and np.asarray(truth).ndim == 1:
        labels = np.asarray(truth, dtype=np.int64)
        return np.arange(len(labels)), labels, len(labels)
    coo = sparse.coo_matrix(truth)
    if coo.shape[1] != num_labels:
        raise ValueError(f"truth has {coo.shape[1]} labels, the counter {num_labels}")
    keep = coo.data != 0
    return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.shape[0]


def _ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (arrays or scalars)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return float(out) if out.ndim == 0 else out


class MultiLabelCounts:
    """Per-label true positives, predictions and support, and exact-set rows, batch by batch.

    Args:
        labels: the label names, by label id.

    Example:
        >>> counts = MultiLabelCounts(["a", "b"])
        >>> counts.update(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]]))
        >>> counts.report()["micro_f1"], counts.report()["subset_accuracy"]
        (0.8, 0.5)
    """

    def __init__(self, labels: list[str]):
        self.labels = list(labels)
        size = len(self.labels)
        self.true_positive = np.zeros(size, dtype=np.int64)
        self.predicted = np.zeros(size, dtype=np.int64)
        self.support = np.zeros(size, dtype=np.int64)
        self.samples = 0
        self.exact = 0

    def update(self, truth, predicted) -> None:
        """Count a batch.

        Args:
            truth: (n, L) true labels, nonzero for a label the row carries: a
                scipy sparse matrix (as `truth_matrix` makes) or a dense array.
            predicted: (n, L) predicted labels, boolean (e.g. probabilities >=
                thresholds) or 0/1, dense or sparse.
        """
        size = len(self.labels)
        rows, labels, n = _positives(truth, size)
        predicted = predicted.toarray() if sparse.issparse(predicted) else np.asarray(predicted)
        if predicted.shape != (n, size):
            raise ValueError(f"predicted has shape {predicted.shape}, truth ({n}, {size})")
        predicted = predicted != 0
        hit = predicted[rows, labels]
        self.true_positive += np.bincount(labels[hit], minlength=size)
        self.predicted += predicted.sum(axis=0)
        self.support += np.bincount(labels, minlength=size)
        # A row's sets are equal when it predicts exactly its true labels, no more.
        row_true = np.bincount(rows, minlength=n)
        row_hit = np.bincount(rows[hit], minlength=n)
        self.exact += int(((row_hit == row_true) & (predicted.sum(axis=1) == row_true)).sum())
        self.samples += n

    def report(self) -> dict:
        """The scores (see the module's docstring), per-label scores, and the counts behind them."""
        tp, predicted, support = self.true_positive, self.predicted, self.support
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = _ratio(2 * precision * recall, precision + recall)
        micro_p, micro_r = _ratio(tp.sum(), predicted.sum()), _ratio(tp.sum(), support.sum())
        total = int(support.sum())
        wrong = int(predicted.sum() + support.sum() - 2 * tp.sum())
        report = {"multi_label": True, "samples": self.samples,
                  "micro_precision": micro_p, "micro_recall": micro_r,
                  "micro_f1": _ratio(2 * tp.sum(), predicted.sum() + support.sum())}
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            report[f"macro_{name}"] = float(values.mean()) if len(values) else 0.0
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            report[f"weighted_{name}"] = _ratio(float(values @ support), total)
        report.update({
            "subset_accuracy": _ratio(self.exact, self.samples),
            "hamming_loss": _ratio(wrong, self.samples * len(self.labels)),
            "label_cardinality": _ratio(total, self.samples),
            "per_label": {label: {"precision": float(precision[i]), "recall": float(recall[i]),
                                  "f1": float(f1[i]), "support": int(support[i])}
                          for i, label in enumerate(self.labels)},
            "labels": self.labels,
        })
        return report


class TopKCounts:
    """P@k and R@k over streamed batches, as fastText's `test` computes them.

    Args:
        k: labels taken per row, the most probable first (-1: all).
        num_labels: the number of labels (columns of the probabilities).

    Example:
        >>> top = TopKCounts(1, 3)
        >>> top.update(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]))
        >>> top.report()["precision_at_k"]
        0.5
    """

    def __init__(self, k: int, num_labels: int):
        self.k = check_k(k)
        self.num_labels = num_labels
        self.rows = 0
        self.correct = 0
        self.gold = 0

    def update(self, truth, probabilities: np.ndarray) -> None:
        """Count a batch.

        Args:
            truth: the true class id of each row (1-D, single-label), or (n, L)
                multi-hot true labels, sparse or dense (multi-label).
            probabilities: (n, L) the model's probabilities.
        """
        rows, labels, n = _positives(truth, self.num_labels)
        probabilities = np.asarray(probabilities)
        if probabilities.shape != (n, self.num_labels):
            raise ValueError(f"probabilities have shape {probabilities.shape}, "
                             f"truth ({n}, {self.num_labels})")
        self.correct += int(top_k_mask(probabilities, self.k)[rows, labels].sum())
        self.gold += len(labels)
        self.rows += int((np.bincount(rows, minlength=n) > 0).sum())

    def report(self) -> dict:
        """`k`, `precision_at_k`, `recall_at_k`, and `rows_at_k` (the rows counted)."""
        taken = self.num_labels if self.k == -1 else min(self.k, self.num_labels)
        return {"k": self.k, "precision_at_k": _ratio(self.correct, self.rows * taken),
                "recall_at_k": _ratio(self.correct, self.gold), "rows_at_k": self.rows}


def _top_k_lines(report: dict) -> list[str]:
    if "k" not in report:
        return []
    return [f"k: {report['k']}", f"precision_at_k: {report['precision_at_k']:.4f}",
            f"recall_at_k: {report['recall_at_k']:.4f}"]


#: The summary lines of a multi-label report, by their JSON names.
MULTI_LABEL_SCORES = ("micro_precision", "micro_recall", "micro_f1", "macro_precision",
                      "macro_recall", "macro_f1", "weighted_precision", "weighted_recall",
                      "weighted_f1", "subset_accuracy", "hamming_loss", "label_cardinality")


def format_multilabel_report(report: dict) -> str:
    """A multi-label report as text: `name: value` lines under the JSON names, per-label table."""
    thresholds = report.get("thresholds") or []
    if len(set(thresholds)) == 1:
        chosen = [f"threshold: {thresholds[0]:.4f}"]
    else:
        chosen = [f"thresholds: per label, {min(thresholds):.4f} to {max(thresholds):.4f}"
                  ] if thresholds else []
    lines = [f"samples: {report['samples']}",
             *(f"{name}: {report[name]:.4f}" for name in MULTI_LABEL_SCORES),
             *_top_k_lines(report), *chosen, "",
             f"{'label':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
    for label, row in report["per_label"].items():
        lines.append(f"{label[:12]:>12} {row['precision']:9.4f} {row['recall']:9.4f} "
                     f"{row['f1']:9.4f} {row['support']:9d}")
    return "\n".join(lines)


def evaluate_source(bundle, spec, accounting, *, k: int = 1, batch_size: int = 1024,
                    device: str = "auto") -> dict:
    """Score a bundle on labelled data, streamed: the report `streamfit evaluate` prints.

    Single-label bundles: `ConfusionMatrix`'s report; a row whose label
    training never saw is rejected (counted as "unseen_label", with its line).
    Multi-label bundles: `MultiLabelCounts`' report on the labels predicted at
    or above the bundle's thresholds (`thresholds` in the report); a label
    training never saw is dropped from its row, which stays (note
    "unseen_labels_dropped"). Both add `TopKCounts`' P@k and R@k, and `data`
    (the row accounting).

    Args:
        bundle: a loaded `Bundle`.
        spec: the data, with its label column (multi-label bundles read it as
            a list whatever `spec.multi_label` says).
        accounting: the `RowAccounting` the rows are counted in.
        k: the labels per row for P@k and R@k (-1: all).
        batch_size: rows per forward pass.
        device: "auto", "cpu" or "cuda".

    Raises:
        UserError: no label column, no rows left to score, or `multi_label`
            asked of a single-label bundle.
        OptionError: a bad `k`.
    """
    top = TopKCounts(k, len(bundle.labels))
    if spec.label is None:
        raise UserError("evaluate needs labels; pass --label COL")
    if bundle.multi_label:
        report = _multi_label(bundle, dataclasses.replace(spec, multi_label=True), accounting, top,
                              batch_size, device)
    elif spec.multi_label:
        raise OptionError("multi_label", True, "is for multi-label bundles; this one was trained "
                                               "for one label per row: leave it out")
    else:
        matrix = ConfusionMatrix(bundle.labels.names)
        for records, probabilities in bundle.predict_source(spec, accounting, batch_size, device):
            true = bundle.labels.encode(records.column("label"))
            known = true >= 0
            if not known.all():  # a label training never saw is reported, not mapped
                accounting.reject("unseen_label", np.asarray(records.column("source"))[~known],
                                  np.asarray(records.column("line"))[~known])
            matrix.update(true[known], probabilities[known].argmax(axis=1))
            top.update(true[known], probabilities[known])
        report = matrix.report()
    if report["samples"] == 0:
        raise UserError(f"{', '.join(map(str, spec.paths))}: no rows to evaluate "
                        f"({accounting.summary()})")
    report.update(top.report())
    report["data"] = accounting.to_dict()
    return report


def _multi_label(bundle, spec, accounting, top: TopKCounts, batch_size: int, device: str) -> dict:
    counts = MultiLabelCounts(bundle.labels.names)
    thresholds = np.asarray(bundle.thresholds, dtype=np.float64)
    for records, probabilities in bundle.predict_source(spec, accounting, batch_size, device):
        offsets, ids, unseen = bundle.labels.encode_lists(records.column("label"))
        accounting.note("unseen_labels_dropped", unseen)
        truth = truth_matrix(offsets, ids, len(bundle.labels))
        counts.update(truth, probabilities >= thresholds)
        top.update(truth, probabilities)
    return {**counts.report(), "thresholds": thresholds.tolist()}
