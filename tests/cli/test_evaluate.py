"""`streamfit evaluate` end to end: one-label bundles gain P@k/R@k, multi-label bundles their scores."""

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from streamfit.cli.main import main

VOCABULARY = {"sports": ["goal", "match", "team", "score", "coach", "league"],
              "politics": ["vote", "senate", "law", "party", "election", "minister"],
              "tech": ["code", "chip", "software", "robot", "network", "data"],
              "music": ["song", "guitar", "album", "band", "concert", "melody"]}
COMMON = ["the", "a", "of", "and", "today", "news"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_multi_label(path, rows, seed):
    """fastText lines with 1 to 3 labels each; the words of each label, and common ones."""
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        labels = rng.sample(sorted(VOCABULARY), rng.choice([1, 1, 2, 2, 3]))
        words = [w for label in labels for w in rng.sample(VOCABULARY[label], 3)]
        words += rng.sample(COMMON, 3)
        rng.shuffle(words)
        lines.append(" ".join([f"__label__{label}" for label in labels] + words))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def multi_label_bundle(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("multi")
    train = write_multi_label(tmp_path / "train.txt", 400, seed=1)
    test = write_multi_label(tmp_path / "test.txt", 120, seed=2)
    code = main([str(a) for a in ("train", train, "--format", "fasttext", "--multi-label",
                                  "--output", tmp_path / "model", "--cache", tmp_path / "cache",
                                  "--epochs", "8", "--batch-size", "32")])
    assert code == 0
    return tmp_path / "model", test


def reference(model, test, k):
    """The scores from the bundle's own probabilities, counted row by row in Python."""
    from streamfit.recipe.bundle import load_bundle

    bundle = load_bundle(model)
    lines = test.read_text().splitlines()
    texts = [" ".join(w for w in line.split() if not w.startswith("__label__")) for line in lines]
    truth = [{bundle.labels.names.index(w[9:]) for w in line.split() if w.startswith("__label__")}
             for line in lines]
    p = bundle.predict_proba(pa.array(texts))
    predicted = [set(np.flatnonzero(row >= bundle.thresholds).tolist()) for row in p]
    tp = sum(len(t & q) for t, q in zip(truth, predicted, strict=True))
    micro_f1 = 2 * tp / (sum(map(len, truth)) + sum(map(len, predicted)))
    correct = sum(len(t & set(sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]))
                  for t, row in zip(truth, p.tolist(), strict=True))
    exact = sum(t == q for t, q in zip(truth, predicted, strict=True)) / len(truth)
    return bundle, micro_f1, exact, correct / (k * len(truth)), correct / sum(map(len, truth))


@pytest.mark.parametrize("k", [1, 2])
def test_multi_label_evaluate_json_equals_the_scores_of_the_bundles_probabilities(
        multi_label_bundle, capsys, k):
    model, test = multi_label_bundle
    code, out, err = run(capsys, "evaluate", model, test, "--json", "-k", k)
    assert code == 0, err
    report = json.loads(out)
    bundle, micro_f1, exact, precision, recall = reference(model, test, k)
    assert report["multi_label"] is True and report["samples"] == 120 and report["k"] == k
    assert report["micro_f1"] == pytest.approx(micro_f1)
    assert report["subset_accuracy"] == pytest.approx(exact)
    assert (report["precision_at_k"], report["recall_at_k"]) == (pytest.approx(precision),
                                                                 pytest.approx(recall))
    assert report["thresholds"] == pytest.approx(bundle.thresholds.tolist())
    assert sorted(report["per_label"]) == sorted(VOCABULARY)
    supports = {label: test.read_text().count(f"__label__{label} ") for label in VOCABULARY}
    assert {label: row["support"] for label, row in report["per_label"].items()} == supports
    assert report["micro_f1"] > 0.8  # a learnable corpus: a sanity floor


def test_multi_label_text_report_shows_the_json_names_and_values(multi_label_bundle, capsys):
    model, test = multi_label_bundle
    report = json.loads(run(capsys, "evaluate", model, test, "--json", "-k", "2")[1])
    code, out, _ = run(capsys, "evaluate", model, test, "-k", "2")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "samples: 120"
    for name in ("micro_precision", "micro_recall", "micro_f1", "macro_f1", "weighted_f1",
                 "subset_accuracy", "hamming_loss", "precision_at_k", "recall_at_k"):
        assert f"{name}: {report[name]:.4f}" in lines, name
    assert "k: 2" in lines and "read 120 rows, used 120, skipped 0" in out


@pytest.fixture(scope="module")
def single_label_bundle(tmp_path_factory, write_corpus):
    tmp_path = tmp_path_factory.mktemp("single")
    train = write_corpus(tmp_path / "train.csv", 400)
    test = write_corpus(tmp_path / "test.csv", 100, seed=9)
    code = main([str(a) for a in ("train", train, "--output", tmp_path / "model", "--cache",
                                  tmp_path / "cache", "--epochs", "3", "--batch-size", "32")])
    assert code == 0
    return tmp_path / "model", test


def test_single_label_evaluate_adds_p_at_k_and_p_at_1_is_the_accuracy(single_label_bundle, capsys):
    model, test = single_label_bundle
    report = json.loads(run(capsys, "evaluate", model, test, "--json")[1])
    assert "multi_label" not in report and sum(map(sum, report["confusion_matrix"])) == 100
    assert report["k"] == 1 and report["precision_at_k"] == report["accuracy"] == report["recall_at_k"]
    report = json.loads(run(capsys, "evaluate", model, test, "--json", "-k", "2")[1])
    assert (report["precision_at_k"], report["recall_at_k"]) == (0.5, 1.0)  # 2 classes: both taken
    code, out, _ = run(capsys, "evaluate", model, test, "--top-k", "-1")
    assert code == 0 and "recall_at_k: 1.0000" in out and "confusion matrix" in out


@pytest.mark.parametrize("argv, message", [
    (["-k", "0"], "--top-k 0 must be an integer >= 1, or -1 for all labels"),
    (["--multi-label"], "--multi-label is for multi-label bundles"),
])
def test_evaluate_refuses_a_bad_k_and_multi_label_on_a_single_label_bundle(
        single_label_bundle, capsys, argv, message):
    model, test = single_label_bundle
    code, _, err = run(capsys, "evaluate", model, test, *argv)
    assert code == 2 and message in err
