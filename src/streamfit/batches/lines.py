"""Batches of lines of a text file, parsed by the user's `process_line`.

This is the Keras guide's `generate_arrays_from_file` done right:

    def generate_arrays_from_file(path):
        while 1:
            f = open(path)
            for line in f:
                x1, x2, y = process_line(line)
                yield ({'input_1': x1, 'input_2': x2}, {'output': y})
            f.close()

That generator cannot be shared by workers, never shuffles, and its batches
are single lines. `LineBatches` indexes where each line starts once, then
builds batch `i` of epoch `e` by seeking to the sampler's lines, so batches are
shuffled, addressable, and safe to compute in any worker.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from streamfit.batches.arrays import random_seed
from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import UserError
from streamfit.sampling import EpochSampler
from streamfit.sources.spec import COMPRESSIONS

_CHUNK = 16 << 20
_LINE_BLOCK = 8 << 10
_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate line endings
_COMPRESSED = (*COMPRESSIONS, ".zip")


def index_lines(path: Path, skip_header: bool = False) -> tuple[np.ndarray, int]:
    """Find the byte offset where each non-blank line of a file starts.

    The file is scanned in 16 MiB chunks with numpy, so memory is one chunk
    plus 8 bytes per line.

    Args:
        path: an uncompressed text file.
        skip_header: leave out the first line.

    Returns:
        `(offsets, blank)`: int64 start offsets of the lines to use, and how many
        blank lines (empty, or only `\\r`) were left out.
    """
    size = path.stat().st_size
    if size == 0:
        return np.zeros(0, np.int64), 0
    data = np.memmap(path, np.uint8, mode="r")
    newlines = [np.flatnonzero(data[pos:pos + _CHUNK] == ord("\n")) + pos
                for pos in range(0, size, _CHUNK)]
    ends = np.concatenate([*newlines, [size]]).astype(np.int64)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if starts[-1] == size:
        # The file ends with a newline: there is no line after it.
        starts, ends = starts[:-1], ends[:-1]
    if skip_header:
        starts, ends = starts[1:], ends[1:]
    lengths = ends - starts
    blank = lengths == 0
    maybe_cr = np.flatnonzero(lengths == 1)
    blank[maybe_cr] = data[starts[maybe_cr]] == ord("\r")
    del data
    return starts[~blank], int(blank.sum())


def line_number(path: Path, offset: int) -> int:
    """The 1-based line number of the line starting at byte `offset` (for error messages)."""
    if offset == 0:
        return 1
    data = np.memmap(path, np.uint8, mode="r")
    return 1 + sum(int(np.count_nonzero(data[pos:min(pos + _CHUNK, offset)] == ord("\n")))
                   for pos in range(0, offset, _CHUNK))


def _signature(field: Any) -> Any:
    """The shape of a field, key by key for dicts and item by item for tuples of inputs."""
    if isinstance(field, dict):
        return tuple((key, _signature(value)) for key, value in field.items())
    if isinstance(field, (tuple, list)):
        return ("tuple", *(_signature(value) for value in field))
    return np.shape(field)


def _stack(fields: list[Any]) -> Any:
    """Stack one field of every line (key by key for dicts, item by item for tuples)."""
    first = fields[0]
    if isinstance(first, dict):
        return {key: _stack([field[key] for field in fields]) for key in first}
    if isinstance(first, (tuple, list)):
        return tuple(_stack([field[i] for field in fields]) for i in range(len(first)))
    return np.stack(fields)


def _as_fields(sample: Any) -> tuple | None:
    """`(x,)`, `(x, y)` or `(x, y, sample_weight)` from `process_line`'s value; None if none."""
    if sample is None:
        return None
    if not isinstance(sample, (tuple, list)):
        return (sample,)  # x alone: unlabelled lines, for predict
    return tuple(sample) if len(sample) in (2, 3) else None


