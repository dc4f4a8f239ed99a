"""Top-k and thresholds: `Bundle.predict` and `streamfit predict -k/--threshold`, lists of labels."""

import csv
import io
import json
import random
import shutil

import numpy as np
import pyarrow as pa
import pytest

from streamfit.cli.main import main
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.recipe.selection import select_labels
from streamfit.sources import SourceSpec

CUES = {"food": "pasta bread cheese soup", "sports": "goal match team score",
        "tech": "laptop code chip software"}
TEXTS = ["goal match team", "pasta soup and code chip", "laptop software", "the of a",
         "cheese bread", "score goal and laptop"]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    """A three-label fastText-file bundle."""
    directory = tmp_path_factory.mktemp("labels")
    rng = random.Random(0)
    with open(directory / "train.ft", "w") as f:
        for i in range(600):
            label = list(CUES)[i % 3]
            words = CUES[label].split() * 2 + ["the", "a", "of", "today"]
            rng.shuffle(words)
            f.write(f"__label__{label} {' '.join(words)}\n")
    config = TrainConfig(output=str(directory / "model"), model_kind="mlp", epochs=4, batch_size=32,
                         cache=str(directory / "cache"), verbose=0, validation_split=0)
    train_text_classifier(SourceSpec((str(directory / "train.ft"),)), config, log=lambda line: None)
    return directory / "model"


@pytest.fixture(scope="module")
def multi_label_dir(bundle_dir, tmp_path_factory):
    """The same weights read as a multi-label bundle (one sigmoid per label), threshold 0.3."""
    directory = tmp_path_factory.mktemp("multi") / "model"
    shutil.copytree(bundle_dir, directory)
    meta = json.loads((directory / "bundle.json").read_text())
    meta.update(multi_label=True, threshold=0.3)
    meta["model"]["config"]["multi_label"] = True
    (directory / "bundle.json").write_text(json.dumps(meta))
    return directory


def named(bundle, rows):
    return [[(bundle.labels.names[label], p) for label, p in row] for row in rows]


def written(rows):
    """`Bundle.predict`'s answer as the output writes it: [name, probability to 6 places]."""
    return [[[name, round(p, 6)] for name, p in row] for row in rows]


def same(read, expected):
    """Lists of [name, probability] equal, probabilities to within their rounding."""
    assert [[name for name, _ in row] for row in read] == [[name for name, _ in row] for row in expected]
    assert np.allclose([p for row in read for _, p in row], [p for row in expected for _, p in row],
                       rtol=0, atol=1.01e-6)


def test_bundle_predict_is_select_labels_over_predict_proba(bundle_dir):
    bundle = load_bundle(bundle_dir)
    p = bundle.predict_proba(pa.array(TEXTS))
    assert bundle.predict(TEXTS) == named(bundle, select_labels(p, 1))
    assert [row[0][0] for row in bundle.predict(TEXTS)] == [bundle.labels.names[i] for i in p.argmax(1)]
    top2 = bundle.predict(TEXTS, k=2)
    assert top2 == named(bundle, select_labels(p, 2))
    assert top2[0][0][0] == "sports" and top2[2][0][0] == "tech"
    assert {name for name, _ in top2[1]} == {"food", "tech"}  # "pasta soup and code chip"
    every = bundle.predict(TEXTS, k=-1)
    assert all(len(row) == 3 and abs(sum(p for _, p in row) - 1) < 1e-5 for row in every)
    assert bundle.predict(TEXTS, k=-1, threshold=0.5) == named(bundle, select_labels(p, -1, 0.5))
    assert bundle.predict(TEXTS[:2], batch_size=1) == bundle.predict(TEXTS[:2])
    with pytest.raises(ValueError, match="one string"):
        bundle.predict("goal match")


def test_a_multi_label_bundle_names_every_label_at_its_tuned_threshold(multi_label_dir):
    bundle = load_bundle(multi_label_dir)
    p = bundle.predict_proba(pa.array(TEXTS))
    assert bundle.multi_label and bundle.thresholds.tolist() == [0.3] * 3
    assert bundle.predict(TEXTS) == named(bundle, select_labels(p, -1, 0.3))
    assert bundle.predict(TEXTS, k=1) == named(bundle, select_labels(p, 1, 0.3))
    assert bundle.predict(TEXTS, threshold=0.9) == named(bundle, select_labels(p, -1, 0.9))


