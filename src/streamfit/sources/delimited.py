"""CSV and TSV: a pyarrow fast path, and an exact Python path for bad chunks.

CSV follows RFC 4180 as pyarrow reads it: a field may be quoted with `"`, a
quoted field may hold delimiters and line breaks, `""` is a quote inside it,
and a quote inside an unquoted field is an ordinary character. TSV has no
quoting at all: `"` is ordinary everywhere, fields cannot hold tabs or line
breaks (the layout of SST-2 and most TSV exports). Lines end with "\\n",
"\\r\\n" or a bare "\\r", as in Python's csv module (`streams` turns a bare
"\\r" into "\\n" before parsing, also inside quoted fields). Every column is read as bytes, then as UTF-8 text: nothing is ever
inferred, so a label "01" stays "01".

How line numbers stay exact
---------------------------
The reader cuts the decompressed stream into chunks itself, so it always has
the raw bytes of the chunk pyarrow parses.

1. Cut. A chunk ends after the last newline that has an even number of quotes
   before it (counted from the chunk start, which is a row start): in valid
   CSV that newline ends a row.
2. Check the quoting (vectorised over the quote positions). Counting parity is
   only right when every quote that opens a field stands at the start of the
   field and every quote that closes one is followed by a delimiter, a line
   break or the escaping quote. A stray quote (`5" screen`), text after a
   closing quote (`"abc"def`), or an unclosed quote at the end of the file
   make the chunk irregular.
3. Parse a regular chunk with `pyarrow.csv.read_csv` (the fast, columnar
   path). Each row spans 1 + (line breaks inside its fields) lines, counted
   with numpy over the column buffers; the cumulative sum gives every row's
   line. The result is trusted only when pyarrow rejected no row and those
   spans add up to the chunk's own line count, which also catches the blank
   lines pyarrow skips silently.
4. Otherwise parse the chunk with `parse_records`, a small Python parser that
   splits plain lines with `bytes.split` and walks quoted fields with
   `bytes.find`, tracking lines as it goes. It recovers from a broken row by
   resuming at the row's second line, so an unclosed quote costs one row, not
   the rest of the file. Only chunks with a problem pay for it.

Limits: a file has at most `MAX_COLUMNS` columns and a header line at most
`MAX_HEADER_BYTES` bytes. Both are checked with byte searches on the first
line as it arrives (delimiters outside quotes, counted with numpy), before it
is split into fields, so a million-column header fails at once, in memory
bounded by a block. A data row with a wrong number of delimiters is not split
into fields either.

Bad rows: "wrong_field_count" (more or fewer fields than the header or, with
no header, than the first row) and "broken_quoting" (a quote closed mid-field,
or never closed within `MAX_RECORD_BYTES` or before the end of the file).
Blank lines are not rows; they are counted in notes["blank_lines"].

The id column (`SourceSpec.id`) is read like the label, as written (an empty
field is an empty id); a bad row is not split into fields, so it has no id.

Multi-label (`SourceSpec.multi_label`): the label cell is split on
`SourceSpec.label_sep` (without one the cell is one label), each piece
stripped and empty ones dropped, so an empty (or blank) cell is a row with no
labels, kept, never "missing_label": CSV has no null cell, and a row without
the label column at all is a "wrong_field_count" row already.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from streamfit.errors import UserError
from streamfit.sources.columns import select_columns
from streamfit.sources.presets import ZhangUnescape
from streamfit.sources.rows import Rows, finish_rows
from streamfit.sources.spec import SourceSpec
from streamfit.sources.streams import iter_blocks

LF, CR, QUOTE = ord("\n"), ord("\r"), ord('"')
# A quoted field still open after this many bytes is taken as broken quoting
# (or the reader would buffer the rest of the file).
MAX_RECORD_BYTES = 64 << 20
# Bounds on a file's layout, checked before the first line is split into
# fields: a wider file is refused with a one-line error.
MAX_COLUMNS = 10_000
MAX_HEADER_BYTES = 4 << 20

# A parsed record: (0-based line offset in the parsed buffer, fields or None
# when broken).
Record = tuple[int, "list[bytes] | None"]


def parse_records(buf: bytes, delimiter: bytes, quote: bytes | None, at_eof: bool,
                  max_record: int = MAX_RECORD_BYTES, limit: int | None = None,
                  expected: int | None = None) -> tuple[list[Record], int, int]:
    """Parse CSV/TSV records from `buf`, which starts at a row start.

    Args:
        buf: UTF-8 bytes.
        delimiter: one byte, b"," or b"\\t".
        quote: b'"' for CSV, None for TSV (no quoting).
        at_eof: `buf` ends the file, so its last line is complete even without
            a newline, and a quote still open at the end is broken.
        max_record: a quoted field open for this many bytes is broken even
            before the end of the file.
        limit: stop after this many records (blank lines do not count).
        expected: the number of fields a row must have; an unquoted line with
            another number of delimiters is not split (its fields are []).

    Returns:
        (records, blank lines skipped, bytes consumed). Parsing stops before
        an incomplete last record unless `at_eof`; the caller keeps the
        unconsumed bytes for the next call. A broken record covers only its
        first line: parsing resumes on the next one.
    """
    records: list[Record] = []
    blank = 0
    pos = line = 0
    size = len(buf)
    while pos < size and (limit is None or len(records) < limit):
        eol = buf.find(b"\n", pos)
        if eol == -1 and not at_eof:
            break
        end = size if eol == -1 else eol
        if quote is None or buf.find(quote, pos, end) == -1:
            body = buf[pos:end]
            if body.endswith(b"\r"):
                body = body[:-1]
            if body and expected is not None and body.count(delimiter) + 1 != expected:
                records.append((line, []))
            elif body:
                records.append((line, body.split(delimiter)))
            else:
                blank += 1
            pos, line = end + 1, line + 1
            continue
        fields, stop = _parse_quoted(buf, pos, delimiter[0], quote)
        if fields is None and stop == size and not at_eof and size - pos < max_record:
            break  # the quoted field may close in the next block
        if fields is not None and stop >= size and not at_eof:
            break  # the record may go on in the next block (`"a"` then `,b`)
        if fields is None:
            records.append((line, None))
            pos, line = end + 1, line + 1
            continue
        records.append((line, fields))
        line += buf.count(b"\n", pos, stop) + 1
        pos = stop + 1
    return records, blank, min(pos, size)


def _parse_quoted(buf: bytes, pos: int, delimiter: int,
                  quote: bytes) -> tuple[list[bytes] | None, int]:
    """Parse one record with quotes; return (fields or None if broken, end index).

    The end index is that of the newline that ends the record (or len(buf));
    for a quote left open it is len(buf).
    """
    size = len(buf)
    fields: list[bytes] = []
    i = pos
    while True:
        if buf.startswith(quote, i):
            start, parts = i + 1, []
            while True:
                close = buf.find(quote, start)
                if close == -1:
                    return None, size
                if buf.startswith(quote, close + 1):
                    parts.append(buf[start:close + 1])
                    start = close + 2
                    continue
                parts.append(buf[start:close])
                i = close + 1
                break
            fields.append(b"".join(parts))
            if i >= size:
                return fields, size
            char = buf[i]
            if char == delimiter:
                i += 1
            elif char == LF:
                return fields, i
            elif char == CR and (i + 1 == size or buf[i + 1] == LF):
                return fields, min(i + 1, size)
            else:
                return None, i
        else:
            stop = buf.find(b"\n", i)
            stop = size if stop == -1 else stop
            comma = buf.find(bytes((delimiter,)), i, stop)
            if comma != -1:
                fields.append(buf[i:comma])
                i = comma + 1
                continue
            field = buf[i:stop]
            fields.append(field[:-1] if field.endswith(b"\r") else field)
            return fields, stop


def last_row_end(buf: bytes, quotes: np.ndarray | None) -> int:
    """Return the offset just after the last newline with an even quote count before it.

    `quotes` holds the sorted offsets of the quote characters (None: no
    quoting). Returns 0 when there is no such newline.
    """
    pos = buf.rfind(b"\n")
    if quotes is None:
        return pos + 1
    while pos != -1:
        before = int(np.searchsorted(quotes, pos))
        if before % 2 == 0:
            return pos + 1
        # Every newline between the previous quote and `pos` has the same odd
        # count; jump over them.
        pos = buf.rfind(b"\n", 0, int(quotes[before - 1]))
    return 0


def quoting_is_regular(data: np.ndarray, quotes: np.ndarray, end: int, delimiter: int) -> bool:
    """True when the quotes in data[:end] open and close fields where CSV allows.

    Then quote parity tells exactly where fields and rows end (see the module
    docstring); otherwise the chunk needs the exact Python parser.
    """
    quotes = quotes[: np.searchsorted(quotes, end)]
    if len(quotes) % 2:
        return False
    opening, closing = quotes[0::2], quotes[1::2]
    before = data[opening[opening > 0] - 1]
    if not np.all((before == delimiter) | (before == LF) | (before == QUOTE)):
        return False
    after_index = closing + 1
    after = data[after_index[after_index < end]]
    return bool(np.all((after == delimiter) | (after == LF) | (after == CR) | (after == QUOTE)))


def newlines_per_row(column: pa.ChunkedArray) -> np.ndarray:
    """Count the "\\n" bytes in each value of a binary column (numpy over its buffers)."""
    counts = []
    for chunk in column.chunks:
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
            chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2] or b"", dtype=np.uint8)
        found = np.flatnonzero(data[offsets[0]:offsets[-1]] == LF) + offsets[0]
        counts.append(np.diff(np.searchsorted(found, offsets)))
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


class _DelimitedFile:
    """The state of reading one CSV/TSV file: columns, position, line count."""

    def __init__(self, path: str, source: int, spec: SourceSpec, fmt: str):
        self.path, self.source, self.spec = path, source, spec
        self.delimiter = b"," if fmt == "csv" else b"\t"
        self.quote = b'"' if fmt == "csv" else None
        self.max_record = max(MAX_RECORD_BYTES, 4 * spec.block_size)
        self.lines_before = 0  # physical lines before the pending bytes
        self.rows_seen = 0
        self.transform = ZhangUnescape() if spec.preset == "zhang" else None

    def read(self) -> Iterator[Rows]:
        blocks = iter_blocks(self.path, self.spec.encoding, self.spec.block_size)
        pending, at_eof = self._read_layout(blocks)
        while pending or not at_eof:
            used = 0
            if at_eof or len(pending) >= self.spec.block_size:
                used, newlines, parsed = self._step(pending, at_eof)
            if used == 0:
                # Not a block yet, or a row longer than the pending bytes: read on.
                block = next(blocks, None)
                at_eof = block is None
                pending += block or b""
                continue
            self.lines_before += newlines
            pending = pending[used:]
            if parsed is not None:
                yield parsed
        if self.rows_seen == 0:
            raise UserError(f"{self.path}: the file has no rows"
                            + (" below its header" if self.spec.header else "")
                            + "; remove it from the inputs or add data")

    def _read_layout(self, blocks: Iterator[bytes]) -> tuple[bytes, bool]:
        """Read the first record (header or first row) and resolve the columns."""
        pending, at_eof = b"", False
        while True:
            if pending.strip(b"\r\n"):
                self._check_width(pending.lstrip(b"\r\n"), at_eof)
            records, _, used = parse_records(pending, self.delimiter, self.quote, at_eof,
                                             self.max_record, limit=1)
            if records or at_eof:
                break
            block = next(blocks, None)
            if block is None:
                at_eof = True
            else:
                pending += block
        if not records:
            raise UserError(f"{self.path}: the file has no rows; remove it from the inputs "
                            "or add data")
        line, fields = records[0]
        if fields is None:
            raise UserError(f"{self.path}:{self.lines_before + line + 1}: the first row has "
                            "broken quoting, so the columns are unknown; fix the quotes")
        names = [field.decode("utf-8", "replace") for field in fields] if self.spec.header else None
        self.count = len(fields)
        self.text_columns, self.label_column, self.id_column = select_columns(
            self.spec, self.path, names, self.count)
        if self.spec.header:
            self.lines_before += pending.count(b"\n", 0, used)
            pending = pending[used:]
        column_names = [f"f{i}" for i in range(self.count)]
        self.convert_options = pacsv.ConvertOptions(
            column_types={name: pa.binary() for name in column_names},
            strings_can_be_null=False, quoted_strings_can_be_null=False)
        self.column_names = column_names
        self.parse_options = pacsv.ParseOptions(
            delimiter=self.delimiter.decode(), quote_char='"' if self.quote else False,
            double_quote=True, escape_char=False, newlines_in_values=self.quote is not None,
            ignore_empty_lines=True)
        return pending, at_eof

    def _check_width(self, pending: bytes, at_eof: bool) -> None:
        """Refuse a first line with too many columns, or a header line too long.

        Counts the delimiters outside quotes up to the first line end outside
        quotes (numpy over byte positions; nothing is split). An incomplete
        line already over the limit fails at once, with "at least".
        """
        if pending.count(self.delimiter) < MAX_COLUMNS and not (
                self.spec.header and len(pending) > MAX_HEADER_BYTES):
            return  # the common case, one C-speed count
        data = np.frombuffer(pending, dtype=np.uint8)
        delimiters = np.flatnonzero(data == self.delimiter[0])
        ends = np.flatnonzero(data == LF)
        if self.quote is not None:
            quotes = np.flatnonzero(data == QUOTE)
            delimiters = delimiters[np.searchsorted(quotes, delimiters) % 2 == 0]
            ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
        complete = len(ends) > 0
        end = int(ends[0]) if complete else len(pending)
        complete = complete or at_eof
        found = int(np.searchsorted(delimiters, end)) + 1
        what = "header" if self.spec.header else "first row"
        if found > MAX_COLUMNS:
            count = f"{found}" if complete else f"at least {found}"
            raise UserError(f"{self.path}: the {what} has {count} columns, more than the limit "
                            f"of {MAX_COLUMNS} columns; check the delimiter and the format, or "
                            "keep only the columns needed")
        if self.spec.header and end > MAX_HEADER_BYTES:
            raise UserError(f"{self.path}: the header line is longer than {MAX_HEADER_BYTES} "
                            "bytes (the limit); check that the file has a header (or read it "
                            "without one), the delimiter and the quoting")

    def _step(self, pending: bytes, at_eof: bool) -> tuple[int, int, Rows | None]:
        """Parse the complete rows at the start of `pending`.

        Returns:
            (bytes used, line breaks in them, parsed rows or None).
        """
        data = np.frombuffer(pending, dtype=np.uint8)
        quotes = np.flatnonzero(data == QUOTE) if self.quote else None
        end = len(pending) if at_eof else last_row_end(pending, quotes)
        if end == 0 and len(pending) < self.max_record:
            return 0, 0, None
        if end and (quotes is None or quoting_is_regular(data, quotes, end, self.delimiter[0])):
            newlines = int(np.count_nonzero(data[:end] == LF))
            parsed = self._fast(pending, end, newlines)
            if parsed is not False:
                return end, newlines, parsed
        return self._exact(pending, at_eof)

    def _fast(self, pending: bytes, end: int, newlines: int) -> Rows | bool:
        """Parse pending[:end] with pyarrow; False when the result cannot be trusted."""
        chunk = pa.py_buffer(memoryview(pending)[:end])
        # One block, one thread: the prefetch thread already overlaps parsing
        # with the consumer, and pyarrow's threaded read_csv, called chunk after
        # chunk, sometimes aborted the interpreter at exit.
        options = pacsv.ReadOptions(column_names=self.column_names, use_threads=False,
                                    block_size=end + 1)
        try:
            table = pacsv.read_csv(pa.BufferReader(chunk), read_options=options,
                                   parse_options=self.parse_options,
                                   convert_options=self.convert_options)
        except pa.ArrowInvalid:
            # A row of the wrong width (no invalid-row handler: pyarrow fails
            # to build its Python object for a row of invalid UTF-8, and the
            # exact path would parse the chunk anyway).
            return False
        spans = 1 + sum(newlines_per_row(column) for column in table.columns)
        if int(spans.sum()) != newlines + (pending[end - 1] != LF):
            return False
        starts = self.lines_before + 1 + np.concatenate([[0], np.cumsum(spans)[:-1]])
        self.rows_seen += table.num_rows
        return self._finish(table.columns, starts, [])

    def _exact(self, pending: bytes, at_eof: bool) -> tuple[int, int, Rows]:
        records, blank, used = parse_records(pending, self.delimiter, self.quote, at_eof,
                                             self.max_record, expected=self.count)
        good_lines, wrong, broken, good = [], [], [], []
        for line, fields in records:
            if fields is None:
                broken.append(line)
            elif len(fields) != self.count:
                wrong.append(line)
            else:
                good_lines.append(line)
                good.append(fields)
        base = self.lines_before + 1
        columns = {i: pa.array([fields[i] for fields in good], pa.binary())
                   for i in {*self.text_columns, self.label_column, self.id_column}
                   if i is not None}
        self.rows_seen += len(records)
        bad = [("wrong_field_count", base + np.asarray(wrong, dtype=np.int64)),
               ("broken_quoting", base + np.asarray(broken, dtype=np.int64))]
        parsed = self._finish(columns, base + np.asarray(good_lines, dtype=np.int64), bad,
                              {"blank_lines": blank})
        return used, pending.count(b"\n", 0, used), parsed

    def _finish(self, columns, lines: np.ndarray, bad, notes=None) -> Rows:
        def combined(i):
            column = columns[i]
            return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

        label = combined(self.label_column) if self.label_column is not None else None
        ids = combined(self.id_column) if self.id_column is not None else None
        return finish_rows([combined(i) for i in self.text_columns], label, lines, self.source,
                           bad, self.transform, notes, ids, self.spec.multi_label,
                           self.spec.label_sep)


def read_delimited(path: str, source: int, spec: SourceSpec, fmt: str) -> Iterator[Rows]:
    """Yield the parsed chunks of one CSV (`fmt` "csv") or TSV ("tsv") file.

    Raises:
        OptionError: unknown columns (see `select_columns`).
        UserError: for an empty file or a first row whose quoting is broken.
    """
    yield from _DelimitedFile(path, source, spec, fmt).read()
