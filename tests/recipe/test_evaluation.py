"""The streamed reports: confusion matrix, multi-label counts, P@k/R@k."""

import numpy as np
import pytest
from scipy import sparse

from streamfit.errors import OptionError, UserError
from streamfit.prepare.labels import LabelMap
from streamfit.recipe.evaluation import (
    MULTI_LABEL_SCORES,
    ConfusionMatrix,
    MultiLabelCounts,
    TopKCounts,
    evaluate_source,
    format_multilabel_report,
    format_report,
    top_k_mask,
    truth_matrix,
)
from streamfit.sources import RowAccounting, SourceSpec, iter_records


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


# Multi-label scores and P@k/R@k, against slow references written from the definitions.

def reference_scores(truth_sets, predicted_sets, num_labels):
    """The multi-label scores, by counting label sets row by row."""
    per_label = []
    for label in range(num_labels):
        tp = sum(label in t and label in p for t, p in zip(truth_sets, predicted_sets, strict=True))
        predicted = sum(label in p for p in predicted_sets)
        support = sum(label in t for t in truth_sets)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label.append((tp, predicted, support, precision, recall, f1))
    tp, predicted, support = (sum(row[i] for row in per_label) for i in range(3))
    micro_p = tp / predicted if predicted else 0.0
    micro_r = tp / support if support else 0.0
    scores = {"micro_precision": micro_p, "micro_recall": micro_r,
              "micro_f1": 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0}
    for i, name in ((3, "precision"), (4, "recall"), (5, "f1")):
        scores[f"macro_{name}"] = sum(row[i] for row in per_label) / num_labels
        scores[f"weighted_{name}"] = (sum(row[i] * row[2] for row in per_label) / support
                                      if support else 0.0)
    rows = len(truth_sets)
    scores["subset_accuracy"] = (sum(t == p for t, p in zip(truth_sets, predicted_sets, strict=True))
                                 / rows if rows else 0.0)
    scores["hamming_loss"] = (sum(len(t ^ p) for t, p in zip(truth_sets, predicted_sets, strict=True))
                              / (rows * num_labels) if rows else 0.0)
    scores["per_label"] = [{"precision": r[3], "recall": r[4], "f1": r[5], "support": r[2]}
                           for r in per_label]
    return scores


def reference_at_k(truth_sets, probabilities, k):
    """fastText's Meter: for each row with labels, its top k (ties: lower id) against its labels."""
    gold = predicted = correct = 0
    for labels, row in zip(truth_sets, probabilities.tolist(), strict=True):
        if not labels:
            continue  # fastText's test skips a line without labels
        ranked = sorted(range(len(row)), key=lambda label: (-row[label], label))
        top = ranked if k == -1 else ranked[:k]
        gold += len(labels)
        predicted += len(top)
        correct += sum(label in labels for label in top)
    return (correct / predicted if predicted else 0.0), (correct / gold if gold else 0.0)


