"""The prepared dataset on disk, its checksums, and reading rows of it by id in bounded memory.

A prepared dataset is a folder holding these files and nothing else:

    CACHEDIR.TAG       the marker: a cache directory tag (https://bford.info/cachedir/)
                       saying streamfit wrote the folder, and in which format
    manifest.json      sources (paths, sizes, mtimes), options, row accounting, stats,
                       and `contents`: the size and CRC-32 of each file below
    vocabulary.arrow   the word vocabulary (Arrow IPC: word, df)
    ngrams.npz         n-gram document frequencies per class (feature selection):
                       `keys`, `class_df` [keys x classes], `class_counts`;
                       multi-label: `keys`, `df`, `documents`, `class_counts`
                       and per-label counts as CSR (`label_df_indptr`,
                       `label_df_labels`, `label_df`), no dense keys x labels
    train.arrow        token ids per row and class ids (Arrow IPC file:
    validation.arrow   `ids: list<int32>`, `label: int32`), when there is one;
                       multi-label (the manifest's `"multi_label": true`):
                       `ids: list<int32>`, `labels: list<int32>`, each row's
                       class ids sorted and distinct (an empty list: no label)

Split files are plain uncompressed Arrow IPC, readable by any Arrow tool.
`PreparedSplit` never memory-maps them: pages of a mapping that has been
touched count towards the resident set and would grow with the data over an
epoch. It reads the file once, a record batch at a time, to record where
each row's ids lie (8 bytes per row), and reads the rows of a batch with
`os.preadv` into one buffer. Multi-label targets stay as compact as on disk:
the label lists' offsets and values (12 bytes per row plus 4 per label held),
never a dense rows x labels matrix; `take` hands out a batch's multi-hot rows
as a sparse CSR matrix.

**Vouched for, not trusted.** Each data file is checksummed as it is written
(`Checksums.open` hashes the bytes on their way to the file: no extra pass)
and checked when the dataset is opened (`verify_contents`: one sequential
read in 1 MiB pieces, zlib's CRC-32 at about 3 GB/s, a few percent of a
training run at most; see the pipeline's measurements). CRC-32 detects
damage (a flipped byte, a truncated or missing file), not an attacker: one
who can write the folder could rewrite the manifest too, which is why cache
folders must be private (`streamfit.prepare.folders.check_private`).

**Replaced only when proven ours.** `check_replaceable` lets streamfit
replace a folder only when it is absent, empty, or holds the marker and no
name but those above; anything else (a project folder, a model bundle, the
root of the default cache) is refused with a one-line error.
"""

from __future__ import annotations

import io
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from streamfit.errors import UserError

#: Format 2 added the marker and the checksums; a format 1 folder is still recognised as ours.
CACHE_FORMAT = 2
_ARROW_MAGIC = b"ARROW1\0\0"  # an Arrow IPC file's first 8 bytes, before its stream
MARKER = "CACHEDIR.TAG"
MARKER_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
               f"# A dataset prepared by streamfit, cache format {CACHE_FORMAT}. streamfit may replace\n"
               "# this folder; it holds nothing else. About cache tags: https://bford.info/cachedir/\n")
