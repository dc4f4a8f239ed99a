"""Shared data and modules for the training tests: small, seeded, learnable."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from streamfit.batches import BatchSet

NUM_FEATURES = 300
NUM_CLASSES = 3


def tfidf_like(rows: int = 600, features: int = NUM_FEATURES, classes: int = NUM_CLASSES,
               seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Random sparse rows (L2-normalised, ~4% dense) whose class shows in a block of features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    noise = sp.random(rows, features, density=0.03, random_state=seed, format="csr",
                      dtype=np.float64)
    block = features // classes
    signal_cols = labels[:, None] * block + rng.integers(0, 20, (rows, 4))
    signal = sp.csr_matrix((np.full(rows * 4, 0.8), (np.repeat(np.arange(rows), 4),
                            signal_cols.ravel())), shape=(rows, features))
    x = (noise + signal).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
    x = sp.diags(1.0 / norms) @ x
    return x.astype(np.float32).tocsr(), labels.astype(np.int64)


class TinyMLP(torch.nn.Module):
    """Linear -> ReLU -> Dropout -> Linear logits."""

    def __init__(self, features: int = NUM_FEATURES, outputs: int = NUM_CLASSES,
                 hidden: int = 16, dropout: float = 0.2):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ListBatches(BatchSet):
    """A batch set over fixed batches: batch i is the same in every epoch."""

    def __init__(self, batches: list):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def batch(self, epoch: int, index: int):
        return self.batches[index]


def batches_of(x, y, batch_size: int) -> list:
    """Consecutive (x, y) batches of the rows, the last one partial."""
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]


def endless(batches: list):
    """A generator that cycles through `batches` forever, like the guide's."""
    while True:
        yield from batches


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Models this small run faster on one intra-op thread, and ten times faster on a busy
    machine, where a second thread waits for a core at every op."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def data():
    return tfidf_like()


@pytest.fixture
def mlp():
    def make(seed: int = 0, **kwargs) -> TinyMLP:
        torch.manual_seed(seed)
        return TinyMLP(**kwargs)
    return make


@pytest.fixture
def helpers():
    """Module-level helpers, reachable from test files under --import-mode=importlib."""
    class Helpers:
        ListBatches = ListBatches
        batches_of = staticmethod(batches_of)
        endless = staticmethod(endless)
        tfidf_like = staticmethod(tfidf_like)
    return Helpers
