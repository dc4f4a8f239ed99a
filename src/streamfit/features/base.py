"""What every feature extractor shares: config and state for saving without pickle.

An extractor is a plain object (as scikit-learn's vectorizers): constructor
parameters, `fit(...)` storing fitted state in attributes ending in `_`, and
`transform(offsets, ids)` over a batch of rows given as CSR-like word ids.
`get_config()` returns the constructor parameters as JSON-ready values and
`state_dict()` the fitted state as numpy arrays, so a model bundle can store
both as JSON and tensors and rebuild the extractor with `from_config` and
`load_state_dict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamfit.errors import OptionError, UserError


class FeatureExtractor:
    """Base class: config and state plumbing shared by the extractors.

    Subclasses list their constructor parameters in `_config_keys` and their
    fitted attributes (without the trailing `_`) in `_state_keys`.
    """

    _config_keys: tuple[str, ...] = ()
    _state_keys: tuple[str, ...] = ()

    def get_config(self) -> dict[str, Any]:
        """Constructor parameters as JSON-ready values (tuples become lists)."""
        return {key: _json_ready(getattr(self, key)) for key in self._config_keys}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """Build an unfitted extractor from `get_config()` output.

        Raises:
            OptionError: a key that is none of the extractor's parameters.
        """
        unknown = [key for key in config if key not in cls._config_keys]
        if unknown:
            raise OptionError(unknown[0], config[unknown[0]], f"is no parameter of the "
                              f"{getattr(cls, 'name', cls.__name__)} extractor; use "
                              f"{', '.join(cls._config_keys)}")
        return cls(**config)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Fitted state as numpy arrays (scalars as 0-d arrays).

        Raises:
            UserError: the extractor is not fitted.
        """
        self._check_fitted()
        return {key: np.asarray(getattr(self, key + "_")) for key in self._state_keys}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore fitted state saved by `state_dict()`.

        Raises:
            UserError: a state entry is missing.
        """
        missing = [key for key in self._state_keys if key not in state]
        if missing:
            raise UserError(f"{type(self).__name__} state lacks {', '.join(missing)}; "
                            "the bundle is incomplete or from another extractor, re-save it")
        for key in self._state_keys:
            value = np.asarray(state[key])
            setattr(self, key + "_", value.item() if value.ndim == 0 else value)

    def _check_fitted(self) -> None:
        if any(not hasattr(self, key + "_") for key in self._state_keys):
            raise UserError(f"{type(self).__name__} is not fitted; call fit() or "
                            "load_state_dict() first")

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._config_keys)
        return f"{type(self).__name__}({args})"


def _json_ready(value):
    if isinstance(value, tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def count_cells(rows: np.ndarray, columns: np.ndarray, n_rows: int,
                num_columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count repeated (row, column) pairs into the parts of a CSR matrix.

    Args:
        rows: int64 row of each occurrence.
        columns: int64 column of each occurrence, in `[0, num_columns)`.
        n_rows: rows of the matrix (rows without occurrences stay empty).
        num_columns: columns of the matrix.

    Returns:
        `(row, column, count, indptr)`: one entry per distinct pair, sorted by
        row then column, and the CSR row pointer (int64, `n_rows + 1`).
    """
    cell, count = np.unique(rows * num_columns + columns, return_counts=True)
    row = cell // num_columns
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
    return row, cell - row * num_columns, count, indptr
