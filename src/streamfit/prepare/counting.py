"""Document frequencies per class, counted over streamed chunks in bounded memory.

Used for the word vocabulary (values are token strings, one class) and for the
n-gram statistics behind feature selection (values are int64 n-gram keys, one
column per class). Each chunk is counted columnar: values are dictionary
encoded, (row, value) pairs deduplicated by one sort, then counted with
`np.bincount`. Chunk tables are merged into the running table with an Arrow
group-by. When the running table holds more than `max_entries` values, the
least frequent are pruned (the largest pruned total is kept in
`pruned_max_df`, an upper bound on the error of any count), so memory never
grows with the number of rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class DocFrequencyCounter:
    """Count, per class, how many documents contain each value.

    Args:
        num_classes: number of classes (1 to count documents regardless of class).
        max_entries: the most distinct values kept; beyond it the least frequent
            are pruned.
    """

    def __init__(self, num_classes: int = 1, max_entries: int = 2_000_000):
        self.num_classes = num_classes
        self.max_entries = max_entries
        self.pruned_max_df = 0
        self._columns = [f"c{i}" for i in range(num_classes)]
        self._table: pa.Table | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def update(self, values: pa.Array, rows: np.ndarray, row_class: np.ndarray | None = None) -> None:
        """Count one chunk.

        Args:
            values: one value per occurrence (token string or int64 key).
            rows: the chunk row of each occurrence (int, any order).
            row_class: class id per chunk row; None when `num_classes == 1`.
        """
        if len(values) == 0:
            return
        encoded = pc.dictionary_encode(values)
        size = len(encoded.dictionary)
        pairs = rows.astype(np.int64) * size + np.asarray(encoded.indices, dtype=np.int64)
        pairs.sort()
        distinct = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        local = distinct % size
        if self.num_classes > 1:
            local = local * self.num_classes + row_class[distinct // size]
        counts = np.bincount(local, minlength=size * self.num_classes)
        counts = counts.reshape(size, self.num_classes)
        chunk = pa.table([encoded.dictionary] + [pa.array(counts[:, i]) for i in range(self.num_classes)],
                         names=["value", *self._columns])
        self._pending.append(chunk)
        self._pending_rows += chunk.num_rows
        if self._pending_rows > max(1_000_000, len(self._table or ())):
            self._merge()

    def _merge(self) -> None:
        parts = ([self._table] if self._table is not None else []) + self._pending
        self._pending, self._pending_rows = [], 0
        if not parts:
            return
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1:
            grouped = table.group_by("value").aggregate([(c, "sum") for c in self._columns])
            table = pa.table([grouped["value"]] + [grouped[f"{c}_sum"] for c in self._columns],
                             names=["value", *self._columns])
        if table.num_rows > self.max_entries:
            total = self._total(table)
            order = np.argsort(-total, kind="stable")
            self.pruned_max_df = max(self.pruned_max_df, int(total[order[self.max_entries // 2]]))
            table = table.take(pa.array(np.sort(order[: self.max_entries // 2])))
        self._table = table

    def _total(self, table: pa.Table) -> np.ndarray:
        return np.sum([np.asarray(table[c], dtype=np.int64) for c in self._columns], axis=0)

    def result(self) -> tuple[pa.Array, np.ndarray]:
        """Return `(values, df)`: the values and an int64 [n, num_classes] array."""
        self._merge()
        if self._table is None:
            return pa.array([]), np.zeros((0, self.num_classes), dtype=np.int64)
        values = self._table["value"].combine_chunks()
        df = np.stack([np.asarray(self._table[c], dtype=np.int64) for c in self._columns], axis=1)
        return values, df
