"""Turn the parsed columns of one chunk into a record batch, tracking every row.

All readers end in `finish_rows`: it joins the text columns, repairs invalid
UTF-8, drops rows without a label or text (remembering their lines), and
builds the batch with the four columns every reader yields (`RECORD_SCHEMA`),
plus an `id` column when the spec has one (`record_schema`). Labels are stripped of surrounding whitespace (counted in
notes["labels_stripped"]). With `multi_label` the `label` column is a list of
strings (`LABEL_LIST`, see `clean_label_lists`); without it a list label keeps
its first element (notes["several_labels"], see `first_labels`). It is columnar; only a chunk that fails UTF-8
validation is decoded value by value. The consumer then calls `Rows.account`
to add it all to the `RowAccounting`, which also notes labels that differ
only by case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamfit.sources.accounting import MAX_EXAMPLES, RowAccounting

RECORD_SCHEMA = pa.schema([
    pa.field("text", pa.string(), nullable=False),
    pa.field("label", pa.string()),
    pa.field("source", pa.int32(), nullable=False),
    pa.field("line", pa.int64(), nullable=False),
])
# Appended to `RECORD_SCHEMA` when the spec names an id column.
ID_FIELD = pa.field("id", pa.string())
RECORD_SCHEMA_WITH_ID = RECORD_SCHEMA.append(ID_FIELD)
# The `label` column of a multi-label read (`SourceSpec.multi_label`): each
# row's labels, stripped, without empty or repeated ones; null never (a row
# without a label is skipped), an empty list for a row with no labels.
LABEL_LIST = pa.list_(pa.string())
RECORD_SCHEMA_MULTI = RECORD_SCHEMA.set(1, pa.field("label", LABEL_LIST))
RECORD_SCHEMA_MULTI_WITH_ID = RECORD_SCHEMA_MULTI.append(ID_FIELD)


def record_schema(with_id: bool, multi_label: bool = False) -> pa.Schema:
    """The schema of the record batches: `RECORD_SCHEMA`, then `id` when `with_id`.

    With `multi_label` the `label` column is `LABEL_LIST` (list of strings).
    """
    if multi_label:
        return RECORD_SCHEMA_MULTI_WITH_ID if with_id else RECORD_SCHEMA_MULTI
    return RECORD_SCHEMA_WITH_ID if with_id else RECORD_SCHEMA

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


def number_text(value: bool | int | float) -> str:
    """The one text form of a number or boolean read as text or label.

    Booleans are "true"/"false"; integers as written; a float that is
    integral is its integer ("1.0" -> "1", "1e2" -> "100"), any other float
    its shortest repr ("0.5", "1e-07"). Every reader and both JSON Lines
    parse paths use it, so a label has one form whatever parsed it.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def canonical_text(column: pa.Array) -> pa.Array | None:
    """A scalar column as strings in `number_text`'s form; None for other types.

    Strings and binary pass as they are; integers and booleans are cast; a
    float column is mapped through its distinct values (columnar, with
    Python only per distinct value: labels have few). Dates, timestamps and
    nested types give None: their text as written is lost.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string())
    if (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)):
        return column
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        return column.cast(pa.string())
    if pa.types.is_floating(kind):
        distinct = pc.unique(column)
        texts = pa.array([None if value is None else number_text(value)
                          for value in distinct.to_pylist()], pa.string())
        return texts.take(pc.index_in(column, value_set=distinct))
    return None


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


@dataclass
class Rows:
    """The finished rows of one chunk and what happened to the others.

    Built by `finish_rows` (on the parsing thread); `account` runs on the
    consumer's thread, so the accounting is only ever touched there, in file
    order.

    Attributes:
        source: index of the file in `accounting.files`.
        batch: the rows kept (`record_schema`), or None when none is left.
        rows_read: rows parsed in the chunk, good or bad.
        skipped: (cause, 1-based lines) of the rows dropped.
        notes: observations to add to the accounting's notes.
    """

    source: int
    batch: pa.RecordBatch | None
    rows_read: int
    skipped: list[BadRows] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    note_examples: dict[str, list[str]] = field(default_factory=dict)

    def account(self, accounting: RowAccounting) -> pa.RecordBatch | None:
        """Count these rows in `accounting` and return the batch.

        Raises:
            DataError: in strict mode, naming the first bad row of the chunk.
        """
        for name, count in self.notes.items():
            accounting.note(name, count, self.note_examples.get(name, ()))
        accounting.rows_read += self.rows_read
        _skip_in_order(accounting, self.source, self.skipped)
        if self.batch is not None:
            accounting.rows_used += self.batch.num_rows
            accounting.observe_labels(self.batch.column("label"))
        return self.batch


def finish_rows(
    texts: Sequence[pa.Array],
    label: pa.Array | None,
    lines: np.ndarray,
    source: int,
    bad: Sequence[BadRows] = (),
    transform: Callable[[pa.Array], pa.Array] | None = None,
    notes: dict[str, int] | None = None,
    ids: pa.Array | None = None,
    multi_label: bool = False,
    label_sep: str | None = None,
) -> Rows:
    """Build the record batch of one chunk, keeping track of every row.

    Args:
        texts: the text columns of the parsed rows (binary or string).
        label: their label column, or None for unlabelled data: binary or
            string, or a list of those (JSON Lines lists, Parquet list
            columns, fastText lines read with `multi_label`).
        lines: the 1-based line where each parsed row starts.
        source: index of the file in `accounting.files`.
        bad: rows the parser already rejected, by cause; they count as read
            and skipped.
        transform: applied to the joined, valid text (e.g. a preset's unescape).
        notes: the reader's observations; "invalid_utf8_rows" and
            "labels_stripped" are added here.
        ids: the id column of the parsed rows (binary or string, null where
            a row has none), or None when the spec has no id: the batch then
            has no `id` column. An id never makes a row skipped; it is kept
            as written (not stripped), invalid UTF-8 replaced and counted.
        multi_label: build a `LABEL_LIST` label column (`clean_label_lists`);
            a scalar label is a one-element list. Without it a list label
            gives its first element (`first_labels`).
        label_sep: with `multi_label`, split every label value on this
            literal separator.

    Returns:
        The `Rows` to account for: kept rows, and skipped ones by cause
        ("missing_label" first, then "empty_text" for rows with a label;
        unlabelled rows are kept even when their text is empty). With
        `multi_label` only a null label is "missing_label": an empty list,
        or one whose labels were all blank, is a row with no labels, kept.
    """
    lines = np.asarray(lines, dtype=np.int64)
    notes = dict(notes or {})
    rows_read = len(lines) + sum(len(rows) for _, rows in bad)
    text, text_invalid = to_utf8(join_text(texts))
    invalid = text_invalid
    note_examples: dict[str, list[str]] = {}
    if label is not None and multi_label:
        label, label_invalid = clean_label_lists(label, label_sep, notes, note_examples)
        if label_invalid is not None:
            invalid = label_invalid if invalid is None else invalid | label_invalid
    elif label is not None:
        if is_list(label.type):
            label = first_labels(label, notes)
        label, label_invalid = to_utf8(label)
        if label_invalid is not None:
            invalid = label_invalid if invalid is None else invalid | label_invalid
        label = _strip_labels(label, notes, note_examples)
    if ids is not None:
        ids, ids_invalid = to_utf8(ids)
        if ids_invalid is not None:
            invalid = ids_invalid if invalid is None else invalid | ids_invalid
    if invalid is not None:
        notes["invalid_utf8_rows"] = notes.get("invalid_utf8_rows", 0) + int(invalid.sum())
    if transform is not None:
        text = transform(text)

    if label is None:
        missing_label = np.zeros(len(lines), dtype=bool)
    elif multi_label:
        missing_label = np.asarray(pc.is_null(label), dtype=bool)
    else:
        missing_label = blank(label)
    # Unlabelled rows (prediction) are kept even when empty, so that there is one
    # prediction per input row; a labelled row without text teaches nothing.
    empty_text = blank(text) & ~missing_label if label is not None else missing_label
    skipped = [*bad, ("missing_label", lines[missing_label]), ("empty_text", lines[empty_text])]
    keep = ~(missing_label | empty_text)
    if not keep.all():
        mask = pa.array(keep)
        text = text.filter(mask)
        label = label.filter(mask) if label is not None else None
        ids = ids.filter(mask) if ids is not None else None
        lines = lines[keep]
    batch = None
    if len(lines):
        batch = pa.RecordBatch.from_arrays(
            [
                text,
                label if label is not None else pa.nulls(len(lines),
                                                         LABEL_LIST if multi_label else pa.string()),
                pa.array(np.full(len(lines), source, dtype=np.int32)),
                pa.array(lines),
                *([] if ids is None else [ids]),
            ],
            schema=record_schema(ids is not None, multi_label),
        )
    return Rows(source, batch, rows_read, skipped, notes, note_examples)


def is_list(kind: pa.DataType) -> bool:
    """True for the Arrow list types (list, large list, fixed-size list)."""
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind))


def list_parts(lists: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The values of a list array and the row of each (a null row has none).

    `pc.list_parent_indices` also counts values hidden under a null row,
    which `pc.list_flatten` drops; the rows here come from the lengths.
    """
    lengths = np.asarray(pc.list_value_length(lists).fill_null(0), dtype=np.int64)
    return pc.list_flatten(lists), np.repeat(np.arange(len(lists), dtype=np.int64), lengths)


def build_lists(values: pa.Array, rows: np.ndarray, count: int,
                null: np.ndarray | None = None) -> pa.Array:
    """A list array of `count` rows from values sorted by row and the row of each.

    Args:
        values: the values, grouped by row in row order.
        rows: the row of each value (non-decreasing).
        count: the number of rows.
        null: mask of the rows that are null (they must have no values).
    """
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=count), out=offsets[1:])
    mask = None if null is None or not null.any() else pa.array(null)
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)


def as_label_lists(label: pa.Array) -> pa.Array:
    """A label column as a list array: a list as it is, a scalar as a one-element list.

    A null scalar is a null row (a missing label).
    """
    if is_list(label.type):
        return label
    null = np.asarray(pc.is_null(label), dtype=bool)
    rows = np.flatnonzero(~null)
    return build_lists(label.filter(pa.array(~null)) if null.any() else label, rows,
                       len(label), null)


def first_labels(label: pa.Array, notes: dict[str, int]) -> pa.Array:
    """The first element of each row of a list label column (null for a null or empty list).

    Rows with more than one element are counted in notes["several_labels"]
    (read with `multi_label` to keep them all).
    """
    lengths = np.asarray(pc.list_value_length(label).fill_null(0), dtype=np.int64)
    several = int(np.count_nonzero(lengths > 1))
    if several:
        notes["several_labels"] = notes.get("several_labels", 0) + several
    values = pc.list_flatten(label)
    starts = np.cumsum(lengths) - lengths
    return values.take(pa.array(starts, mask=lengths == 0))


def clean_label_lists(label: pa.Array, label_sep: str | None, notes: dict[str, int],
                      note_examples: dict[str, list[str]]) -> tuple[pa.Array, np.ndarray | None]:
    """A multi-label column as `LABEL_LIST`: each row's labels, clean.

    Each value is split on `label_sep` (when given), stripped of surrounding
    whitespace (rows changed: notes["labels_stripped"], with examples);
    empty pieces are dropped and a label repeated within a row is kept once,
    at its first place (rows changed: notes["duplicate_labels"], with
    examples). A null row stays null (the caller skips it as
    "missing_label"); a null element of a list is dropped as empty.

    Args:
        label: binary or string values, or lists of them (`as_label_lists`).
        label_sep: the literal separator between labels in one value, or None.
        notes: receives the notes.
        note_examples: receives their examples.

    Returns:
        (the list column, mask of the rows holding invalid UTF-8, replaced;
        None when there is none).
    """
    lists = as_label_lists(label)
    count = len(lists)
    null = np.asarray(pc.is_null(lists), dtype=bool)
    values, rows = list_parts(lists)
    values, invalid_values = to_utf8(values)
    invalid = None
    if invalid_values is not None:
        invalid = np.zeros(count, dtype=bool)
        invalid[rows[invalid_values]] = True
    if label_sep is not None:
        pieces = pc.split_pattern(values, label_sep)
        values, within = list_parts(pieces)
        rows = rows[within]
    stripped = pc.utf8_trim_whitespace(values)
    changed = np.asarray(pc.fill_null(pc.not_equal(pc.binary_length(stripped),
                                                   pc.binary_length(values)), False), dtype=bool)
    if changed.any():
        notes["labels_stripped"] = (notes.get("labels_stripped", 0)
                                    + len(np.unique(rows[changed])))
        raw = pc.unique(values.filter(pa.array(changed))).to_pylist()[:MAX_EXAMPLES]
        note_examples["labels_stripped"] = [repr(value) for value in raw]
    keep = np.asarray(pc.fill_null(pc.greater(pc.binary_length(stripped), 0), False), dtype=bool)
    values, rows = stripped.filter(pa.array(keep)), rows[keep]
    if len(rows) > len(np.unique(rows)):  # some row has several labels: look for repeats
        positions = pa.table({"row": rows, "label": values,
                              "at": np.arange(len(rows), dtype=np.int64)})
        firsts = positions.group_by(["row", "label"], use_threads=False).aggregate(
            [("at", "min")]).column("at_min")
        first = np.zeros(len(rows), dtype=bool)
        first[np.asarray(firsts, dtype=np.int64)] = True
        if not first.all():
            notes["duplicate_labels"] = (notes.get("duplicate_labels", 0)
                                         + len(np.unique(rows[~first])))
            repeated = pc.unique(values.filter(pa.array(~first))).to_pylist()[:MAX_EXAMPLES]
            note_examples["duplicate_labels"] = [repr(value) for value in repeated]
            values, rows = values.filter(pa.array(first)), rows[first]
    return build_lists(values, rows, count, null), invalid


def _strip_labels(label: pa.Array, notes: dict[str, int],
                  note_examples: dict[str, list[str]]) -> pa.Array:
    """Strip surrounding whitespace from labels, noting the rows it changed."""
    stripped = pc.utf8_trim_whitespace(label)
    changed = pc.fill_null(pc.not_equal(pc.binary_length(stripped), pc.binary_length(label)),
                           False)
    count = int(pc.sum(changed).as_py() or 0)
    if not count:
        return label
    notes["labels_stripped"] = notes.get("labels_stripped", 0) + count
    raw = pc.unique(label.filter(changed)).to_pylist()[:MAX_EXAMPLES]
    note_examples["labels_stripped"] = [repr(value) for value in raw]
    return stripped


def _skip_in_order(accounting: RowAccounting, source: int, groups: Sequence[BadRows]) -> None:
    groups = [(cause, rows) for cause, rows in groups if len(rows)]
    if accounting.strict and groups:
        # Strict mode names the first bad row of the chunk, whatever its cause.
        cause, rows = min(groups, key=lambda group: int(group[1].min()))
        accounting.skip(cause, source, int(rows.min()))
    for cause, rows in groups:
        accounting.skip_lines(cause, source, np.sort(rows))
