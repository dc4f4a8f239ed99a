"""`streamfit quantize`: int8 rows within their bound, compact bundles that load and predict
through the same paths as float ones, within an accuracy bound and 10x smaller, and refusals."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from streamfit.cli.main import main
from streamfit.errors import UserError
from streamfit.inference.quantize import (
    dequantize,
    encode_tensor,
    format_steps,
    largest_rows,
    quantize_bundle,
    quantize_rows,
)
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.sources import SourceSpec

CUES = {"pos": ["great", "wonderful", "loved", "excellent"], "neg": ["awful", "boring", "hated", "dull"]}


def write_corpus(path, rows, seed, fillers):
    """A CSV whose label shows in two cue words among many filler words (a large vocabulary)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as file:
        file.write("label,text\n")
        for i in range(rows):
            label = ("neg", "pos")[i % 2]
            words = [rng.choice(fillers) for _ in range(12)] + rng.sample(CUES[label], 2)
            rng.shuffle(words)
            file.write(f"{label},{' '.join(words)}\n")
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quantize")
    fillers = [f"w{i}x" for i in range(3000)]
    train = write_corpus(tmp / "train.csv", 600, 0, fillers)
    test = write_corpus(tmp / "test.csv", 300, 1, fillers)
    for kind in ("mlp", "fasttext"):
        config = TrainConfig(output=str(tmp / kind), model_kind=kind, epochs=4, batch_size=32,
                             cache=str(tmp / "cache"), verbose=0, validation_split=0)
        train_text_classifier(SourceSpec((str(train),)), config, log=lambda line: None)
    return tmp, train, test


def test_int8_rows_come_back_within_half_a_scale_and_are_never_clipped():
    rng = np.random.default_rng(0)
    matrix = np.concatenate([rng.normal(0, 1, (50, 16)), rng.normal(0, 1e-6, (5, 16)),
                             rng.normal(0, 3e4, (5, 16)), np.zeros((1, 16)),
                             np.full((1, 16), 0.7)]).astype(np.float32)
    q, scale = quantize_rows(matrix)
    assert q.dtype == np.int8 and scale.dtype == np.float16 and q.min() >= -127
    s = scale.astype(np.float32)
    assert (s * 127 >= np.abs(matrix).max(axis=1)).all()
    below = np.nextafter(scale[:-2], np.float16(-np.inf)).astype(np.float32)
    assert (below * 127 < np.abs(matrix[:-2]).max(axis=1)).all()  # the least such float16
    error = np.abs(q.astype(np.float32) * s[:, None] - matrix)
    assert (error <= s[:, None] / 2 * (1 + 1e-6) + 1e-12).all()
    normal = np.r_[0:50, 55:60]  # rows of normal float16 scales use the whole range
    assert (np.abs(q).max(axis=1)[normal] == 127).all()
    assert scale[-2] == 0 and not q[-2].any()
    with pytest.raises(UserError, match="not finite"):
        quantize_rows(np.array([[np.nan, 1]], np.float32))


def test_dequantize_gives_the_full_shape_the_kept_rows_within_bound_the_rest_zero():
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(0, 1, (40, 8)).astype(np.float32), rng.normal(0, 1, 3).astype(np.float32)
    rows = largest_rows(np.linalg.norm(weight, axis=1), 10)
    assert list(rows) == sorted(np.argsort(-np.linalg.norm(weight, axis=1))[:10])
    arrays, spec_w = encode_tensor("w", weight, "int8", rows)
    more, spec_b = encode_tensor("b", bias, "float32")
    state = dequantize({**arrays, **more}, {"format": 1, "cutoff": 10,
                                            "tensors": {"w": spec_w, "b": spec_b}})
    assert state["w"].shape == (40, 8) and state["w"].dtype == np.float32
    bound = arrays["w.scale"].astype(np.float32)[:, None] / 2 * (1 + 1e-6)
    assert (np.abs(state["w"][rows] - weight[rows]) <= bound).all()
    assert not np.delete(state["w"], rows, axis=0).any()
    assert np.array_equal(state["b"], bias)


