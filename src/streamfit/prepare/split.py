"""A deterministic validation split that needs no pass over the data.

Row `i` of a source (counted over usable rows, in file order) goes to
validation when a 64-bit mix of (seed, i) falls below `fraction`. The choice
of each row is a pure function of (seed, i): the same rows every run, for any
chunking, without reading the data twice or holding it in memory.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def validation_mask(start: int, count: int, fraction: float, seed: int) -> np.ndarray:
    """Which of rows `start .. start+count-1` belong to the validation split."""
    if fraction <= 0:
        return np.zeros(count, dtype=bool)
    rows = np.arange(start, start + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = _splitmix64(rows ^ _splitmix64(np.full(1, seed, dtype=np.uint64)))
    return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction
