"""The prepared dataset on disk, and reading rows of it by id in bounded memory.

A prepared dataset is a directory:

    manifest.json      sources (paths, sizes, mtimes), options, row accounting, stats
    vocabulary.arrow   the word vocabulary (Arrow IPC: word, df)
    ngrams.npz         n-gram document frequencies per class (feature selection)
    train.arrow        token ids per row and class ids (Arrow IPC file:
    validation.arrow   `ids: list<int32>`, `label: int32`), when there is one

Split files are plain uncompressed Arrow IPC, readable by any Arrow tool.
`PreparedSplit` does not keep them memory-mapped: pages of a mapping that has
been touched count towards the resident set and would grow with the data over
an epoch. It records where each row's ids lie in the file (8 bytes per row)
and reads the rows of a batch with `os.preadv` into one buffer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from streamfit.errors import UserError

CACHE_FORMAT = 1
SPLIT_SCHEMA = pa.schema([("ids", pa.list_(pa.int32())), ("label", pa.int32())])


class SplitWriter:
    """Append batches of rows (CSR-like ids and class ids) to a split file."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0
        self._writer = ipc.new_file(str(path), SPLIT_SCHEMA)

    def write(self, offsets: np.ndarray, ids: np.ndarray, labels: np.ndarray) -> None:
        if len(labels) == 0:
            return
        lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(ids, pa.int32()))
        self._writer.write_batch(pa.record_batch([lists, pa.array(labels, pa.int32())], schema=SPLIT_SCHEMA))
        self.rows += len(labels)

    def close(self) -> None:
        self._writer.close()


class PreparedSplit:
    """Rows of one split file, taken by row id.

    Args:
        path: a split file written by `SplitWriter`.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._fd: int | None = None
        self._load_index()

    def _load_index(self) -> None:
        positions, lengths, labels = [], [], []
        with pa.memory_map(self.path) as source:
            base = source.read_buffer(1).address  # where byte 0 of the file is mapped
            source.seek(0)
            reader = ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                lists = batch.column(0)
                offsets = np.asarray(lists.offsets, dtype=np.int64)
                values = lists.values
                start = values.buffers()[1].address + values.offset * 4 - base
                positions.append(start + offsets[:-1] * 4)
                lengths.append(np.diff(offsets).astype(np.int32))
                labels.append(np.asarray(batch.column(1), dtype=np.int32))
        self.positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
        self.labels = np.concatenate(labels) if labels else np.zeros(0, np.int32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fd"] = None  # each process opens the file itself
        return state

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return `(offsets, ids, labels)` of `rows`, in that order.

        Rows that lie back to back in the file are read with one call.
        """
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows].astype(np.int64)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.empty(int(offsets[-1]), dtype=np.int32)
        starts = self.positions[rows]
        if len(rows):
            breaks = np.flatnonzero(starts[1:] != starts[:-1] + lengths[:-1] * 4) + 1
            run_first = np.concatenate(([0], breaks))
            run_end = np.concatenate((breaks, [len(rows)]))
            view = memoryview(ids).cast("B")
            for first, end in zip(run_first.tolist(), run_end.tolist(), strict=True):
                lo, hi = int(offsets[first]) * 4, int(offsets[end]) * 4
                if hi > lo:
                    os.preadv(self._fd, [view[lo:hi]], int(starts[first]))
        return offsets, ids, self.labels[rows]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


def read_manifest(directory: str | Path) -> dict | None:
    """The manifest of a prepared dataset, or None when there is none (or a stale one)."""
    path = Path(directory) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("format") == CACHE_FORMAT else None


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays saved with `np.savez`, loaded without pickle."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable array file ({e}); delete the cache directory to rebuild it") from None
