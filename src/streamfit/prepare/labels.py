"""The label map: label strings to class ids, in a stable order.

Labels arrive as the sources give them: stripped of surrounding whitespace
(" pos" is "pos"; `RowAccounting` notes "labels_stripped") and otherwise as
written, so labels that differ only by case ("pos", "Pos") are distinct
classes here; the accounting reports them (note "labels_differing_by_case",
with examples), which `streamfit inspect` and the training summary show.

In multi-label mode a row's labels arrive as a list (`pa.list_(pa.string())`)
and stay compact: `LabelMap.encode_lists` gives CSR-like `(offsets, ids)`
(a row's class ids, sorted and distinct), never a dense rows x labels matrix;
`LabelCounter` counts rows per label and `LabelSetCounter` distinct label sets.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamfit.prepare.splitmix import splitmix64


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Order labels numerically when all are integers ("2" < "10"), else as text."""
    labels = list(labels)
    try:
        return sorted(labels, key=int)
    except ValueError:
        return sorted(labels)


class LabelMap:
    """Class ids for label strings: `names[i]` is the label of class `i`."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self._array = pa.array(self.names, pa.string())

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, labels: pa.Array) -> np.ndarray:
        """Class ids of `labels` (int32); -1 where a label is not in the map."""
        ids = pc.index_in(labels, value_set=self._array)
        return np.asarray(ids.fill_null(-1), dtype=np.int32)

    def encode_lists(self, labels: pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
        """Class ids of each row's labels, given as a list column (multi-label mode).

        Labels not in the map (a validation or test label training never saw)
        are dropped from their row, which stays (possibly with no labels);
        their number is returned so the caller can note it. A label repeated
        within a row counts once.

        Args:
            labels: `list<string>` array (chunked or not), one list per row; a
                null list reads as an empty one.

        Returns:
            `(offsets, ids, unknown)`: int64 `[n_rows + 1]` offsets into `ids`,
            int32 class ids (each row's sorted ascending and distinct), and the
            number of labels dropped as unknown.
        """
        if isinstance(labels, pa.ChunkedArray):
            labels = labels.combine_chunks() if labels.num_chunks else pa.array([], labels.type)
        n_rows = len(labels)
        rows = np.asarray(pc.list_parent_indices(labels), dtype=np.int64)
        flat = pc.list_flatten(labels)
        ids = np.asarray(pc.index_in(flat, value_set=self._array).fill_null(-1), dtype=np.int64)
        known = ids >= 0
        unknown = int(len(ids) - known.sum())
        # One sort by (row, id) orders each row's ids and brings repeats together.
        width = max(len(self.names), 1)
        pairs = np.unique(rows[known] * width + ids[known])
        pair_rows, pair_ids = pairs // width, pairs % width
        offsets = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(pair_rows, minlength=n_rows), out=offsets[1:])
        return offsets, pair_ids.astype(np.int32), unknown


class LabelCounter:
    """Count rows per label string over streamed chunks.

    A list column (multi-label mode) counts each row once for every label it
    holds (the sources remove repeats within a row), so `counts` is rows per
    label and `labels` the number of labels counted.
    """

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.labels = 0

    def update(self, labels: pa.Array) -> None:
        if pa.types.is_list(labels.type) or pa.types.is_large_list(labels.type):
            labels = pc.list_flatten(labels)
        self.labels += len(labels) - labels.null_count
        for item in pc.value_counts(labels).to_pylist():  # one entry per distinct label
            self.counts[item["values"]] = self.counts.get(item["values"], 0) + item["counts"]

    def label_map(self) -> LabelMap:
        return LabelMap(sort_labels(self.counts))


#: Distinct label sets counted exactly up to this many; beyond it the count
#: stops growing (and says it is a lower bound), so memory stays bounded.
MAX_LABEL_SETS = 1 << 20


class LabelSetCounter:
    """Count the distinct label sets of multi-label rows, in bounded memory.

    Each row's set (its sorted, distinct class ids) is reduced to a 64-bit
    hash (the wrapping sum of SplitMix64 of each id, so the empty set is 0),
    and distinct hashes are kept, exactly up to `MAX_LABEL_SETS` of them
    (8 bytes each); a collision would need about 2**32 distinct sets.
    """

    def __init__(self, limit: int = MAX_LABEL_SETS):
        self.limit = limit
        self.exact = True
        self._hashes = np.zeros(0, dtype=np.uint64)

    def update(self, offsets: np.ndarray, ids: np.ndarray) -> None:
        """Count the sets of one chunk, given as `encode_lists`' `(offsets, ids)`."""
        if len(offsets) <= 1:
            return
        mixed = splitmix64(np.asarray(ids, dtype=np.uint64))
        running = np.zeros(len(mixed) + 1, dtype=np.uint64)
        np.cumsum(mixed, out=running[1:])  # wraps modulo 2**64, as the hash does
        offsets = np.asarray(offsets, dtype=np.int64)
        hashes = running[offsets[1:]] - running[offsets[:-1]]
        merged = np.union1d(self._hashes, hashes)
        if len(merged) > self.limit:
            self.exact = False
            merged = self._hashes if len(self._hashes) >= self.limit else merged[: self.limit]
        self._hashes = merged

    @property
    def count(self) -> int:
        """Distinct label sets seen (a lower bound when `exact` is False)."""
        return len(self._hashes)
