"""A deterministic validation split that needs no pass over the data.

Row `i` of a source (counted over usable rows, in file order) goes to
validation when a SplitMix64 mix of (seed, i) falls below `fraction`. The choice
of each row is a pure function of (seed, i): the same rows every run, for any
chunking, without reading the data twice or holding it in memory.
"""

from __future__ import annotations

import numpy as np

from streamfit.prepare.splitmix import splitmix64


def validation_mask(start: int, count: int, fraction: float, seed: int) -> np.ndarray:
    """Which of rows `start .. start+count-1` belong to the validation split."""
    if fraction <= 0:
        return np.zeros(count, dtype=bool)
    rows = np.arange(start, start + count, dtype=np.uint64)
    mixed = splitmix64(rows ^ splitmix64(np.full(1, seed, dtype=np.uint64)))
    return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction
