"""Classification report from a streamed confusion matrix."""

from __future__ import annotations

import numpy as np


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
        precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
        recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
        denominator = precision + recall
        f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator),
                       where=denominator > 0)
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
             f"macro F1: {report['macro_f1']:.4f}", "",
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