def tampered(change):
    weight = np.arange(24, dtype=np.float32).reshape(6, 4)
    arrays, entry = encode_tensor("w", weight, "int8", np.array([1, 3, 4]))
    spec = {"format": 1, "cutoff": 3, "tensors": {"w": entry}}
    change(arrays, spec)
    return arrays, spec


@pytest.mark.parametrize(("change", "message"), [
    (lambda a, s: a.update({"w.rows": np.array([3, 1, 4], np.int32)}), "sorted distinct rows"),
    (lambda a, s: a.update({"w.rows": np.array([1, 3, 6], np.int32)}), r"in \[0, 6\)"),
    (lambda a, s: a.update({"w.q": a["w.q"].astype(np.int16)}), "not int8"),
    (lambda a, s: a.update({"w.scale": np.array([1, -1, 1], np.float16)}), "finite number >= 0"),
    (lambda a, s: a.update({"extra": np.zeros(1, np.float32)}), "'extra'"),
    (lambda a, s: a.pop("w.scale"), "lacks 'w.scale'"),
    (lambda a, s: s["tensors"]["w"].update(shape=[1 << 20, 1 << 20]), "at most"),
    (lambda a, s: s["tensors"]["w"].update(encoding="pq"), "encoding"),
    (lambda a, s: s.update(format=2), "format 1"),
])
def test_dequantize_refuses_what_quantize_never_writes_in_one_line(change, message):
    with pytest.raises(UserError, match=message) as error:
        dequantize(*tampered(change))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind", ["mlp", "fasttext"])
def test_a_quantized_bundle_predicts_as_the_float_one_and_is_10x_smaller(made, kind):
    tmp, _, test = made
    steps = quantize_bundle(tmp / kind, tmp / f"{kind}-small", cutoff=200, data=[str(test)])
    assert [step["step"] for step in steps] == ["float bundle", "cutoff 200", "int8 rows"]
    float_bundle, small = load_bundle(tmp / kind), load_bundle(tmp / f"{kind}-small")
    assert steps[-1]["rows"] == 200 and steps[0]["bytes"] >= 10 * steps[-1]["bytes"]
    assert steps[0]["score"] > 0.95 and steps[-1]["score"] >= steps[0]["score"] - 0.02
    texts = ["a great and wonderful w1x", "boring dull w7x w8x", "", "unknownword"]
    answers = small.predict(texts)
    assert [a[0][0] for a in answers[:2]] == [a[0][0] for a in float_bundle.predict(texts)[:2]]
    meta = json.loads((tmp / f"{kind}-small" / "bundle.json").read_text())
    assert meta["weights"] == "weights.npz" and meta["quantized"]["cutoff"] == 200
    assert meta["info"] == float_bundle.info and meta["labels"] == ["neg", "pos"]
    assert sorted(p.name for p in (tmp / f"{kind}-small").iterdir()) == [
        "bundle.json", "features.npz", "vocabulary.arrow", "weights.npz"]
    words = [word for word in small.vocabulary.words.to_pylist() if word]  # hashing: blanks keep ids
    assert len(words) <= 200 + 200 // 3 and len(float_bundle.vocabulary.words) > 2000
    if kind == "fasttext":  # the most frequent words stay, for the n-grams of the kept buckets
        assert small.vocabulary.words[:66] == float_bundle.vocabulary.words[:66]
    assert "cutoff 200" in format_steps(steps)


