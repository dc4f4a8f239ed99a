"""The label map: label strings to class ids, in a stable order.

Labels arrive as the sources give them: stripped of surrounding whitespace
(" pos" is "pos"; `RowAccounting` notes "labels_stripped") and otherwise as
written, so labels that differ only by case ("pos", "Pos") are distinct
classes here; the accounting reports them (note "labels_differing_by_case",
with examples), which `streamfit inspect` and the training summary show.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


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


class LabelCounter:
    """Count rows per label string over streamed chunks."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def update(self, labels: pa.Array) -> None:
        for item in pc.value_counts(labels).to_pylist():  # one entry per distinct label
            self.counts[item["values"]] = self.counts.get(item["values"], 0) + item["counts"]

    def label_map(self) -> LabelMap:
        return LabelMap(sort_labels(self.counts))