MANIFEST = "manifest.json"
#: The data files a prepared dataset may hold (the manifest's `contents` lists those it has).
DATA_FILES = ("vocabulary.arrow", "ngrams.npz", "train.arrow", "validation.arrow")
KNOWN_NAMES = frozenset({MARKER, MANIFEST, *DATA_FILES})
_READ_SIZE = 1 << 20
SPLIT_SCHEMA = pa.schema([("ids", pa.list_(pa.int32())), ("label", pa.int32())])
MULTI_LABEL_SPLIT_SCHEMA = pa.schema([("ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32()))])


class CacheDamaged(UserError):  # noqa: N818 (a kind of UserError, named by what happened)
    """A prepared dataset failed its checks; `problem` says how (`train.arrow is missing`)."""

    def __init__(self, directory: Path, problem: str, fix: str):
        super().__init__(f"{directory}: the prepared dataset is damaged ({problem}); {fix}")
        self.directory, self.problem = directory, problem


class _HashingFile:
    """A write-only, forward-only file that CRC-32s the bytes on their way to `path`.

    Unbuffered (the writers hand over whole buffers), so nothing is left to
    flush when a write fails. It cannot seek, so writers that would go back
    (zipfile) write sequentially; `read` exists only to say it cannot.
    """

    def __init__(self, path: Path, record):
        self.path = Path(path)
        self.crc, self.size = 0, 0
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 (closed by close())
        self._record = record

    @property
    def closed(self) -> bool:
        return self._file.closed

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, *_) -> bytes:
        raise io.UnsupportedOperation("read")

    def seek(self, *_) -> int:
        raise io.UnsupportedOperation("seek")

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += self._file.write(view[done:])
        self.crc = zlib.crc32(view, self.crc)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, error_type, *_) -> None:
        if error_type is None:
            self.close()
        else:  # a failed write: nothing to record
            self._file.close()

    def close(self) -> None:
        """Make the file durable, close it and record its size and checksum."""
        if self._file.closed:
            return
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        self._record(self.path.name, {"size": self.size, "crc32": f"{self.crc:08x}"})


class Checksums:
    """The size and CRC-32 of each file written through `open`, for the manifest's `contents`."""

    def __init__(self):
        self.contents: dict[str, dict] = {}

    def open(self, path: Path) -> _HashingFile:
        """A file to write `path` through; closing it records the file's size and checksum."""
        return _HashingFile(path, self.contents.__setitem__)


class SplitWriter:
    """Append batches of rows (CSR-like ids and class ids) to a split file.

    Args:
        path: the split file.
        checksums: where the file's size and checksum are recorded when closed
            (a dataset's `Checksums`; by default, a new one).
        multi_label: write each row's class ids as a list (`labels: list<int32>`,
            `MULTI_LABEL_SPLIT_SCHEMA`) instead of one class id per row.
    """

    def __init__(self, path: Path, checksums: Checksums | None = None, multi_label: bool = False):
        self.path = path
        self.rows = 0
        self.multi_label = multi_label
        self.schema = MULTI_LABEL_SPLIT_SCHEMA if multi_label else SPLIT_SCHEMA
        self.checksums = checksums or Checksums()
        self._file = self.checksums.open(path)
        self._writer = ipc.new_file(self._file, self.schema)

    def write(self, offsets: np.ndarray, ids: np.ndarray, labels) -> None:
        """Append rows.

        Args:
            offsets: int64 `[n_rows + 1]` row offsets into `ids`.
            ids: int32 word ids of the rows, concatenated.
            labels: int32 `[n_rows]` class ids; multi-label: a pair
                `(label_offsets int64 [n_rows + 1], label_ids int32)`.
        """
        rows = len(offsets) - 1
        if rows <= 0:
            return
        lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(ids, pa.int32()))
        if self.multi_label:
            label_offsets, label_ids = labels
            if len(label_offsets) != rows + 1:
                raise ValueError(f"{rows} rows of ids but {len(label_offsets) - 1} label lists")
            column = pa.ListArray.from_arrays(pa.array(np.asarray(label_offsets).astype(np.int32)),
                                              pa.array(label_ids, pa.int32()))
        else:
            column = pa.array(labels, pa.int32())
        self._writer.write_batch(pa.record_batch([lists, column], schema=self.schema))
        self.rows += rows

    def close(self) -> None:
        self._writer.close()
        self._file.close()


