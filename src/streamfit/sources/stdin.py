"""Standard input (`-`) as a source, each row handed on as soon as its line is complete.

`streamfit predict DIR -` sits in a pipeline or a subprocess: each answer
must be written as soon as its input line has arrived, not when a 1 MiB
chunk has filled up or the writer has closed the pipe. `iter_stdin_records`
reads standard input with the usual readers (the row accounting, the bad
rows and the line numbers are those of a file named `-`) through
`StdinStream`, whose `read` returns what has arrived:

| stage | on a file | on standard input |
| --- | --- | --- |
| a read (`streams.iter_blocks`) | `block_size` bytes | what has arrived, at once: one line, or up to `CHUNK_BYTES` when more is waiting |
| text, fasttext, jsonl | whole lines of a block | whole lines of what has arrived |
| csv, tsv | a block's complete rows | the complete rows that have arrived (`block_size` 1) |

So a slow writer's every line is parsed as it comes, and a fast one
(`cat big.csv |`) still gives chunks of up to `CHUNK_BYTES`. Parquet needs
seeking and compressed input a suffix to name its codec: both are refused
(one line with the fix). A stop (the consumer closed the iterator: a closed
output pipe, an error) ends a read that is waiting for input within
`POLL_SECONDS`, so the reading thread never holds the process up waiting for
a writer that writes nothing more.

One difference from a file: the JSON Lines reader's check that the text key
exists looks at the first chunk, which on standard input may be one line,
so a first object without the key is an error naming the key (a file's
first 1 MiB usually holds objects that have it, and that row is skipped).

Standard input is served to the readers under the path `-` only while
`iter_stdin_records` runs (`served`); a file named `-` is read as a file
elsewhere (`./-` on the command line).
"""

from __future__ import annotations

import os
import re
import select
import sys
import threading
from collections.abc import Iterator

import pyarrow as pa

from streamfit.errors import OptionError, UserError
from streamfit.sources.accounting import RowAccounting
from streamfit.sources.spec import FORMATS, SourceSpec

STDIN = "-"
#: The most bytes one read gathers when more input is already waiting.
CHUNK_BYTES = 1 << 20
#: How often a read waiting for input looks whether it was stopped.
POLL_SECONDS = 0.05

_served: StdinStream | None = None


class StdinStream:
    """A file descriptor read as it fills, for `streams.iter_blocks`.

    `read(size)` waits for input, then returns all that is waiting, up to
    `max(size, CHUNK_BYTES)` bytes (so at least one byte, b"" at the end of
    input or once stopped): unlike a file's read, it never waits for `size`
    bytes.

    Args:
        fd: the descriptor to read (0, standard input, by default). It is
            not closed: the stream does not own it.
    """

    def __init__(self, fd: int | None = None):
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._stopped = threading.Event()
        self._pushed_back = b""

    def read(self, size: int = -1) -> bytes:
        if self._pushed_back:
            data, self._pushed_back = self._pushed_back, b""
            return data
        limit = max(size, CHUNK_BYTES)
        if not self._wait(None):
            return b""
        data = os.read(self.fd, limit)
        while data and len(data) < limit and self._wait(0):
            more = os.read(self.fd, limit - len(data))
            if not more:
                break
            data += more
        return data

    def at_end(self) -> bool:
        """Wait for the first input: True when there is none (an empty input)."""
        self._pushed_back = self.read()
        return not self._pushed_back

    def _wait(self, timeout: float | None) -> bool:
        """Whether input (or its end) is there to read, within `timeout` (None: until stopped)."""
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], POLL_SECONDS if timeout is None
                                            else timeout)
            except (OSError, ValueError):  # no select() for this descriptor: plain reads
                return True
            if ready:
                return True
            if timeout is not None:
                return False
        return False

    def stop(self) -> None:
        """End a read that waits for input (it returns b""), now and from now on."""
        self._stopped.set()

    def __enter__(self) -> StdinStream:
        return self

    def __exit__(self, *exc) -> None:
        return None


def served() -> StdinStream | None:
    """The stream `iter_stdin_records` serves under the path `-` now, or None."""
    return _served


def iter_stdin_records(spec: SourceSpec, accounting: RowAccounting,
                       stream: StdinStream | None = None) -> Iterator[pa.RecordBatch]:
    """`iter_records` for standard input: the rows of `-`, each chunk as soon as it arrives.

    The file is `-` in `accounting.files` (and in messages); rows and lines
    are counted as for a file. An empty input (the writer closes at once)
    has no rows and is no error.

    Args:
        spec: how to read it; its paths are ignored (standard input is read
            alone). The format must be given (there is no extension to tell it).
        accounting: receives the counts, as with `iter_records`.
        stream: what to read, standard input by default (a test's pipe).

    Raises:
        OptionError: no format, or parquet.
        UserError: stdin is already being read, or compressed input.
    """
    from streamfit.sources.lines import check_id, check_label
    from streamfit.sources.streams import utf8_codec

    if spec.format is None:
        text_formats = ", ".join(name for name in FORMATS if name != "parquet")
        raise OptionError("format", None, f"is needed to read standard input (-), which has no "
                          f"file extension to tell it; give one of {text_formats}")
    if spec.format == "parquet":
        raise OptionError("format", "parquet", "cannot be read from standard input (-): a Parquet "
                          "file is read by seeking; save it to a file and pass its path")
    utf8_codec(spec.encoding)
    check_label(spec, spec.format, STDIN)
    check_id(spec, spec.format, STDIN)
    if spec.strict:
        accounting.strict = True
    if STDIN not in accounting.files:
        accounting.files.append(STDIN)
    return _iterate(spec, accounting, StdinStream() if stream is None else stream)


def _iterate(spec: SourceSpec, accounting: RowAccounting,
             stream: StdinStream) -> Iterator[pa.RecordBatch]:
    from dataclasses import replace

    from streamfit.sources import reader

    global _served
    if _served is not None:
        raise UserError("-: standard input is already being read; read it once")
    _served = stream
    try:
        if stream.at_end():
            return
        if _compressed(stream._pushed_back):
            raise UserError("-: standard input is compressed; decompress it into the pipe "
                            "(zcat, xz -dc, zstd -dc) or pass the file's path")
        # block_size 1: the CSV reader parses the complete rows of whatever has arrived.
        batches = reader._iterate(replace(spec, paths=(STDIN,), block_size=1), accounting,
                                  [(STDIN, spec.format)])
        try:
            for batch in batches:  # noqa: UP028 (yield from would close batches before the stop)
                yield batch
        finally:
            # Before closing the reading thread, which may wait for input that never comes.
            stream.stop()
            batches.close()
    finally:
        _served = None


#: How gzip, xz, zstd and bzip2 streams start (bzip2: "BZh", the block size, a block's magic).
_COMPRESSED = re.compile(rb"\A(?:\x1f\x8b|\xfd7zXZ\x00|\x28\xb5\x2f\xfd|BZh[1-9]1AY&SY)")


def _compressed(start: bytes) -> bool:
    """Whether the input starts like a gzip, xz, zstd or bzip2 stream."""
    return _COMPRESSED.match(start) is not None
