"""Turn the parsed columns of one chunk into a record batch, accounting every row.

All readers end in `finish_rows`: it joins the text columns, repairs invalid
UTF-8, drops rows without a label or text (counting them), and builds the
batch with the four columns every reader yields (`RECORD_SCHEMA`). It is
columnar; only a chunk that fails UTF-8 validation is decoded value by value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamfit.sources.accounting import RowAccounting

RECORD_SCHEMA = pa.schema([
    pa.field("text", pa.string(), nullable=False),
    pa.field("label", pa.string()),
    pa.field("source", pa.int32(), nullable=False),
    pa.field("line", pa.int64(), nullable=False),
])

# A structural problem found by the parser: (cause, 1-based lines of the rows).
BadRows = tuple[str, np.ndarray]


def to_utf8(values: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """Cast a binary or string array to string, replacing invalid UTF-8.

    Returns:
        The string array and a boolean mask of the rows that held invalid
        UTF-8 (None when every value was valid, the common, columnar case).
    """
    # Some pyarrow readers (JSON, Parquet) hand back string arrays they never
    # validated; cast from the bytes so that every value is checked.
    if pa.types.is_string(values.type):
        values = values.view(pa.binary())
    elif pa.types.is_large_string(values.type):
        values = values.view(pa.large_binary())
    try:
        return values.cast(pa.string()), None
    except pa.ArrowInvalid:
        pass
    # Rare path: only this chunk's values are decoded in Python.
    out: list[str | None] = []
    invalid = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values.to_pylist()):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(value.decode("utf-8", "replace"))
            invalid[i] = True
    return pa.array(out, pa.string()), invalid


# Empty or only whitespace (Unicode's, as str.isspace sees it). One RE2 pass:
# an order of magnitude faster than utf8_length + utf8_is_space.
BLANK = r"^[\s\p{Z}\x{0b}\x{1c}-\x{1f}\x{85}]*$"


def blank(values: pa.Array) -> np.ndarray:
    """Boolean mask of the values that are null, empty or only whitespace."""
    return np.asarray(pc.match_substring_regex(values, BLANK).fill_null(True), dtype=bool)


def join_text(columns: Sequence[pa.Array]) -> pa.Array:
    """Join text columns with one space; a null part counts as empty."""
    if len(columns) == 1:
        return columns[0]
    if all(pa.types.is_string(column.type) for column in columns):
        return pc.binary_join_element_wise(*columns, " ", null_handling="replace")
    columns = [column.cast(pa.binary()) for column in columns]
    return pc.binary_join_element_wise(*columns, pa.scalar(b" ", pa.binary()),
                                       null_handling="replace")


def finish_rows(
    texts: Sequence[pa.Array],
    label: pa.Array | None,
    lines: np.ndarray,
    source: int,
    accounting: RowAccounting,
    bad: Sequence[BadRows] = (),
    transform: Callable[[pa.Array], pa.Array] | None = None,
) -> pa.RecordBatch | None:
    """Build the record batch of one chunk and account for all of its rows.

    Args:
        texts: the text columns of the parsed rows (binary or string).
        label: their label column, or None for unlabelled data.
        lines: the 1-based line where each parsed row starts.
        source: index of the file in `accounting.files`.
        accounting: updated with rows read, used and skipped.
        bad: rows the parser already rejected, by cause; they are counted as
            read and skipped.
        transform: applied to the joined, valid text (e.g. a preset's unescape).

    Returns:
        The batch (`RECORD_SCHEMA`), or None when no row is left.

    Raises:
        DataError: in strict mode, naming the first bad row of the chunk.
    """
    lines = np.asarray(lines, dtype=np.int64)
    accounting.rows_read += len(lines) + sum(len(rows) for _, rows in bad)
    text, text_invalid = to_utf8(join_text(texts))
    invalid = text_invalid
    if label is not None:
        label, label_invalid = to_utf8(label)
        if label_invalid is not None:
            invalid = label_invalid if invalid is None else invalid | label_invalid
    if invalid is not None:
        accounting.note("invalid_utf8_rows", int(invalid.sum()))
    if transform is not None:
        text = transform(text)

    missing_label = blank(label) if label is not None else np.zeros(len(lines), dtype=bool)
    empty_text = blank(text) & ~missing_label
    groups = [*bad, ("missing_label", lines[missing_label]), ("empty_text", lines[empty_text])]
    _skip_in_order(accounting, source, groups)

    keep = ~(missing_label | empty_text)
    if not keep.all():
        mask = pa.array(keep)
        text = text.filter(mask)
        label = label.filter(mask) if label is not None else None
        lines = lines[keep]
    if len(lines) == 0:
        return None
    accounting.rows_used += len(lines)
    return pa.RecordBatch.from_arrays(
        [
            text,
            label if label is not None else pa.nulls(len(lines), pa.string()),
            pa.array(np.full(len(lines), source, dtype=np.int32)),
            pa.array(lines),
        ],
        schema=RECORD_SCHEMA,
    )


@dataclass
class Parsed:
    """The parsed rows of one chunk, waiting for `finish_rows`.

    Readers produce these (possibly on a background thread, see
    `streams.prefetch`); the consumer's thread calls `finish`, so the
    accounting is only ever touched by one thread, in file order.
    """

    source: int
    texts: Sequence[pa.Array]
    label: pa.Array | None
    lines: np.ndarray
    bad: Sequence[BadRows] = ()
    notes: dict[str, int] = field(default_factory=dict)
    transform: Callable[[pa.Array], pa.Array] | None = None

    def finish(self, accounting: RowAccounting) -> pa.RecordBatch | None:
        """Add the notes and return `finish_rows` of these rows."""
        for name, count in self.notes.items():
            accounting.note(name, count)
        return finish_rows(self.texts, self.label, self.lines, self.source, accounting, self.bad,
                           self.transform)


def _skip_in_order(accounting: RowAccounting, source: int, groups: Sequence[BadRows]) -> None:
    groups = [(cause, rows) for cause, rows in groups if len(rows)]
    if accounting.strict and groups:
        # Strict mode names the first bad row of the chunk, whatever its cause.
        cause, rows = min(groups, key=lambda group: int(group[1].min()))
        accounting.skip(cause, source, int(rows.min()))
    for cause, rows in groups:
        accounting.skip_lines(cause, source, np.sort(rows))
