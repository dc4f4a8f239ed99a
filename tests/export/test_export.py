"""`streamfit export`: ONNX (run by onnxruntime) and TorchScript (torch.jit.load) give the bundle's
own probabilities for every model kind, single- and multi-label; featurize.json alone, read by a
plain-Python featurizer, reproduces the model input; the output directory obeys the file rules."""

from __future__ import annotations

import json
import math
import random
import struct
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from streamfit.cli.main import main
from streamfit.errors import OptionError, UserError
from streamfit.export import export_bundle
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.sources import SourceSpec

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOPICS = {"sport": "goal team", "music": "song band", "food": "pizza cheese", "tech": "code chip"}
#: Texts beside the reference file's: cue words, repeats, unknown words, an empty text.
TEXTS = ["the goal team song", "great great wonderful film", "awful boring dull plot", "",
         "pizza cheese code chip band", "qqq zzz", "The Movie WAS really FUN, loved it!!"]
#: (model kind, labels): two classes (one logit), three (softmax), multi-label (sigmoids).
CASES = [("mlp", "two"), ("mlp", "three"), ("mlp", "multi"), ("fasttext", "two"),
         ("fasttext", "three"), ("fasttext", "multi"), ("sepcnn", "two"), ("sepcnn", "multi")]


def write_topics(path: Path, rows: int) -> Path:
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(rows):
            chosen = rng.sample(sorted(TOPICS), rng.randint(1, 2))
            f.write(" ".join(f"__label__{t}" for t in chosen) + " the of a "
                    + " ".join(TOPICS[t] for t in chosen) + "\n")
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, write_corpus):
    """One trained bundle per case, written once for the module."""
    tmp = tmp_path_factory.mktemp("bundles")
    data = {"two": write_corpus(tmp / "two.csv", 200),
            "three": write_corpus(tmp / "three.csv", 240, labels=("neg", "mid", "pos")),
            "multi": write_topics(tmp / "multi.ft", 200)}
    made = {}
    for kind, labels in CASES:
        name = f"{kind}-{labels}"
        train_text_classifier(SourceSpec((str(data[labels]),)), TrainConfig(
            model_kind=kind, output=str(tmp / name), cache=str(tmp / f"cache-{name}"), epochs=3,
            batch_size=32, verbose=0, multi_label=labels == "multi"), log=lambda line: None)
        made[name] = tmp / name
    return made


def model_input(bundle, texts):
    """The bundle's own featurizing of `texts`, as the exported models' inputs (numpy)."""
    x = bundle.featurize(pa.array(texts, pa.string()))
    if bundle.kind == "sepcnn":
        return {"ids": np.asarray(x, np.int64)}
    return {"ids": x.indices.astype(np.int64), "offsets": x.indptr.astype(np.int64),
            "weights": x.data.astype(np.float32)}


def run_onnx(path: Path, feeds: dict) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], feeds)[0]


