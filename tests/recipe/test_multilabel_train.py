"""Multi-label end to end: a fastText file of topic sets -> `streamfit train --multi-label` ->
`streamfit evaluate` and `streamfit predict -k`, and the thresholds the recipe tunes and keeps."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from streamfit.batches.prepared import PreparedBatches
from streamfit.cli.main import main
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.recipe.thresholds import tune_thresholds
from streamfit.sources import SourceSpec
from streamfit.training.tensors import to_tensors

#: Each topic's cue words: a row carries exactly the topics whose cues it holds.
TOPICS = {"sport": ["goal", "match", "team", "score", "coach"],
          "music": ["song", "band", "guitar", "album", "drums"],
          "food": ["pizza", "recipe", "cheese", "bread", "soup"],
          "tech": ["laptop", "code", "robot", "chip", "server"],
          "travel": ["flight", "hotel", "beach", "ticket", "island"]}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "with",
          "as", "at", "by", "this", "from"]


def topic_rows(rows: int, seed: int,
               topics: dict[str, list[str]] = TOPICS) -> list[tuple[list[str], str]]:
    """`rows` (labels, text) pairs: 1 to 3 topics per row, two cue words of each among filler."""
    rng = random.Random(seed)
    names = list(topics)
    out = []
    for _ in range(rows):
        chosen = rng.sample(names, rng.choice([1, 1, 2, 2, 3][: len(names) + 2]))
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 10))]
        for topic in chosen:
            words += rng.sample(topics[topic], 2)
        rng.shuffle(words)
        out.append((chosen, " ".join(words)))
    return out


def write_topics(path: Path, rows: int, seed: int = 0, topics: dict[str, list[str]] = TOPICS) -> Path:
    """A fastText file of `topic_rows`: every label of a row as a `__label__` word."""
    with open(path, "w", encoding="utf-8") as f:
        for labels, text in topic_rows(rows, seed, topics):
            f.write(" ".join(f"__label__{label}" for label in labels) + f" {text}\n")
    return path


def truth_of(path: Path) -> list[set[str]]:
    return [{word.removeprefix("__label__") for word in line.split() if word.startswith("__label__")}
            for line in path.read_text(encoding="utf-8").splitlines()]


def micro_f1(truth: list[set[str]], predicted: list[set[str]]) -> float:
    hits = sum(len(t & p) for t, p in zip(truth, predicted, strict=True))
    return 2 * hits / (sum(map(len, truth)) + sum(map(len, predicted)))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topics")
    return write_topics(folder / "train.ft", 600), write_topics(folder / "test.ft", 200, seed=1)


#: Per model: the options that train it to a good fit in a few seconds here.
FITS = {"mlp": ["--epochs", "10"], "fasttext": ["--epochs", "10", "--learning-rate", "0.03"]}


@pytest.mark.parametrize("model", ["mlp", "fasttext"])
def test_train_evaluate_and_predict_a_multi_label_model(tmp_path, data, capsys, model):
    train, test = data
    out = run(capsys, "train", train, "--multi-label", "--model", model, "-o", tmp_path / "m",
              "--cache", tmp_path / "c", "--batch-size", "32", *FITS[model])
    tuned = re.search(r"^thresholds: ([0-9.]+) for every label, tuned on (\d+) validation rows "
                      r"\(micro-F1 ([0-9.]+)\)$", out, re.MULTILINE)
    assert tuned, out
    meta = json.loads((tmp_path / "m" / "bundle.json").read_text())
    assert meta["multi_label"] is True and meta["model"]["config"]["multi_label"] is True
    assert 0 < meta["threshold"] < 1 and f"{meta['threshold']:.3g}" == tuned[1]
    assert meta["source"]["multi_label"] is True
    assert meta["info"]["thresholds"]["validation_rows"] == int(tuned[2]) > 0
    bundle = load_bundle(tmp_path / "m")
    assert bundle.multi_label and bundle.labels.names == sorted(TOPICS)
    np.testing.assert_array_equal(bundle.thresholds, np.full(5, meta["threshold"]))

    report = json.loads(run(capsys, "evaluate", tmp_path / "m", test, "--json"))
    truth = truth_of(test)
    # Trivial baselines: every label on every row, or each row's most frequent label only.
    every = micro_f1(truth, [set(TOPICS)] * len(truth))
    frequent = max(TOPICS, key=lambda t: sum(t in row for row in truth))
    assert report["multi_label"] is True and report["samples"] == 200
    assert report["micro_f1"] > 0.9 > max(every, micro_f1(truth, [{frequent}] * len(truth))) + 0.3
    assert report["thresholds"] == bundle.thresholds.tolist()

    answers = [json.loads(line) for line in run(capsys, "predict", tmp_path / "m", test,
                                                "--output-format", "jsonl").splitlines()]
    predicted = [{label for label, _ in answer["labels"]} for answer in answers]
    assert micro_f1(truth, predicted) == pytest.approx(report["micro_f1"])  # the same labels
    top = [json.loads(line) for line in run(capsys, "predict", tmp_path / "m", test, "-k", "1",
                                            "--output-format", "jsonl").splitlines()]
    assert all(len(answer["labels"]) <= 1 for answer in top)
    assert [a["labels"][:1] for a in answers] == [t["labels"] for t in top]  # the most probable
    assert all(p >= meta["threshold"] for answer in top for _, p in answer["labels"])


def test_the_recipe_s_threshold_is_the_one_tuned_on_its_validation_rows(tmp_path, data):
    train, _ = data
    config = TrainConfig(output=str(tmp_path / "m"), model_kind="mlp", epochs=3, batch_size=32,
                         cache=str(tmp_path / "c"), verbose=0, multi_label=True)
    result = train_text_classifier(SourceSpec((str(train),)), config, log=lambda line: None)
    bundle = load_bundle(result.bundle)
    split = result.dataset.validation
    batches = PreparedBatches(split, bundle.extractor.transform, len(split), shuffle=False)
    x, y = batches.batch(0, 0)
    with torch.no_grad():
        logits = bundle.module(to_tensors(x, torch.device("cpu"), keep_sparse=True))
    probabilities = torch.sigmoid(logits).numpy()
    expected = tune_thresholds(probabilities, y)
    np.testing.assert_allclose(result.thresholds.values, expected, rtol=1e-6)
    np.testing.assert_allclose(bundle.thresholds, expected, rtol=1e-6)
    assert result.thresholds.validation_rows == len(split) and not result.thresholds.per_label


def test_each_label_s_logit_starts_at_its_prior_log_odds(tmp_path, data):
    from streamfit.recipe.train import _extractor_and_module, prior_log_odds

    train, _ = data
    config = TrainConfig(output=str(tmp_path / "m"), model_kind="mlp", epochs=1, batch_size=64,
                         cache=str(tmp_path / "c"), verbose=0, multi_label=True)
    dataset = train_text_classifier(SourceSpec((str(train),)), config, log=lambda line: None).dataset
    rows = dataset.stats["train_rows"]
    counts = np.bincount(dataset.train.label_values, minlength=5)
    for kind in ("mlp", "fasttext", "sepcnn"):
        module = _extractor_and_module(kind, dataset, config)[1]
        np.testing.assert_allclose(module.output_bias.detach().numpy(),
                                   np.log(counts / (rows - counts)), rtol=1e-5)
    balanced = TrainConfig(**{**config.__dict__, "class_weight": "balanced"})
    assert not _extractor_and_module("mlp", dataset, balanced)[1].output_bias.detach().any()
    # A label on every row or none stays finite: half a row away.
    np.testing.assert_allclose(prior_log_odds(np.array([0, 5, 10]), 10),
                               [np.log(0.05 / 0.95), 0, np.log(0.95 / 0.05)], rtol=1e-6)


def test_per_label_thresholds_are_each_label_s_own(tmp_path, data, capsys):
    train, _ = data
    out = run(capsys, "train", train, "--multi-label", "--threshold-per-label", "--model", "mlp",
              "-o", tmp_path / "m", "--cache", tmp_path / "c", "--epochs", "3", "--batch-size", "32")
    assert re.search(r"^thresholds: per label, [0-9.]+ to [0-9.]+, tuned on \d+ validation rows",
                     out, re.MULTILINE), out
    meta = json.loads((tmp_path / "m" / "bundle.json").read_text())
    assert "threshold" not in meta and len(meta["thresholds"]) == 5
    assert meta["info"]["thresholds"]["per_label"] is True
    np.testing.assert_array_equal(load_bundle(tmp_path / "m").thresholds, meta["thresholds"])


def test_without_validation_rows_the_threshold_is_one_half(tmp_path, data, capsys):
    train, _ = data
    out = run(capsys, "train", train, "--multi-label", "--model", "mlp", "--validation-split", "0",
              "-o", tmp_path / "m", "--cache", tmp_path / "c", "--epochs", "1", "--batch-size", "64")
    assert "thresholds: 0.5 for every label (no validation rows to tune it on)" in out
    meta = json.loads((tmp_path / "m" / "bundle.json").read_text())
    assert meta["threshold"] == 0.5 and meta["info"]["thresholds"]["validation_rows"] == 0


def test_two_labels_get_two_sigmoids_and_a_csv_list_is_read_as_the_bundle_says(tmp_path, capsys):
    # Two topics only: a binary single-label model would have one logit; this one has one per label.
    two = {name: TOPICS[name] for name in ("sport", "music")}
    for name, rows, seed in (("train.csv", 300, 0), ("test.csv", 100, 1)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["labels", "text"])
            for labels, text in topic_rows(rows, seed, two):
                writer.writerow([";".join(labels), text])
    run(capsys, "train", tmp_path / "train.csv", "--label", "labels", "--multi-label", "--label-sep",
        ";", "--model", "mlp", "-o", tmp_path / "m", "--cache", tmp_path / "c", "--epochs", "8",
        "--batch-size", "32")
    bundle = load_bundle(tmp_path / "m")
    assert bundle.module.num_outputs == 2 and bundle.source["label_sep"] == ";"
    assert bundle.labels.names == ["music", "sport"]
    probabilities = bundle.predict_proba(pa.array(["goal team score", "song band album",
                                                   "goal team song band"]))
    assert probabilities.shape == (3, 2)  # each label's own sigmoid, no sum to 1
    assert probabilities[0, 1] > probabilities[0, 0] and probabilities[1, 0] > probabilities[1, 1]
    assert probabilities[2].min() > 0.5 and probabilities.sum(axis=1).max() > 1.2
    # evaluate reads the label lists with the bundle's separator: no --label-sep again.
    report = json.loads(run(capsys, "evaluate", tmp_path / "m", tmp_path / "test.csv", "--json"))
    assert report["multi_label"] is True and report["micro_f1"] > 0.9
    assert report["per_label"]["sport"]["support"] + report["per_label"]["music"]["support"] == sum(
        len(labels) for labels, _ in topic_rows(100, 1, two))


def test_a_short_sepcnn_run_ends_in_one_sigmoid_per_label(tmp_path, capsys):
    train = write_topics(tmp_path / "train.ft", 120)
    run(capsys, "train", train, "--multi-label", "--model", "sepcnn", "-o", tmp_path / "m", "--cache",
        tmp_path / "c", "--epochs", "1", "--batch-size", "64", "--verbose", "0")
    bundle = load_bundle(tmp_path / "m")
    assert bundle.multi_label and bundle.module.num_outputs == 5 and bundle.thresholds.shape == (5,)
    probabilities = bundle.predict_proba(pa.array(["goal song", "pizza"]))
    assert probabilities.shape == (2, 5) and ((probabilities > 0) & (probabilities < 1)).all()
