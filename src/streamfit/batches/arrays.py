"""Batches of in-memory arrays: numpy, `np.matrix`, scipy sparse, or dicts of them."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import UserError
from streamfit.sampling import EpochSampler


def _as_rows(value: Any, name: str) -> Any:
    """Return `value` in a form that can be indexed by row ids cheaply.

    Sparse matrices become CSR (row slicing is O(nnz of the rows) only in CSR);
    `np.matrix` becomes a plain ndarray view; anything else goes through
    `np.asarray` (no copy for arrays and memory maps).
    """
    if isinstance(value, dict):
        if not value:
            raise UserError(f"{name} is an empty dict; give at least one array")
        return {key: _as_rows(item, f"{name}[{key!r}]") for key, item in value.items()}
    if sp.issparse(value):
        if value.ndim != 2:
            raise UserError(f"{name} is a {value.ndim}-D sparse array; give a 2-D matrix")
        return value.tocsr()
    array = np.asarray(value)
    if array.ndim == 0:
        raise UserError(f"{name} is a scalar; give an array with one row per sample")
    return array


def _row_counts(value: Any, name: str) -> list[tuple[str, int]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _row_counts(item, f"{name}[{key!r}]")]
    return [(name, value.shape[0])]


def check_same_rows(owner: str, **named: Any) -> int:
    """Return the common number of rows of the given arrays (None ones skipped).

    Raises:
        UserError: two arrays differ in length; the message names both.
    """
    counts = [pair for name, value in named.items() if value is not None
              for pair in _row_counts(value, name)]
    first_name, first_rows = counts[0]
    for name, rows in counts[1:]:
        if rows != first_rows:
            raise UserError(
                f"{owner}: {name} has {rows} rows but {first_name} has {first_rows}; "
                "give every array one row per sample")
    return first_rows


def prepare_arrays(owner: str, x: Any, y: Any, sample_weight: Any = None) -> tuple[Any, Any, Any, int]:
    """Convert x, y and sample_weight for row indexing and check their lengths.

    Returns:
        `(x, y, sample_weight, num_rows)`.
    """
    if x is None:
        raise UserError(f"{owner}: x is None; give the input array")
    if sample_weight is not None and y is None:
        raise UserError(f"{owner}: sample_weight needs targets; give y as well")
    x = _as_rows(x, "x")
    y = None if y is None else _as_rows(y, "y")
    sample_weight = None if sample_weight is None else _as_rows(sample_weight, "sample_weight")
    num_rows = check_same_rows(owner, x=x, y=y, sample_weight=sample_weight)
    if num_rows == 0:
        raise UserError(f"{owner}: x has no rows")
    return x, y, sample_weight, num_rows


def take_rows(value: Any, rows: np.ndarray) -> Any:
    """Return the given rows of an array, CSR matrix or dict of them (sparse stays sparse)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: take_rows(item, rows) for key, item in value.items()}
    return value[rows]


def random_seed() -> int:
    """A fresh seed for `seed=None`: drawn once, then stored, so batches stay reproducible."""
    return secrets.randbits(32)


class ArrayBatches(BatchSet):
    """Batches of rows of in-memory arrays, reshuffled every epoch.

    Batch `i` of epoch `e` is a pure function of (seed, e, i): the rows
    `EpochSampler(...).indices(e, i)` of every array. Each epoch visits every
    row once in a new order (with `shuffle=True`); the last batch holds the
    remaining rows unless `drop_remainder=True`.

    Example:
        >>> batches = ArrayBatches(np.arange(10), np.arange(10) % 2, batch_size=4,
        ...                        shuffle=False)
        >>> len(batches), batches.batch(0, 2)
        (3, (array([8, 9]), array([0, 1])))

    Args:
        x: inputs: a numpy array, `np.matrix`, scipy sparse matrix (any format,
            converted to CSR once here; batches are CSR slices, never dense), or
            a dict of them keyed by input name (`{'input_1': x1, 'input_2': x2}`).
            `np.matrix` is viewed as a plain ndarray.
        y: targets, same kinds as `x`, or None for unlabelled data.
        batch_size: rows per batch.
        shuffle: a new order of rows every epoch; False keeps the arrays' order.
        seed: seed of the shuffle; None draws one now (kept in `.seed`), so the
            batch set is still deterministic once made.
        drop_remainder: skip the last partial batch.
        sample_weight: per-row weights (needs `y`), or a dict per output.

    Raises:
        UserError: arrays of different lengths (both named), no rows, weights
            without targets, or a bad `batch_size`.
    """

    def __init__(self, x: Any, y: Any = None, batch_size: int = 32, shuffle: bool = True,
                 seed: int | None = None, drop_remainder: bool = False,
                 sample_weight: Any = None):
        self.x, self.y, self.sample_weight, self.num_rows = prepare_arrays(
            "ArrayBatches", x, y, sample_weight)
        self.seed = random_seed() if seed is None else seed
        self.sampler = EpochSampler(self.num_rows, batch_size, seed=self.seed, shuffle=shuffle,
                                    drop_remainder=drop_remainder)

    def __len__(self) -> int:
        return len(self.sampler)

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    @property
    def num_samples(self) -> int:
        """Rows per epoch: all of them, or only full batches' with `drop_remainder`."""
        return self.sampler.num_samples

    def batch(self, epoch: int, step: int) -> Batch:
        """Return batch `step` of `epoch`.

        Returns:
            `(x, y)`, with `y` None when there are no targets, or
            `(x, y, sample_weight)` when weights were given.
        """
        rows = self.sampler.indices(epoch, step)
        x, y = take_rows(self.x, rows), take_rows(self.y, rows)
        if self.sample_weight is None:
            return x, y
        return x, y, take_rows(self.sample_weight, rows)