class PreparedSplit:
    """Rows of one split file, taken by row id.

    Args:
        path: a split file written by `SplitWriter`.
        num_classes: the number of classes (the label map's size): the width
            of multi-label targets, and the bound every class id is checked
            against; None reads it as one more than the largest id.

    Attributes:
        multi_label: whether the file holds a list of class ids per row.
        labels: int32 `[rows]` class ids (single-label; None in multi-label mode).
        label_offsets: int64 `[rows + 1]` offsets into `label_values`
            (multi-label; None otherwise).
        label_values: int32 class ids of every row, concatenated (multi-label).
        num_classes: as given, or found.

    Raises:
        ValueError: the file is no split file (another schema), or a class id
            is outside `[0, num_classes)`.
    """

    def __init__(self, path: str | Path, num_classes: int | None = None):
        self.path = str(path)
        self._fd: int | None = None
        self.labels: np.ndarray | None = None
        self.label_offsets: np.ndarray | None = None
        self.label_values: np.ndarray | None = None
        self._load_index()
        found = self.label_values if self.multi_label else self.labels
        largest = int(found.max()) if len(found) else -1
        smallest = int(found.min()) if len(found) else 0
        self.num_classes = largest + 1 if num_classes is None else int(num_classes)
        if smallest < 0 or largest >= self.num_classes:
            raise ValueError(f"{Path(self.path).name} holds class id "
                             f"{smallest if smallest < 0 else largest}, outside 0..{self.num_classes - 1}")

    def _load_index(self) -> None:
        # One sequential read, a record batch at a time, not a memory map: pyarrow
        # touches every page of a batch it decodes, and mapped pages count in the
        # resident set (3.4 GB at 3.6M rows once the file is in the page cache).
        positions, lengths, labels, label_lengths = [], [], [], []
        with pa.OSFile(self.path) as file:
            schema = ipc.open_file(file).schema  # checks the footer and the magic bytes
            if schema.equals(MULTI_LABEL_SPLIT_SCHEMA):
                self.multi_label = True
            elif schema.equals(SPLIT_SCHEMA):
                self.multi_label = False
            else:
                raise ValueError(f"{Path(self.path).name} has the columns {schema.names} of types "
                                 f"{[str(t) for t in schema.types]}, not those of a split file")
            file.seek(len(_ARROW_MAGIC))
            messages = ipc.MessageReader.open_stream(file)
            while True:
                try:
                    message = messages.read_next_message()
                except StopIteration:
                    break
                if message.type != "record batch":
                    continue
                body_start = file.tell() - message.body.size  # the body ends the message
                batch = ipc.read_record_batch(message, schema)
                lists = batch.column(0)
                offsets = np.asarray(lists.offsets, dtype=np.int64)
                values = lists.values
                start = body_start + values.buffers()[1].address - message.body.address + values.offset * 4
                positions.append(start + offsets[:-1] * 4)
                lengths.append(np.diff(offsets).astype(np.int32))
                if self.multi_label:
                    targets = batch.column(1)
                    bounds = np.asarray(targets.offsets, dtype=np.int64)
                    label_lengths.append(np.diff(bounds))
                    # A copy: frees the body.
                    labels.append(np.array(targets.values, dtype=np.int32)[bounds[0]:bounds[-1]])
                else:
                    labels.append(np.array(batch.column(1), dtype=np.int32))  # a copy: frees the body
        self.positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
        values = np.concatenate(labels) if labels else np.zeros(0, np.int32)
        if self.multi_label:
            self.label_values = values
            self.label_offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
            if label_lengths:
                np.cumsum(np.concatenate(label_lengths), out=self.label_offsets[1:])
        else:
            self.labels = values

    def __len__(self) -> int:
        return len(self.lengths)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fd"] = None  # each process opens the file itself
        return state

    def take(self, rows: np.ndarray):
        """Return `(offsets, ids, labels)` of `rows`, in that order.

        Rows that lie back to back in the file are read with one call.

        Returns:
            int64 `[len(rows) + 1]` offsets into `ids`; int32 word ids; and
            the targets: int32 `[len(rows)]` class ids, or in multi-label mode
            a float32 `scipy.sparse.csr_matrix` `[len(rows), num_classes]`
            of ones (sorted column indices; a row without labels is empty).
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
        if self.multi_label:
            return offsets, ids, self.label_matrix(rows)
        return offsets, ids, self.labels[rows]

    def label_matrix(self, rows: np.ndarray | None = None):
        """The multi-hot targets of `rows` (all rows for None) as a float32 CSR matrix.

        Holds one int32 index and one float32 per label held (nothing per
        absent label), `[len(rows), num_classes]`.

        Raises:
            ValueError: the split is single-label.
        """
        import scipy.sparse  # noqa: PLC0415 (only multi-label needs it; keeps the CLI's start light)

        if not self.multi_label:
            raise ValueError(f"{Path(self.path).name} is single-label: its targets are `labels`")
        if rows is None:
            indptr, indices = self.label_offsets, self.label_values
        else:
            indptr, indices = _gather_lists(self.label_offsets, self.label_values,
                                            np.asarray(rows, dtype=np.int64))
        return scipy.sparse.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(len(indptr) - 1, self.num_classes))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


def _gather_lists(offsets: np.ndarray, values: np.ndarray,
                  rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lists `rows` of the CSR-like `(offsets, values)`, as a new `(offsets, values)`."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    positions = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return new_offsets, values[positions]


def has_marker(directory: Path) -> bool:
    """Whether `directory` holds streamfit's marker (any cache format)."""
    try:
        text = (Path(directory) / MARKER).read_text()
    except (OSError, UnicodeDecodeError):
        return False
    head, _, _ = MARKER_TEXT.partition(" cache format")
    return text.startswith(head)


