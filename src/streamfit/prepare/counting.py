"""Document frequencies per class, counted over streamed chunks in bounded memory.

Used for the word vocabulary (values are token strings, one class) and for the
n-gram statistics behind feature selection (values are int64 n-gram keys, one
column per class). Each chunk is counted columnar: values are dictionary
encoded, (row, value) pairs deduplicated by one sort, then counted with
`np.bincount`.

The running table is bounded: when it holds more than `max_entries` values,
the least frequent half is pruned (the largest pruned total is kept in
`pruned_max_df`, an upper bound on the error of any count), so memory never
grows with the number of rows. Integer keys live in a sorted numpy table that
chunks are merged into with `searchsorted` once they add up to the table's
size (about two copies of the table at the peak); strings are merged with an Arrow group-by every so often.
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
        self._values: pa.Array | np.ndarray | None = None
        self._counts = np.zeros((0, num_classes), dtype=np.int32)  # int32: a bounded table half the size
        self._pending: list[tuple[pa.Array, np.ndarray]] = []
        self._pending_rows = 0
        self._pending_keys: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_key_rows = 0

    def update(self, values: pa.Array, rows: np.ndarray, row_class: np.ndarray | None = None) -> None:
        """Count one chunk: `add(*count_chunk(...))`."""
        self.add(*self.count_chunk(values, rows, row_class))

    def count_chunk(self, values: pa.Array, rows: np.ndarray,
                    row_class: np.ndarray | None = None) -> tuple[pa.Array, np.ndarray]:
        """Document frequencies of one chunk, without touching the running table.

        Safe to call from several threads at once; `add` the results in order.

        Args:
            values: one value per occurrence (token string or int64 key).
            rows: the chunk row of each occurrence (int, any order).
            row_class: class id per chunk row; None when `num_classes == 1`.

        Returns:
            `(distinct values, int32 counts [len(values), num_classes])`.
        """
        if len(values) == 0:
            return values, np.zeros((0, self.num_classes), dtype=np.int32)
        encoded = pc.dictionary_encode(values)
        size = len(encoded.dictionary)
        pairs = rows.astype(np.int64) * size + np.asarray(encoded.indices, dtype=np.int64)
        pairs.sort()
        distinct = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        local = distinct % size
        if self.num_classes > 1:
            local = local * self.num_classes + row_class[distinct // size]
        counts = np.bincount(local, minlength=size * self.num_classes).astype(np.int32)
        return encoded.dictionary, counts.reshape(size, self.num_classes)

    def add(self, values: pa.Array, counts: np.ndarray) -> None:
        """Add one chunk's `count_chunk` result to the running table."""
        if len(values) == 0:
            return
        if pa.types.is_integer(values.type):
            self._pending_keys.append((np.asarray(values, dtype=np.int64), counts))
            self._pending_key_rows += len(values)
            # Merging copies the table, so chunks are merged together first; the
            # pending rows stay below half the bound (which scales with the classes),
            # so a table at its bound costs no more to merge into than a small one.
            if self._pending_key_rows > self.max_entries // 2:
                self._merge_keys()
        else:
            self._pending.append((values, counts))
            self._pending_rows += len(values)
            if self._pending_rows > max(1_000_000, len(self._counts)):
                self._merge_strings()

    def _merge_keys(self) -> None:
        if not self._pending_keys:
            return
        keys = np.concatenate([k for k, _ in self._pending_keys])
        counts = np.concatenate([c for _, c in self._pending_keys])
        self._pending_keys, self._pending_key_rows = [], 0
        order = np.argsort(keys)
        keys, counts = keys[order], counts[order]
        first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        keys, counts = keys[first], np.add.reduceat(counts, first, axis=0)
        table_keys = np.zeros(0, dtype=np.int64) if self._values is None else self._values
        where = np.searchsorted(table_keys, keys)
        found = where < len(table_keys)
        found[found] = table_keys[where[found]] == keys[found]
        self._counts[where[found]] += counts[found]
        new = ~found
        if new.any():
            self._values = np.insert(table_keys, where[new], keys[new])
            self._counts = np.insert(self._counts, where[new], counts[new], axis=0)
        else:
            self._values = table_keys
        if len(self._counts) > self.max_entries:
            self._prune()

    def _merge_strings(self) -> None:
        parts = self._pending
        self._pending, self._pending_rows = [], 0
        if self._values is not None:
            parts = [(self._values, self._counts), *parts]
        if not parts:
            return
        names = [f"c{i}" for i in range(self.num_classes)]
        tables = [pa.table([values] + [pa.array(counts[:, i]) for i in range(self.num_classes)],
                           names=["value", *names]) for values, counts in parts]
        table = pa.concat_tables(tables)
        if len(tables) > 1:
            table = table.group_by("value").aggregate([(c, "sum") for c in names])
        self._values = table["value"].combine_chunks()
        self._counts = np.stack([np.asarray(table[c if len(tables) == 1 else f"{c}_sum"], dtype=np.int32)
                                 for c in names], axis=1)
        if len(self._counts) > self.max_entries:
            self._prune()

    def _prune(self) -> None:
        total = self._counts.sum(axis=1)
        keep = self.max_entries // 2
        order = np.argsort(-total, kind="stable")
        self.pruned_max_df = max(self.pruned_max_df, int(total[order[keep]]))
        kept = np.sort(order[:keep])
        self._values = (self._values[kept] if isinstance(self._values, np.ndarray)
                        else self._values.take(pa.array(kept)))
        self._counts = self._counts[kept]

    def result(self) -> tuple[pa.Array, np.ndarray]:
        """Return `(values, df)`: the values and an int64 [n, num_classes] array."""
        if self._pending:
            self._merge_strings()
        self._merge_keys()
        if self._values is None:
            return pa.array([]), np.zeros((0, self.num_classes), dtype=np.int64)
        values = self._values
        return (pa.array(values) if isinstance(values, np.ndarray) else values), self._counts.astype(np.int64)