def same_predictions(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.parametrize("kind, labels", CASES)
def test_onnx_gives_the_bundle_s_probabilities(bundles, tmp_path, kind, labels):
    bundle = load_bundle(bundles[f"{kind}-{labels}"])
    out = export_bundle(bundles[f"{kind}-{labels}"], tmp_path / "out", "onnx")
    assert sorted(p.name for p in out.iterdir()) == ["featurize.json", "model.onnx", "reference.json"]
    model = onnx.load(str(out / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == (
        ["ids"] if kind == "sepcnn" else ["ids", "offsets", "weights"])
    expected = bundle.predict_proba(pa.array(TEXTS))
    got = run_onnx(out / "model.onnx", model_input(bundle, TEXTS))
    same_predictions(got, expected)
    if labels == "multi":  # one sigmoid per label: not a distribution
        assert got.shape[1] == 4 and not np.allclose(got.sum(axis=1), 1)
    else:
        np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-6)
        assert got.shape[1] == (3 if labels == "three" else 2)
    reference = json.loads((out / "reference.json").read_text())
    feeds = {name: np.asarray(value, np.float32 if name == "weights" else np.int64)
             for name, value in reference["input"].items()}
    same_predictions(run_onnx(out / "model.onnx", feeds),
                     np.asarray(reference["probabilities"], np.float32))
    same_predictions(np.asarray(reference["probabilities"], np.float32),
                     bundle.predict_proba(pa.array(reference["texts"])))
    spec = json.loads((out / "featurize.json").read_text())
    assert spec["labels"] == bundle.labels.names and spec["multi_label"] == (labels == "multi")
    assert spec["output"] == {"multi": "sigmoid", "two": "binary", "three": "softmax"}[labels]
    if labels == "multi":
        assert spec["thresholds"] == pytest.approx(bundle.thresholds.tolist())


@pytest.mark.parametrize("kind, labels", CASES)
def test_torchscript_loads_back_to_the_same_predictions(bundles, tmp_path, kind, labels):
    torch = pytest.importorskip("torch")
    bundle = load_bundle(bundles[f"{kind}-{labels}"])
    out = export_bundle(bundles[f"{kind}-{labels}"], tmp_path / "out", "torchscript")
    assert sorted(p.name for p in out.iterdir()) == ["featurize.json", "model.pt", "reference.json"]
    module = torch.jit.load(str(out / "model.pt"))
    feeds = [torch.from_numpy(v) for v in model_input(bundle, TEXTS).values()]
    with torch.no_grad():
        got = module(*feeds).numpy()
    same_predictions(got, bundle.predict_proba(pa.array(TEXTS)))


def test_a_sepcnn_shorter_than_its_pool_is_padded_as_the_module_pads(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "short.csv"
    path.write_text("label,text\n" + "".join(f"{'pos' if i % 2 else 'neg'},"
                                             f"{'great' if i % 2 else 'awful'} film\n"
                                             for i in range(60)))
    train_text_classifier(SourceSpec((str(path),)), TrainConfig(
        model_kind="sepcnn", output=str(tmp_path / "b"), cache=str(tmp_path / "c"), epochs=2,
        batch_size=16, verbose=0), log=lambda line: None)
    bundle = load_bundle(tmp_path / "b")
    assert bundle.extractor.length_ < bundle.config["pool_size"]
    texts = ["great film", "awful", "film awful great", ""]
    expected = bundle.predict_proba(pa.array(texts))
    out = export_bundle(tmp_path / "b", tmp_path / "onnx")
    same_predictions(run_onnx(out / "model.onnx", model_input(bundle, texts)), expected)
    out = export_bundle(tmp_path / "b", tmp_path / "ts", "torchscript")
    with torch.no_grad():
        got = torch.jit.load(str(out / "model.pt"))(torch.from_numpy(model_input(bundle, texts)["ids"]))
    same_predictions(got.numpy(), expected)


@pytest.mark.parametrize("kind", ["mlp", "fasttext"])
def test_a_bag_graph_takes_empty_rows_and_an_empty_batch(bundles, tmp_path, kind):
    bundle = load_bundle(bundles[f"{kind}-three"])
    out = export_bundle(bundles[f"{kind}-three"], tmp_path / "out")
    texts = ["", "great film", "", ""]  # empty rows first, between and last
    same_predictions(run_onnx(out / "model.onnx", model_input(bundle, texts)),
                     bundle.predict_proba(pa.array(texts)))
    none = run_onnx(out / "model.onnx", {"ids": np.zeros(0, np.int64),
                                         "offsets": np.zeros(1, np.int64),
                                         "weights": np.zeros(0, np.float32)})
    assert none.shape == (0, 3)


# A featurizer written from featurize.json alone: plain Python, no streamfit, no numpy.

_MASK = 2 ** 64 - 1


def lower(text: str) -> str:
    """Unicode simple lowercase, code point by code point (no final-sigma rule)."""
    # str.lower of one code point is its full mapping; only U+0130 maps to two
    # code points, whose first is its simple mapping ("i").
    return "".join(c.lower()[0] if c.lower() else c for c in text)


def tokenize(text: str, spec: dict) -> list[str]:
    word = spec["tokenizer"]["word_characters"]
    text = lower(text) if spec["tokenizer"]["lowercase"] else text
    tokens, current = [], []
    for c in text:
        if unicodedata.category(c)[0] in word["categories"] or c in word["characters"]:
            current.append(c)
        elif current:
            tokens.append("".join(current))
            current = []
    return tokens + (["".join(current)] if current else [])


def ngram_occurrences(ids: list[int], n_min: int, n_max: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i:i + n]) for n in range(n_min, n_max + 1)
            for i in range(len(ids) - n + 1) if min(ids[i:i + n]) >= 2]


def splitmix(x: int, spec: dict) -> int:
    (s1, s2, s3), (m1, m2) = spec["shifts"], [int(m, 16) for m in spec["multipliers"]]
    x ^= x >> s1
    x = (x * m1) & _MASK
    x ^= x >> s2
    x = (x * m2) & _MASK
    return x ^ (x >> s3)


def float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def featurize_row(ids: list[int], spec: dict) -> list[tuple[int, float]] | list[int]:
    features = spec["features"]
    if features["name"] == "sequences":
        ids = [1 if i >= features["num_words"] else i for i in ids][-features["length"]:]
        return [0] * (features["length"] - len(ids)) + ids
    grams = ngram_occurrences(ids, *features["ngram_range"])
    if features["name"] == "tfidf":
        column = {tuple(g): j for j, g in enumerate(features["ngrams"])}
        counts = Counter(column[g] for g in grams if g in column)
        values = {j: (1 + math.log(c) if features["sublinear_tf"] else c) * features["idf"][j]
                  for j, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values())) if features["norm"] == "l2" else 1
        return [(j, float32(values[j] / norm)) for j in sorted(values)]
    v, buckets = features["vocab_size"], features["num_buckets"]
    increment = int(features["seed"]) * int(features["hash"]["increment_per_seed"], 16)

    def col(g):
        if len(g) == 1:
            return g[0]
        key = 0
        for w in g:
            key = key * v + w
        return v + splitmix((key + increment) & _MASK, features["hash"]) % buckets
    counts = Counter(col(g) for g in grams)
    total = len(grams) if features["weighting"] == "mean" else 1
    return [(j, float32(c / total)) for j, c in sorted(counts.items())]