def write_csv(path, texts, bad=()):
    with open(path, "w") as f:
        f.write("id,text\n")
        for i, text in enumerate(texts, start=1):
            f.write('"x","y","z"\n' if i in bad else f'"r{i}","{text}"\n')
    return path


def run(capsys, *argv):
    code = main(["predict", *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_k_and_threshold_write_json_pairs_in_csv_and_json_lines(bundle_dir, tmp_path, capsys):
    bundle = load_bundle(bundle_dir)
    data = write_csv(tmp_path / "d.csv", TEXTS, bad={3})
    texts = [text for i, text in enumerate(TEXTS, start=1) if i != 3]
    expected = written(bundle.predict(texts, k=2, threshold=0.1))
    out, err = run(capsys, bundle_dir, data, "-k", "2", "--threshold", "0.1", "--id", "id")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["row", "file", "line", "id", "labels", "skipped"]
    assert rows[2] == {"row": "3", "file": str(data), "line": "4", "id": "", "labels": "",
                       "skipped": "wrong_field_count"}
    good = [row for row in rows if not row["skipped"]]
    same([json.loads(row["labels"]) for row in good], expected)
    assert [row["id"] for row in good] == ["r1", "r2", "r4", "r5", "r6"]
    assert any(len(labels) == 1 for labels in expected) and any(len(labels) == 2 for labels in expected)
    run(capsys, bundle_dir, data, "-k", "2", "--threshold", "0.1", "--output", tmp_path / "p.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    same([line["labels"] for line in lines if line["skipped"] is None], expected)
    assert lines[2]["labels"] is None and list(lines[0]) == ["row", "file", "line", "labels", "skipped"]
    out, _ = run(capsys, bundle_dir, data, "--output-format", "jsonl", "--threshold", "0.999999")
    assert [json.loads(line)["labels"] for line in out.splitlines()][:2] == [[], []]


def test_the_default_keeps_the_one_label_columns(bundle_dir, tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", TEXTS)
    out, _ = run(capsys, bundle_dir, data)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["row", "file", "line", "label", "probability", "skipped"]
    assert [row["label"] for row in rows[:3]] == ["sports", rows[1]["label"], "tech"]
    out, _ = run(capsys, bundle_dir, data, "-k", "1")
    top = [json.loads(row["labels"])[0] for row in csv.DictReader(io.StringIO(out))]
    assert [[row["label"], float(row["probability"])] for row in rows] == top  # the same digits


def test_a_multi_label_bundle_lists_labels_by_default(multi_label_dir, tmp_path, capsys):
    bundle = load_bundle(multi_label_dir)
    data = write_csv(tmp_path / "d.csv", TEXTS)
    out, _ = run(capsys, multi_label_dir, data)
    rows = list(csv.DictReader(io.StringIO(out)))
    same([json.loads(row["labels"]) for row in rows], written(bundle.predict(TEXTS)))
    assert {len(json.loads(row["labels"])) for row in rows} >= {1, 2}  # "any number of labels"
    out, _ = run(capsys, multi_label_dir, data, "-k", "1", "--threshold", "0")
    same([json.loads(row["labels"]) for row in csv.DictReader(io.StringIO(out))],
         written(bundle.predict(TEXTS, k=1, threshold=0)))


@pytest.mark.parametrize("argv, message", [
    (["-k", "0"], "-k 0 must be an integer >= 1, or -1 for every label"),
    (["--threshold", "1.5"], "--threshold 1.5 must be a probability in [0, 1]"),
    (["--output-format", "jsonl", "--output", "p.csv"], "--output-format jsonl does not match"),
])
def test_bad_options_are_one_line_naming_the_flag(bundle_dir, tmp_path, capsys, argv, message):
    data = write_csv(tmp_path / "d.csv", TEXTS)
    assert main(["predict", str(bundle_dir), str(data), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_label_lists_escape_any_label_name():
    from streamfit.cli.predict import Writer
    from streamfit.recipe.selection import select

    names = ['say "hi"', "a, b", "=cmd|' /C calc'!A0", "tab\there"]
    writer = Writer(names, ["f"], jsonl=False, with_id=False, listed=True)
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]], np.float32)
    lists = writer.label_lists(select(p, 3, 0.15)).to_pylist()
    assert [json.loads(text) for text in lists] == [
        [[names[3], 0.4], [names[2], 0.3], [names[1], 0.2]], [[names[0], 0.25], [names[1], 0.25],
                                                               [names[2], 0.25]]]
