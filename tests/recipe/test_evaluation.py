"""The streamed confusion matrix and its report."""

import numpy as np
import pytest

from streamfit.recipe.evaluation import ConfusionMatrix, format_report


def test_batches_add_up_to_one_matrix_and_exact_scores():
    matrix = ConfusionMatrix(["neg", "pos", "odd"])
    matrix.update(np.array([0, 0, 1]), np.array([0, 1, 1]))
    matrix.update(np.array([1, 0]), np.array([1, 0]))
    report = matrix.report()
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert report["samples"] == 5 and report["accuracy"] == pytest.approx(4 / 5)
    assert report["per_class"]["neg"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                                          "f1": pytest.approx(0.8), "support": 3}
    assert report["per_class"]["odd"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro_f1"] == pytest.approx((0.8 + 0.8 + 0) / 3)


def test_no_rows_score_zero_and_the_text_report_lists_every_class():
    report = ConfusionMatrix(["a", "b"]).report()
    assert (report["samples"], report["accuracy"]) == (0, 0.0)
    text = format_report(report)
    assert text.splitlines()[:2] == ["samples: 0", "accuracy: 0.0000"]
    assert "confusion matrix (rows: true, columns: predicted)" in text