def read_manifest(directory: str | Path) -> tuple[dict | None, str | None]:
    """The manifest of a prepared dataset, and what is wrong with it.

    Returns:
        `(manifest, None)` for a current manifest; `(None, problem)` when there
        is none, it cannot be read, or it is of another cache format.
    """
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"{MANIFEST} is missing"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return None, f"{MANIFEST} is unreadable: {error}"
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        return None, f"{MANIFEST} is of cache format {found!r}, not {CACHE_FORMAT}"
    if not isinstance(manifest.get("contents"), dict):
        return None, f"{MANIFEST} lists no contents"
    return manifest, None


def verify_contents(directory: Path, manifest: dict) -> str | None:
    """Check each file the manifest lists against its size and CRC-32; None when all match.

    Reads each file once, in 1 MiB pieces (no memory map, so the resident set
    does not grow). The first problem is returned as a phrase naming the
    file (`train.arrow does not match its checksum`).
    """
    contents = manifest["contents"]
    for name in ("vocabulary.arrow", "ngrams.npz", "train.arrow"):
        if name not in contents:
            return f"{MANIFEST} does not list {name}"
    buffer = bytearray(_READ_SIZE)
    view = memoryview(buffer)
    for name, expected in contents.items():
        if name not in DATA_FILES or not isinstance(expected, dict):
            return f"{MANIFEST} lists {name!r}, which is no file of a prepared dataset"
        path = Path(directory) / name
        crc, size = 0, 0
        try:
            with open(path, "rb", buffering=0) as file:
                while n := file.readinto(buffer):
                    crc = zlib.crc32(view[:n], crc)
                    size += n
        except FileNotFoundError:
            return f"{name} is missing"
        except OSError as error:
            return f"{name} cannot be read: {error.strerror or error}"
        if size != expected.get("size"):
            return f"{name} has {size} bytes where {expected.get('size')} were written"
        if f"{crc:08x}" != expected.get("crc32"):
            return f"{name} does not match its checksum"
    return None


def _is_ours(directory: Path, names: set[str]) -> bool:
    """Whether `directory` (holding `names`) is a prepared dataset streamfit wrote."""
    if not names <= KNOWN_NAMES:
        return False
    if has_marker(directory):
        return True
    # Format 1 had no marker: its manifest says the format and holds the cache key.
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return (isinstance(manifest, dict) and manifest.get("format") == 1 and "key" in manifest
            and MARKER not in names)


def check_replaceable(directory: Path) -> None:
    """Refuse to replace `directory` unless it is absent, empty or a prepared dataset of ours.

    Raises:
        UserError: one line naming the folder, what it seems to be, and the fix.
    """
    directory = Path(directory)
    try:
        names = set(os.listdir(directory))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise UserError(f"{directory}: is a file, not a cache folder; give the path of a folder "
                        "for the prepared dataset") from None
    except OSError as error:
        raise UserError(f"{directory}: cannot read the cache folder ({error.strerror}); "
                        "give another") from None
    if not names or _is_ours(directory, names):
        return
    datasets = [name for name in sorted(names) if (directory / name).is_dir()
                and _is_ours(directory / name, set(_listdir(directory / name)))]
    if datasets:
        raise UserError(f"{directory}: holds prepared datasets ({', '.join(datasets[:3])}"
                        f"{', ...' if len(datasets) > 3 else ''}), so it is a cache root, not one "
                        f"dataset's folder; give the cache a folder of its own (e.g. {directory / 'mydata'}) "
                        "or leave it out for the default one")
    if "bundle.json" in names:
        raise UserError(f"{directory}: is a model bundle, not a prepared dataset; streamfit will not "
                        "replace it: give the cache another folder")
    shown = ", ".join(sorted(names - KNOWN_NAMES)[:3] or sorted(names)[:3])
    raise UserError(f"{directory}: holds files streamfit did not write ({shown}"
                    f"{', ...' if len(names) > 3 else ''}); streamfit replaces only a prepared "
                    "dataset of its own: give the cache an empty or new folder")


def _listdir(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def write_marker(directory: Path) -> None:
    """Write the marker that says streamfit wrote `directory`."""
    (Path(directory) / MARKER).write_text(MARKER_TEXT)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays saved with `np.savez`, loaded without pickle."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable array file ({e}); delete the cache directory to rebuild it") from None
