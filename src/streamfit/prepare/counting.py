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


class LabelDocFrequencyCounter:
    """Count how many documents contain each int64 key, overall and per label, for multi-label rows.

    A row holds any number of labels, so the counts are kept sparse: one
    `(key, column, count)` cell per label a key occurs with (column
    `num_labels` holds the key's document frequency over all rows), in
    arrays sorted by key then column. Memory is bounded by `max_cells`, not
    by the number of labels: when the table holds more, the keys of lowest
    document frequency are pruned until at most half remain
    (`pruned_max_df` keeps the largest pruned frequency, as
    `DocFrequencyCounter` does).

    Args:
        num_labels: number of labels (class ids `0..num_labels-1`).
        max_cells: the most cells kept (16 bytes each).
    """

    def __init__(self, num_labels: int, max_cells: int = 4_000_000):
        self.num_labels = num_labels
        self.max_cells = max_cells
        self.pruned_max_df = 0
        self._keys = np.zeros(0, dtype=np.int64)
        self._columns = np.zeros(0, dtype=np.int32)
        self._counts = np.zeros(0, dtype=np.int32)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_cells = 0

    def count_chunk(self, keys: np.ndarray, rows: np.ndarray, label_offsets: np.ndarray,
                    label_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cells of one chunk, without touching the running table (thread-safe).

        Args:
            keys: int64 key of each occurrence.
            rows: the chunk row of each occurrence.
            label_offsets: int64 `[n_rows + 1]` offsets into `label_ids`.
            label_ids: the class ids of each row, concatenated (distinct per row).

        Returns:
            `(keys, columns, counts)` of the chunk's cells, sorted by key then column.
        """
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) == 0:
            return keys, np.zeros(0, np.int32), np.zeros(0, np.int32)
        distinct_keys, index = np.unique(keys, return_inverse=True)
        size = len(distinct_keys)
        pairs = np.unique(np.asarray(rows, dtype=np.int64) * size + index)  # one per (row, key)
        pair_rows, pair_keys = pairs // size, pairs % size
        label_offsets = np.asarray(label_offsets, dtype=np.int64)
        starts = label_offsets[pair_rows]
        lengths = label_offsets[pair_rows + 1] - starts
        repeat = np.repeat(np.arange(len(pairs)), lengths)
        within = np.arange(len(repeat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        labels = np.asarray(label_ids, dtype=np.int64)[starts[repeat] + within]
        width = self.num_labels + 1
        cells = np.concatenate((pair_keys[repeat] * width + labels, pair_keys * width + self.num_labels))
        cells, counts = np.unique(cells, return_counts=True)
        return (distinct_keys[cells // width], (cells % width).astype(np.int32),
                counts.astype(np.int32))

    def add(self, keys: np.ndarray, columns: np.ndarray, counts: np.ndarray) -> None:
        """Add one chunk's `count_chunk` result to the running table."""
        if len(keys) == 0:
            return
        self._pending.append((keys, columns, counts))
        self._pending_cells += len(keys)
        if self._pending_cells > self.max_cells // 2:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self._keys, *(k for k, _, _ in self._pending)])
        columns = np.concatenate([self._columns, *(c for _, c, _ in self._pending)])
        counts = np.concatenate([self._counts, *(n for _, _, n in self._pending)])
        self._pending, self._pending_cells = [], 0
        width = self.num_labels + 1
        if len(keys) and keys.min() >= 0 and keys.max() < np.iinfo(np.int64).max // width:
            # One int64 code per cell; the table and each chunk are sorted runs,
            # which a stable sort (timsort) merges in a few passes.
            order = np.argsort(keys * width + columns, kind="stable")
        else:
            order = np.lexsort((columns, keys))
        keys, columns, counts = keys[order], columns[order], counts[order]
        first = np.flatnonzero(np.concatenate(([True], (keys[1:] != keys[:-1]) | (columns[1:] != columns[:-1]))))
        self._keys, self._columns = keys[first], columns[first]
        self._counts = np.add.reduceat(counts, first).astype(np.int32)
        if len(self._keys) > self.max_cells:
            self._prune()

    def _prune(self) -> None:
        total = self._columns == self.num_labels  # each key's last cell: its document frequency
        key_of_total, df = self._keys[total], self._counts[total]
        cells = np.diff(np.concatenate(([0], np.flatnonzero(total) + 1)))  # cells per key
        order = np.argsort(-df, kind="stable")
        kept = int(np.searchsorted(np.cumsum(cells[order]), self.max_cells // 2, side="right"))
        if kept < len(order):
            self.pruned_max_df = max(self.pruned_max_df, int(df[order[kept]]))
        keep = np.repeat(np.isin(np.arange(len(key_of_total)), order[:kept]), cells)
        self._keys, self._columns, self._counts = self._keys[keep], self._columns[keep], self._counts[keep]

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The table, as sorted unique keys with CSR-like per-label counts.

        Returns:
            `(keys, df, indptr, labels, label_df)`: int64 unique keys, int64
            document frequency of each, int64 `[len(keys) + 1]` offsets into
            `labels` (int32 class ids, ascending per key) and `label_df`
            (int64 documents of that label holding the key).
        """
        self._merge()
        total = self._columns == self.num_labels
        keys, df = self._keys[total], self._counts[total].astype(np.int64)
        indptr = np.zeros(len(keys) + 1, dtype=np.int64)
        indptr[1:] = np.flatnonzero(total) + 1 - np.arange(1, len(keys) + 1)
        return keys, df, indptr, self._columns[~total], self._counts[~total].astype(np.int64)