def multi_label_case(seed, rows, labels, decimals=2):
    rng = np.random.default_rng(seed)
    truth = rng.random((rows, labels)) < 0.35
    truth[rows // 3] = False  # a row without labels
    probabilities = np.round(np.clip(0.4 * truth + 0.6 * rng.random((rows, labels)), 0, 1),
                             decimals)
    return truth, probabilities


def sets_of(matrix):
    return [set(np.flatnonzero(row).tolist()) for row in np.asarray(matrix)]


@pytest.mark.parametrize("seed, rows, labels, decimals", [
    (0, 40, 5, 2), (1, 25, 1, 1), (2, 60, 9, 1), (3, 3, 4, 2), (4, 50, 3, 3),
])
def test_multi_label_scores_streamed_in_batches_equal_the_reference(seed, rows, labels, decimals):
    truth, probabilities = multi_label_case(seed, rows, labels, decimals)
    predicted = probabilities >= 0.5
    counts = MultiLabelCounts([f"l{i}" for i in range(labels)])
    for start in range(0, rows, 7):  # sparse truth, dense predictions, uneven batches
        part = slice(start, start + 7)
        counts.update(sparse.csr_matrix(truth[part].astype(np.float32)), predicted[part])
    report = counts.report()
    expected = reference_scores(sets_of(truth), sets_of(predicted), labels)
    assert report["samples"] == rows and report["multi_label"] is True
    for name, value in expected.items():
        if name != "per_label":
            assert report[name] == pytest.approx(value, abs=1e-12), name
    for i, row in enumerate(expected["per_label"]):
        assert report["per_label"][f"l{i}"] == pytest.approx(row, abs=1e-12)
    assert report["label_cardinality"] == pytest.approx(truth.sum() / rows)


def test_a_label_never_true_nor_predicted_scores_zero_and_counts_in_the_macro_mean():
    counts = MultiLabelCounts(["a", "b", "never"])
    counts.update(np.array([[1, 0, 0], [1, 1, 0]]), np.array([[1, 1, 0], [1, 1, 0]]))
    report = counts.report()
    assert report["per_label"]["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                            "support": 0}
    # a: P 1, R 1; b: P 1/2, R 1, F1 2/3; never: 0
    assert report["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert report["weighted_f1"] == pytest.approx((1 * 2 + 2 / 3 * 1) / 3)
    assert (report["subset_accuracy"], report["hamming_loss"]) == (0.5, pytest.approx(1 / 6))
    empty = MultiLabelCounts(["a", "b"]).report()
    assert (empty["samples"], empty["micro_f1"], empty["hamming_loss"]) == (0, 0.0, 0.0)
    with pytest.raises(ValueError, match="predicted has shape"):
        counts.update(np.array([[1, 0, 0]]), np.array([[1, 0]]))


def test_top_k_mask_takes_exactly_k_labels_ties_to_the_lower_id():
    probabilities = np.array([[0.2, 0.5, 0.5, 0.5], [0.9, 0.1, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3]])
    assert top_k_mask(probabilities, 2).astype(int).tolist() == [[0, 1, 1, 0], [1, 1, 0, 0],
                                                                 [1, 1, 0, 0]]
    assert top_k_mask(probabilities, 1).sum(axis=1).tolist() == [1, 1, 1]
    assert top_k_mask(probabilities, 1)[:, 0].tolist() == (probabilities.argmax(axis=1) == 0).tolist()
    assert top_k_mask(probabilities, -1).all() and top_k_mask(probabilities, 9).all()
    for bad in (0, -2, 1.5, True):
        with pytest.raises(OptionError, match="k=.* must be an integer >= 1, or -1"):
            top_k_mask(probabilities, bad)


@pytest.mark.parametrize("k", [1, 2, 3, 5, -1])
@pytest.mark.parametrize("seed, rows, labels, decimals", [(0, 40, 5, 1), (5, 30, 3, 2)])
def test_precision_and_recall_at_k_equal_fasttexts_meter(k, seed, rows, labels, decimals):
    truth, probabilities = multi_label_case(seed, rows, labels, decimals)
    top = TopKCounts(k, labels)
    for start in range(0, rows, 9):
        top.update(sparse.csr_matrix(truth[start:start + 9]), probabilities[start:start + 9])
    precision, recall = reference_at_k(sets_of(truth), probabilities, k)
    report = top.report()
    assert report["precision_at_k"] == pytest.approx(precision, abs=1e-12)
    assert report["recall_at_k"] == pytest.approx(recall, abs=1e-12)
    assert (report["k"], report["rows_at_k"]) == (k, sum(1 for row in truth if row.any()))


def test_single_label_precision_at_1_is_the_accuracy_of_the_top_label():
    rng = np.random.default_rng(7)
    probabilities = np.round(rng.random((50, 4)), 1)  # ties: argmax takes the lower id
    true = rng.integers(0, 4, 50)
    matrix, top1, top2 = ConfusionMatrix(list("abcd")), TopKCounts(1, 4), TopKCounts(2, 4)
    matrix.update(true, probabilities.argmax(axis=1))
    top1.update(true, probabilities)
    top2.update(true, probabilities)
    assert top1.report()["precision_at_k"] == matrix.report()["accuracy"]
    assert top1.report()["recall_at_k"] == matrix.report()["accuracy"]
    precision, recall = reference_at_k([{t} for t in true.tolist()], probabilities, 2)
    assert (top2.report()["precision_at_k"], top2.report()["recall_at_k"]) == (
        pytest.approx(precision), pytest.approx(recall))
    report = {**matrix.report(), **top2.report()}
    assert "precision_at_k: " in format_report(report) and "k: 2" in format_report(report)


def test_truth_matrix_from_encoded_lists_and_the_text_report_uses_the_json_names():
    truth = truth_matrix(np.array([0, 2, 2, 3]), np.array([0, 2, 1]), 3)
    assert truth.toarray().tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    counts = MultiLabelCounts(["x", "y", "z"])
    counts.update(truth, np.array([[1, 0, 0], [0, 0, 0], [0, 1, 1]]))
    report = {**counts.report(), **TopKCounts(1, 3).report()}
    text = format_multilabel_report(report)
    for name in MULTI_LABEL_SCORES + ("precision_at_k", "recall_at_k"):
        assert f"\n{name}: {report[name]:.4f}" in text
    assert text.splitlines()[0] == "samples: 3" and "subset_accuracy: 0.3333" in text


def test_the_scores_equal_scikit_learns():
    metrics = pytest.importorskip("sklearn.metrics")
    truth, probabilities = multi_label_case(11, 80, 6)
    predicted = probabilities >= 0.5
    counts = MultiLabelCounts(list("abcdef"))
    counts.update(sparse.csr_matrix(truth), predicted)
    report = counts.report()
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(truth, predicted, average=average,
                                                             zero_division=0)
        assert [report[f"{average}_{name}"] for name in ("precision", "recall", "f1")] == \
            pytest.approx([p, r, f], abs=1e-12)
    p, r, f, s = metrics.precision_recall_fscore_support(truth, predicted, zero_division=0)
    assert [report["per_label"][label]["f1"] for label in "abcdef"] == pytest.approx(f.tolist())
    assert [report["per_label"][label]["support"] for label in "abcdef"] == s.tolist()
    assert report["subset_accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert report["hamming_loss"] == pytest.approx(metrics.hamming_loss(truth, predicted))
    single = np.random.default_rng(3).random((60, 5))  # no ties: sklearn's order is then ours
    true = np.random.default_rng(4).integers(0, 5, 60)
    top = TopKCounts(3, 5)
    top.update(true, single)
    assert top.report()["recall_at_k"] == pytest.approx(
        metrics.top_k_accuracy_score(true, single, k=3, labels=range(5)))


class WordBundle:
    """A stand-in bundle: a label is as probable as the share of the text's words naming it."""

    def __init__(self, names, multi_label, thresholds=None):
        self.labels = LabelMap(names)
        self.multi_label = multi_label
        self.thresholds = None if thresholds is None else np.asarray(thresholds, np.float64)

    def predict_source(self, spec, accounting, batch_size, device):
        for records in iter_records(spec, accounting):
            for start in range(0, records.num_rows, batch_size):
                part = records.slice(start, batch_size)
                words = [text.split() for text in part.column("text").to_pylist()]
                p = np.array([[w.count(name) / len(w) for name in self.labels.names] for w in words])
                yield part, p


def test_evaluate_source_scores_a_multi_label_file_and_drops_labels_training_never_saw(tmp_path):
    data = tmp_path / "test.txt"
    data.write_text("__label__a __label__b a b\n"          # predicts {a, b}: exact
                    "__label__a a a c\n"                    # a 2/3, c 1/3: predicts {a}
                    "__label__c __label__zz c b\n"          # zz unseen, dropped: truth {c}
                    "c c c\n"                               # no label: a valid row, predicts {c}
                    "__label__b a\n")                       # predicts {a}: wrong
    bundle = WordBundle(["a", "b", "c"], True, [0.5, 0.5, 0.5])
    accounting = RowAccounting()
    report = evaluate_source(bundle, SourceSpec(paths=(str(data),), format="fasttext"), accounting,
                             k=1, batch_size=2, device="cpu")
    truth = [{0, 1}, {0}, {2}, set(), {1}]
    predicted = [{0, 1}, {0}, {1, 2}, {2}, {0}]
    expected = reference_scores(truth, predicted, 3)
    assert report["samples"] == 5 and report["multi_label"] is True
    for name in MULTI_LABEL_SCORES[:-1]:
        assert report[name] == pytest.approx(expected[name]), name
    probabilities = np.array([[0.5, 0.5, 0], [2 / 3, 0, 1 / 3], [0, 0.5, 0.5], [0, 0, 1], [1, 0, 0]])
    precision, recall = reference_at_k(truth, probabilities, 1)
    assert (report["precision_at_k"], report["recall_at_k"]) == (precision, recall) == (0.5, 0.4)
    assert report["thresholds"] == [0.5, 0.5, 0.5] and report["rows_at_k"] == 4
    assert report["data"]["notes"]["unseen_labels_dropped"] == 1
    assert "threshold: 0.5000" in format_multilabel_report(report)


def test_evaluate_source_on_one_label_rows_keeps_its_report_and_adds_p_at_k(tmp_path):
    data = tmp_path / "test.txt"
    data.write_text("__label__a a b\n__label__b b b a\n__label__c a c c\n__label__zz a\n")
    bundle = WordBundle(["a", "b", "c"], False)
    spec = SourceSpec(paths=(str(data),), format="fasttext")
    report = evaluate_source(bundle, spec, RowAccounting(), k=2, batch_size=8, device="cpu")
    # row 1: a 1/2 = b 1/2, argmax a (right); row 2: b; row 3: c; zz: rejected
    assert report["samples"] == 3 and report["accuracy"] == 1.0
    assert (report["k"], report["precision_at_k"], report["recall_at_k"]) == (2, 0.5, 1.0)
    assert report["data"]["skipped"] == {"unseen_label": 1}
    with pytest.raises(OptionError, match="multi_label=True is for multi-label bundles"):
        evaluate_source(bundle, SourceSpec(paths=(str(data),), format="fasttext", multi_label=True),
                        RowAccounting())
    with pytest.raises(UserError, match="evaluate needs labels"):
        evaluate_source(bundle, SourceSpec(paths=(str(data),), format="fasttext", label=None),
                        RowAccounting())
    data.write_text("__label__zz a\n")
    with pytest.raises(UserError, match="no rows to evaluate"):
        evaluate_source(bundle, spec, RowAccounting())


def test_evaluate_source_predicts_each_label_at_its_own_threshold(tmp_path):
    data = tmp_path / "test.txt"
    data.write_text("__label__a __label__b a a b\n__label__c c b\n")
    # p: row 1 a 2/3, b 1/3; row 2 b 1/2, c 1/2. Thresholds a .6, b .3, c .55: {a, b}, {b}
    bundle = WordBundle(["a", "b", "c"], True, [0.6, 0.3, 0.55])
    report = evaluate_source(bundle, SourceSpec(paths=(str(data),), format="fasttext"),
                             RowAccounting(), k=-1)
    assert report["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_label"]["b"]["precision"] == 0.5 and report["subset_accuracy"] == 0.5
    assert report["thresholds"] == [0.6, 0.3, 0.55] and report["recall_at_k"] == 1.0
    assert "thresholds: per label, 0.3000 to 0.6000" in format_multilabel_report(report)