def test_the_cli_prints_every_step_and_predict_and_evaluate_read_the_small_bundle(made, capsys):
    tmp, _, test = made
    small = tmp / "cli-small"
    assert main(["quantize", str(tmp / "mlp"), "--output", str(small), "--cutoff", "100",
                 "--data", str(test)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["step", "rows", "size", "smaller", "accuracy"]
    assert [line.split()[0] for line in table[1:]] == ["float", "cutoff", "int8"]
    assert main(["evaluate", str(small), str(test), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["accuracy"] > 0.9
    assert main(["predict", str(small), str(test)]) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 300
    # no cutoff: every row kept, as int8; again into the same directory (its own bundle)
    assert main(["quantize", str(tmp / "fasttext"), "--output", str(small), "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert [step["step"] for step in steps] == ["float bundle", "int8 rows"]
    assert steps[0]["rows"] == steps[1]["rows"] + 2  # padding and OOV never fire


def test_a_quantized_bundle_predicts_without_torch(made):
    tmp, _, _ = made
    quantize_bundle(tmp / "fasttext", tmp / "torchless", cutoff=50)
    code = ("import sys; from streamfit.recipe.bundle import load_bundle; "
            f"print(load_bundle({str(tmp / 'torchless')!r}).predict(['great loved'])[0][0][0]); "
            "assert 'torch' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "pos"


def test_multi_label_bundles_keep_their_thresholds(tmp_path):
    rows = ["labels,text"]
    rng = random.Random(0)
    for _ in range(300):
        tags = [t for t in ("sport", "film", "food") if rng.random() < 0.4] or ["food"]
        words = [rng.choice(["a", "the", "of", "and"]) for _ in range(6)] + [f"{t}word" for t in tags]
        rows.append(f"{';'.join(tags)},{' '.join(words)}")
    (tmp_path / "ml.csv").write_text("\n".join(rows) + "\n")
    config = TrainConfig(output=str(tmp_path / "ml"), model_kind="mlp", epochs=6, batch_size=32,
                         cache=str(tmp_path / "cache"), verbose=0, validation_split=0,
                         multi_label=True)
    spec = SourceSpec((str(tmp_path / "ml.csv"),), label="labels", multi_label=True, label_sep=";")
    train_text_classifier(spec, config, log=lambda line: None)
    steps = quantize_bundle(tmp_path / "ml", tmp_path / "small", cutoff=8,
                            data=[str(tmp_path / "ml.csv")])
    assert steps[0]["metric"] == "micro_f1" and steps[-1]["score"] >= steps[0]["score"] - 0.05
    big, small = load_bundle(tmp_path / "ml"), load_bundle(tmp_path / "small")
    assert small.multi_label and np.array_equal(small.thresholds, big.thresholds)
    texts = ["sportword filmword", "foodword of the"]
    assert [[label for label, _ in row] for row in small.predict(texts)] == [
        [label for label, _ in row] for row in big.predict(texts)]


@pytest.mark.parametrize(("argv", "message"), [
    (["--cutoff", "0"], "--cutoff 0 must be an integer >= 1"),
    (["--cutoff", "-5"], "--cutoff -5 must be an integer >= 1"),
    (["--batch-size", "0"], "--batch-size 0 must be an integer >= 1"),
])
def test_bad_flags_are_one_line_naming_the_flag(made, capsys, argv, message):
    tmp, _, _ = made
    assert main(["quantize", str(tmp / "mlp"), "--output", str(tmp / "never"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp / "never").exists()


def test_the_output_is_never_the_bundle_itself_nor_a_folder_of_the_users(made, capsys):
    tmp, _, _ = made
    assert main(["quantize", str(tmp / "mlp"), "--output", str(tmp / "mlp")]) == 2
    assert "--output" in capsys.readouterr().err and load_bundle(tmp / "mlp").labels.names
    mine = tmp / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["quantize", str(tmp / "mlp"), "--output", str(mine), "--cutoff", "10"]) == 2
    err = capsys.readouterr().err
    assert "is not a streamfit bundle" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert main(["quantize", str(tmp / "nothing"), "--output", str(tmp / "x")]) == 2
    assert "not a streamfit bundle" in capsys.readouterr().err
