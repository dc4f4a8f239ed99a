"""The numpy forward of the bag models equals torch's: synthetic models, and bundles on every shared dataset."""

import csv
import gzip
import io
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse
import torch

from streamfit.errors import OptionError
from streamfit.inference import forward
from streamfit.inference.weights import as_arrays
from streamfit.models import build_model
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.sources import SourceSpec
from streamfit.training.tensors import to_tensors

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def torch_probabilities(module, x, multi_label):
    """The probabilities as `Bundle` read the torch module's logits before issue 16."""
    with torch.no_grad():
        logits = module.eval()(to_tensors(x, torch.device("cpu"), keep_sparse=True)).float()
    if multi_label:
        return torch.sigmoid(logits).numpy()
    if logits.shape[-1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - p, p], dim=1).numpy()
    return torch.softmax(logits, dim=-1).numpy()


def assert_same(numpy_p, torch_p):
    assert numpy_p.dtype == np.float32 and numpy_p.shape == torch_p.shape
    np.testing.assert_allclose(numpy_p, torch_p, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(numpy_p.argmax(axis=1), torch_p.argmax(axis=1))


def random_rows(rng, rows, width, density=0.05):
    x = scipy.sparse.random(rows, width, density=density, format="csr", random_state=rng, dtype=np.float32)
    x.data *= 3
    x[0] = 0  # an empty row: the bias alone
    x.eliminate_zeros()
    return x


CASES = [
    *(("mlp", {"layers": layers, "units": 16}, classes, multi)
      for layers, classes, multi in itertools.product((1, 2, 4), (2, 5), (False, True))),
    *(("fasttext", {"dim": 12}, classes, multi) for classes, multi in itertools.product((2, 7), (False, True))),
]


@pytest.mark.parametrize("kind, extra, classes, multi_label", CASES)
def test_a_random_bag_model_gives_torchs_probabilities(kind, extra, classes, multi_label):
    torch.manual_seed(classes)
    config = {"num_features": 300, "num_classes": classes, "multi_label": multi_label, **extra}
    module = build_model(kind, **config)
    with torch.no_grad():  # fastText starts its output layer at zero: give it weights to compare
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    weights = as_arrays(module.state_dict())
    assert {name: a.shape for name, a in weights.items()} == forward.declared_shapes(kind, config)
    assert list(weights) == list(forward.declared_shapes(kind, config))  # torch's order, too
    x = random_rows(np.random.default_rng(classes), 64, 300)
    got = forward.predict_proba(kind, config, weights, x)
    assert_same(got, torch_probabilities(module, x, multi_label))
    if not multi_label:
        np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-6)
    assert got.shape == (64, classes)


def test_the_sigmoid_and_softmax_survive_huge_logits():
    z = np.array([[-1e4, 0.0, 1e4]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(forward.sigmoid(z), [[0, 0.5, 1]])
        np.testing.assert_array_equal(forward.softmax(z), [[0, 0, 1]])


@pytest.mark.parametrize("kind, config, problem", [
    ("mlp", {"num_features": 5, "num_classes": 2, "layers": 0}, "layers=0 must be an integer in [1, 1001)"),
    ("mlp", {"num_features": 5, "num_classes": 2, "units": "8"}, "units='8' must be an integer"),
    ("mlp", {"num_features": 5, "num_classes": 2, "depth": 3}, "depth=3 is no argument of the mlp model"),
    ("fasttext", {"num_features": 5, "num_classes": 1}, "num_classes=1 must be an integer"),
    ("fasttext", {"num_features": 5, "num_classes": 2, "multi_label": 1}, "multi_label=1 must be True"),
])
def test_a_bad_config_is_refused_as_the_torch_constructor_refuses_it(kind, config, problem):
    with pytest.raises(OptionError) as ours:
        forward.declared_shapes(kind, config)
    with pytest.raises(OptionError) as torchs:
        build_model(kind, **config)
    assert problem in str(ours.value)
    assert str(ours.value) == str(torchs.value)


# --- bundles trained on a slice of every shared dataset (skipped where absent) ---

def _rows(name):
    """(label, text) rows of a shared dataset's first split, and of its test split."""
    csv.field_size_limit(1 << 24)  # 20 Newsgroups has posts of over 128 kB

    def read(path, encoding="utf-8"):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding=encoding, errors="replace", newline="") as file:
            yield from csv.reader(file, delimiter="\t" if ".tsv" in path.name else ",")

    if name == "ag_news":
        rows = [(r[0], f"{r[1]} {r[2]}".replace("\\n", "\n")) for r in read(SHARED / name / "test.csv.gz")]
        return rows[::2], rows[1::2]
    if name == "sst2":
        train = [(r[1], r[0]) for r in itertools.islice(read(SHARED / name / "train.tsv.gz"), 1, None)]
        test = [(r[1], r[0]) for r in itertools.islice(read(SHARED / name / "dev.tsv"), 1, None)]
        return train, test
    label, text = (0, 3)  # imdb and 20newsgroups: label first, text last
    return ([(r[label], r[text]) for r in itertools.islice(read(SHARED / name / split), 1, None)]
            for split in ("train.csv.gz", "test.csv.gz"))


def _slice(rows, count, seed=0):
    rows = list(rows)
    picked = np.random.default_rng(seed).choice(len(rows), size=min(count, len(rows)), replace=False)
    return [rows[i] for i in sorted(picked)]


def _write(path, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(["label", "text"])
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["imdb", "ag_news", "sst2", "20newsgroups"])
def shared_slice(request, tmp_path_factory):
    if not (SHARED / request.param).is_dir():
        pytest.skip(f"{SHARED / request.param} is absent (the shared datasets are not on this machine)")
    train, test = _rows(request.param)
    tmp = tmp_path_factory.mktemp(request.param)
    data = _write(tmp / "train.csv", _slice(train, 800))
    return tmp, data, [text for _, text in _slice(test, 400, seed=1)] + [""]


@pytest.mark.parametrize("kind", ["mlp", "fasttext"])
def test_a_bundle_on_a_shared_dataset_predicts_as_torch(shared_slice, kind):
    tmp, data, texts = shared_slice
    config = TrainConfig(output=str(tmp / kind), model_kind=kind, epochs=2, batch_size=64,
                         cache=str(tmp / "cache"), verbose=0)
    bundle = load_bundle(train_text_classifier(SourceSpec((str(data),)), config, log=lambda line: None).bundle)
    texts = pa.array(texts)
    assert_same(bundle.predict_proba(texts), torch_probabilities(bundle.module, bundle.featurize(texts), False))
