"""Shared fixtures: small labelled corpora written to temporary files."""

from __future__ import annotations

import csv
import gzip
import os
import random
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"

POSITIVE = ["great", "wonderful", "loved", "excellent", "fun", "brilliant", "superb"]
NEGATIVE = ["awful", "boring", "hated", "terrible", "dull", "worst", "poor"]
FILLER = ["the", "movie", "film", "plot", "actors", "was", "and", "a", "story", "really"]


def make_corpus(path: Path, rows: int, seed: int = 0, labels=("neg", "pos")) -> Path:
    """A CSV (header label,text) whose label is learnable from its words."""
    rng = random.Random(seed)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow(["label", "text"])
        for i in range(rows):
            label = labels[i % len(labels)]
            cue = POSITIVE if label == labels[-1] else NEGATIVE
            words = [rng.choice(FILLER) for _ in range(rng.randint(5, 15))]
            words += [rng.choice(cue) for _ in range(2)]
            rng.shuffle(words)
            writer.writerow([label, " ".join(words)])
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "train.csv", 400)


def shared_dataset(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared datasets are not on this machine)")
    return path


@pytest.fixture(scope="session")
def write_corpus():
    """`write_corpus(path, rows, seed=0, labels=("neg", "pos"))` writes a learnable CSV."""
    return make_corpus


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend; the test is skipped when Keras is absent."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"  # Keras reads its backend once, at import
    keras = pytest.importorskip("keras", reason="keras is not installed (pip install keras)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was imported with the {keras.backend.backend()} backend before "
                    "these tests, which need torch")
    return keras


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one intra-op thread for the module: small models run faster so on a busy machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
