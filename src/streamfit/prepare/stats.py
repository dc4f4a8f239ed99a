"""Corpus statistics and the guide's model recommendation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Lengths above this are counted in the last bin of the histogram; the median
#: of real text corpora is far below it.
_MAX_TRACKED_LENGTH = 1 << 16


class LengthStats:
    """The exact median number of words per sample, from a bounded histogram."""

    def __init__(self):
        self.histogram = np.zeros(_MAX_TRACKED_LENGTH + 1, dtype=np.int64)
        self.max_length = 0

    def update(self, tokens: pa.ListArray) -> None:
        lengths = np.asarray(pc.list_value_length(tokens), dtype=np.int64)
        if len(lengths):
            self.max_length = max(self.max_length, int(lengths.max()))
            self.histogram += np.bincount(np.minimum(lengths, _MAX_TRACKED_LENGTH),
                                          minlength=_MAX_TRACKED_LENGTH + 1)

    @property
    def rows(self) -> int:
        return int(self.histogram.sum())

    def median(self) -> float:
        """The median words per sample (the mean of the two middle values when even)."""
        n = self.rows
        if n == 0:
            return 0.0
        cumulative = np.cumsum(self.histogram)
        low = int(np.searchsorted(cumulative, (n - 1) // 2 + 1))
        high = int(np.searchsorted(cumulative, n // 2 + 1))
        return (low + high) / 2


def samples_per_word_ratio(samples: int, median_words: float) -> float:
    """The guide's ratio: number of samples / median words per sample."""
    return samples / max(median_words, 1.0)