def featurize(texts: list[str], spec: dict) -> tuple[list, dict]:
    """(tokens per text, the model input) from featurize.json alone."""
    index = {w: i + spec["vocabulary"]["first_word_id"] for i, w in enumerate(spec["vocabulary"]["words"])}
    tokens = [tokenize(t, spec) for t in texts]
    rows = [featurize_row([index.get(t, spec["vocabulary"]["oov_id"]) for t in ts], spec)
            for ts in tokens]
    if spec["features"]["name"] == "sequences":
        return tokens, {"ids": rows}
    offsets = [0]
    for row in rows:
        offsets.append(offsets[-1] + len(row))
    return tokens, {"ids": [j for row in rows for j, _ in row], "offsets": offsets,
                    "weights": [w for row in rows for _, w in row]}


@pytest.mark.parametrize("kind", ["mlp", "fasttext", "sepcnn"])
def test_featurize_json_alone_reproduces_the_model_input(bundles, tmp_path, kind):
    out = export_bundle(bundles[f"{kind}-two"], tmp_path / "out")
    spec = json.loads((out / "featurize.json").read_text())
    reference = json.loads((out / "reference.json").read_text())
    tokens, got = featurize(reference["texts"], spec)
    assert tokens == reference["tokens"]
    assert "istanbul" in tokens[3] and "οδοσ" in tokens[3]  # simple lowercase: no final sigma
    assert "don't" in tokens[2] and "br" in tokens[2] and "2" in tokens[2]
    expected = reference["input"]
    assert got["ids"] == expected["ids"]
    if kind != "sepcnn":
        assert got["offsets"] == expected["offsets"] and len(expected["ids"]) > 20
        np.testing.assert_allclose(got["weights"], expected["weights"], rtol=1e-6)
    # ... and on other texts, to the bundle's own featurizer.
    bundle = load_bundle(bundles[f"{kind}-two"])
    _, got = featurize(TEXTS, spec)
    expected = model_input(bundle, TEXTS)
    assert got["ids"] == expected["ids"].tolist()
    if kind != "sepcnn":
        assert got["offsets"] == expected["offsets"].tolist()
        np.testing.assert_allclose(got["weights"], expected["weights"], rtol=1e-6)


def test_a_multi_label_tfidf_spec_reproduces_its_input(bundles, tmp_path):
    out = export_bundle(bundles["mlp-multi"], tmp_path / "out")
    spec = json.loads((out / "featurize.json").read_text())
    reference = json.loads((out / "reference.json").read_text())
    _, got = featurize(reference["texts"], spec)
    assert got["ids"] == reference["input"]["ids"] and got["offsets"] == reference["input"]["offsets"]
    assert spec["features"]["ngram_range"] == [1, 2] and any(len(g) == 2 for g in spec["features"]["ngrams"])


def test_the_output_directory_obeys_the_file_rules(bundles, tmp_path):
    bundle = bundles["mlp-two"]
    out = export_bundle(bundle, tmp_path / "out")
    export_bundle(bundle, out, "torchscript")  # an earlier export is replaced whole
    assert sorted(p.name for p in out.iterdir()) == ["featurize.json", "model.pt", "reference.json"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OptionError, match="notes.txt"):
        export_bundle(bundle, out)
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.pt").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "featurize.json").write_text('{"format": "something else"}')
    with pytest.raises(OptionError, match="not a streamfit export"):
        export_bundle(bundle, mine)
    assert (mine / "featurize.json").read_text() == '{"format": "something else"}'
    with pytest.raises(OptionError, match="not a streamfit export"):
        export_bundle(bundle, bundle)  # the bundle itself
    (tmp_path / "file").write_text("x")
    with pytest.raises(OptionError, match="is a file"):
        export_bundle(bundle, tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_bundle(bundle, empty) == empty and (empty / "model.onnx").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left


def test_the_command_line(bundles, tmp_path, capsys, monkeypatch):
    assert main(["export", str(bundles["fasttext-multi"]), "--output", str(tmp_path / "o")]) == 0
    assert "model.onnx" in capsys.readouterr().out and (tmp_path / "o" / "model.onnx").exists()
    assert main(["export", str(bundles["fasttext-multi"]), "--format", "torchscript",
                 "-o", str(tmp_path / "o")]) == 0
    assert main(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "p")]) == 2
    assert "not a streamfit bundle" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)  # onnx not installed
    assert main(["export", str(bundles["mlp-two"]), "-o", str(tmp_path / "q")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install 'streamfit[export]'" in error
    assert not (tmp_path / "q").exists()


def test_an_unknown_format_is_refused(bundles, tmp_path):
    with pytest.raises(OptionError, match="format"):
        export_bundle(bundles["mlp-two"], tmp_path / "o", "tflite")
    with pytest.raises(UserError, match="not a streamfit bundle"):
        export_bundle(tmp_path / "nothing", tmp_path / "o")


def test_an_onnx_export_of_a_bag_model_never_imports_torch(bundles, tmp_path):
    import subprocess

    code = ("import sys; from streamfit.export import export_bundle; "
            f"export_bundle({str(bundles['fasttext-two'])!r}, {str(tmp_path / 'o')!r}); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False" and (tmp_path / "o" / "model.onnx").exists()


@pytest.mark.parametrize("kind", ["mlp", "fasttext"])
def test_a_quantized_bundle_exports_to_its_own_probabilities(bundles, tmp_path, kind):
    quantize = pytest.importorskip("streamfit.inference.quantize")
    quantize.quantize_bundle(bundles[f"{kind}-three"], tmp_path / "small", cutoff=20)
    bundle = load_bundle(tmp_path / "small")
    out = export_bundle(tmp_path / "small", tmp_path / "out")
    same_predictions(run_onnx(out / "model.onnx", model_input(bundle, TEXTS)),
                     bundle.predict_proba(pa.array(TEXTS)))
    spec = json.loads((out / "featurize.json").read_text())
    reference = json.loads((out / "reference.json").read_text())
    _, got = featurize(reference["texts"], spec)  # the compacted vocabulary and n-grams
    assert got["ids"] == reference["input"]["ids"] and got["offsets"] == reference["input"]["offsets"]
    np.testing.assert_allclose(got["weights"], reference["input"]["weights"], rtol=1e-6)
    if kind == "mlp":
        assert spec["features"]["num_features"] == 20 == len(spec["features"]["ngrams"])