def _weight_problem(x: Any, y: Any, weight: Any) -> str | None:
    """Why `(x, y, weight)` of one line cannot be `(x, y, sample_weight)`, or None when it can.

    A weight is one number per line, or one per target value (a padding mask
    shaped like `y`). The tutorial's `x1, x2, y` fails the first test when `y`
    is an array, and the second when `y` is a class id: an integer "weight"
    after a "target" shaped like the input is a label after two inputs.
    """
    kind = np.asarray(weight).dtype.kind
    if kind not in "biuf":
        return f"its third value is {np.asarray(weight).dtype} data, not a number"
    if np.shape(weight) not in ((), np.shape(y)):
        return (f"its third value has shape {np.shape(weight)}, neither one weight per line nor "
                f"one per target value (shape {np.shape(y)})")
    if (kind in "biu" and np.shape(weight) == () and not isinstance(x, dict)
            and np.ndim(y) >= 1 and np.shape(y) == np.shape(x)):
        return (f"its second value has the first's shape {np.shape(x)}, as a second input would, "
                "and its third is an integer, as a class id would")
    return None


class LineBatches(BatchSet):
    """Batches of samples parsed from the lines of a text file, shuffled every epoch.

    The file is indexed once (8 bytes per line); batch `i` of epoch `e` reads
    the lines `EpochSampler(...).indices(e, i)`, calls `process_line` on each
    and stacks the results with `np.stack`, field by field and key by key.
    Blank lines are skipped and counted in `blank_lines`. Pickling sends the
    path and the offsets, and workers reopen the file; with the spawn start
    method (macOS, Windows) `process_line` must be a module-level function.

    Example:
        >>> def process_line(line):
        ...     text, label = line.rsplit(",", 1)
        ...     return {"text": text}, int(label)
        >>> batches = LineBatches("train.csv", process_line, batch_size=64,
        ...                       skip_header=True)  # doctest: +SKIP
        >>> x, y = batches.batch(epoch=0, step=0)  # doctest: +SKIP
        >>> x["text"].shape, y.shape  # doctest: +SKIP
        ((64,), (64,))

    Args:
        path: an uncompressed text file (it must be seekable).
        process_line: called with one line (decoded, without its line ending);
            returns one sample, in one of these shapes (each value a scalar or
            numpy array; every line the same structure and shapes):

            | returns | batch |
            | --- | --- |
            | `x` (not a tuple) | `(x,)`: unlabelled, for `predict` |
            | `(x, y)` | inputs and target |
            | `(x, y, w)` | `w` one number per line (or one per value of `y`) |
            | `((x1, x2), y)` | two inputs, passed to `forward` in order |
            | `({"a": x1, "b": x2}, y)` | inputs by `forward` argument name |

            The Keras guide's `process_line` returns `x1, x2, y`; return
            `(x1, x2), y` (or a dict of inputs) instead: a third value is
            always a sample weight.
        batch_size: lines per batch.
        shuffle: a new order of lines every epoch; False keeps file order.
        seed: seed of the shuffle; None draws one now (kept in `.seed`).
        drop_remainder: skip the last partial batch.
        skip_header: leave out the file's first line.
        encoding: text encoding of the file.

    Raises:
        UserError: the file is missing, compressed or has no lines; or, from
            `batch`, a line that `process_line` rejects, that does not decode,
            that returns none of the shapes above (such as `x1, x2, y`), or
            whose sample differs in structure from the others (named as
            `path:line`).
    """

    def __init__(self, path: str | os.PathLike, process_line: Callable[[str], tuple],
                 batch_size: int = 32, shuffle: bool = True, seed: int | None = None,
                 drop_remainder: bool = False, skip_header: bool = False,
                 encoding: str = "utf-8"):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: no such file; check the path")
        if self.path.suffix.lower() in _COMPRESSED:
            raise UserError(
                f"{self.path}: LineBatches seeks to lines and cannot read a compressed file; "
                "decompress it first")
        self.process_line = process_line
        self.encoding = encoding
        self.offsets, self.blank_lines = index_lines(self.path, skip_header)
        if len(self.offsets) == 0:
            raise UserError(f"{self.path}: the file has no lines to train on")
        self.seed = random_seed() if seed is None else seed
        self.sampler = EpochSampler(len(self.offsets), batch_size, seed=self.seed,
                                    shuffle=shuffle, drop_remainder=drop_remainder)
        self._fd: int | None = None
        self._fd_pid: int | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.sampler)

    @property
    def num_samples(self) -> int:
        """Lines per epoch: all non-blank ones, or only full batches' with `drop_remainder`."""
        return self.sampler.num_samples

    def _read(self, offsets: np.ndarray) -> list[bytes]:
        # A raw descriptor, not a buffered file: closing a buffered file that a
        # forked worker inherited would move the parent's file position.
        with self._lock:  # only opening is shared: pread has no file position to race on
            if self._fd_pid != os.getpid():
                if self._fd is not None:
                    os.close(self._fd)
                self._fd, self._fd_pid = os.open(self.path, os.O_RDONLY | _BINARY), os.getpid()
        return [self._read_line(self._fd, offset) for offset in offsets.tolist()]

    @staticmethod
    def _read_line(fd: int, offset: int) -> bytes:
        parts = []
        while block := os.pread(fd, _LINE_BLOCK, offset):
            end = block.find(b"\n")
            if end >= 0:
                parts.append(block[:end])
                break
            parts.append(block)
            offset += len(block)
        return b"".join(parts).removesuffix(b"\r")

    def _where(self, offset: int) -> str:
        return f"{self.path}:{line_number(self.path, offset)}"

    def batch(self, epoch: int, step: int) -> Batch:
        """Return batch `step` of `epoch`: the fields of its samples, stacked.

        Returns:
            `(x,)`, `(x, y)` or `(x, y, sample_weight)`, as `process_line`
            returns them, each with a leading batch dimension.
        """
        offsets = self.offsets[self.sampler.indices(epoch, step)]
        samples, signature = [], None
        for offset, raw in zip(offsets.tolist(), self._read(offsets), strict=True):
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError as error:
                raise UserError(f"{self._where(offset)}: not valid {self.encoding} ({error}); "
                                "pass the file's encoding=") from error
            try:
                sample = self.process_line(line)
            except Exception as error:
                message = " ".join(str(error).split())
                raise UserError(f"{self._where(offset)}: process_line failed with "
                                f"{type(error).__name__}: {message}; fix process_line or "
                                "the line") from error
            fields = _as_fields(sample)
            if fields is None:
                size = f" of {len(sample)} values" if isinstance(sample, (tuple, list)) else ""
                raise UserError(f"{self._where(offset)}: process_line returned "
                                f"{type(sample).__name__}{size}; return x, (x, y) or "
                                "(x, y, sample_weight), with several inputs as a tuple or dict: "
                                "((x1, x2), y)")
            shapes = tuple(map(_signature, fields))
            if signature is None:
                problem = _weight_problem(*fields) if len(fields) == 3 else None
                if problem:
                    raise UserError(
                        f"{self._where(offset)}: process_line returned 3 values, read as "
                        f"(x, y, sample_weight), but {problem}; for two inputs and a target "
                        "return (x1, x2), y or {'input_1': x1, 'input_2': x2}, y")
                signature, first = shapes, offset
            elif shapes != signature:
                raise UserError(
                    f"{self._where(offset)}: process_line returned shapes {shapes} "
                    f"but {signature} for {self._where(first)}; return the same structure "
                    "and shapes for every line")
            samples.append(fields)
        return tuple(_stack([sample[i] for sample in samples]) for i in range(len(samples[0])))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_fd=None, _fd_pid=None)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and self._fd_pid == os.getpid():
            os.close(self._fd)
