"""Parquet: columns by name or index, read in bounded record batches.

Rows come from `ParquetFile.iter_batches`, reading only the wanted columns.
A row's `line` is its 1-based row number in the file. Text and number columns
are turned into strings as JSON Lines does (`rows.number_text`: an integer
label 1 becomes "1", a float 1.0 also "1", 0.5 "0.5", a boolean "true"); a
null text counts as empty. The id column (`SourceSpec.id`) is read the same
way; a null id stays null. Parquet needs random access, so a compressed (.gz, ...) Parquet file
is refused; Parquet compresses its own pages.

The label column may also be a list column (list, large list or fixed-size
list of text, numbers or booleans, each element as above): read with
`SourceSpec.multi_label` every element is a label (`rows.clean_label_lists`;
a scalar column gives one-element lists, a null row is "missing_label", an
empty list a row with no labels); without it the first element is the label
and rows with several count in notes["several_labels"].
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamfit.errors import UserError
from streamfit.sources.columns import select_columns
from streamfit.sources.rows import (
    Rows,
    build_lists,
    canonical_text,
    finish_rows,
    is_list,
    list_parts,
)
from streamfit.sources.spec import COMPRESSIONS, SourceSpec, split_compression


def _as_text(column: pa.Array, name: str, path: str) -> pa.Array:
    """A column as string (or binary, validated later); UserError for nested types."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return column.cast(pa.binary())
    if pa.types.is_nested(kind):
        raise UserError(f"{path}: column {name!r} has type {kind}; only text, number or "
                        "boolean columns can be read as text or label")
    text = canonical_text(column)
    return column.cast(pa.string()) if text is None else text


def _as_label(column: pa.Array, name: str, path: str) -> pa.Array:
    """The label column as text (`_as_text`), or a list column as lists of text."""
    kind = column.type
    if not is_list(kind):
        return _as_text(column, name, path)
    values, rows = list_parts(column)
    null = np.asarray(pc.is_null(column), dtype=bool)
    return build_lists(_as_text(values, name, path), rows, len(column), null)


def _batch_rows(parquet: pq.ParquetFile, block_size: int) -> int:
    """Rows per batch so that a batch holds about `block_size` bytes of data."""
    meta = parquet.metadata
    if meta.num_rows == 0:
        return 1
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return int(np.clip(block_size * meta.num_rows // max(size, 1), 1, 1 << 20))


def read_parquet(path: str, source: int, spec: SourceSpec) -> Iterator[Rows]:
    """Yield the parsed batches of one Parquet file.

    Raises:
        UserError: for a compressed or unreadable file, an empty one, unknown
            columns, or a nested column.
    """
    if split_compression(path)[1] is not None:
        raise UserError(f"{path}: Parquet files cannot be read through {'/'.join(COMPRESSIONS)}; "
                        "decompress it (Parquet compresses its pages itself)")
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise UserError(f"{path}: not a readable Parquet file ({error})") from None
    names = parquet.schema_arrow.names
    text_columns, label_column, id_column = select_columns(spec, path, names, len(names))
    if parquet.metadata.num_rows == 0:
        raise UserError(f"{path}: the file has no rows; remove it from the inputs or add data")
    wanted = list(dict.fromkeys(
        names[i] for i in [*text_columns, *(c for c in (label_column, id_column) if c is not None)]))
    row = 0
    for batch in parquet.iter_batches(batch_size=_batch_rows(parquet, spec.block_size),
                                      columns=wanted, use_threads=False):
        texts = [_as_text(batch.column(names[i]), names[i], path) for i in text_columns]
        label = (None if label_column is None else
                 _as_label(batch.column(names[label_column]), names[label_column], path))
        ids = (None if id_column is None else
               _as_text(batch.column(names[id_column]), names[id_column], path))
        lines = np.arange(row + 1, row + 1 + batch.num_rows, dtype=np.int64)
        row += batch.num_rows
        yield finish_rows(texts, label, lines, source, ids=ids, multi_label=spec.multi_label,
                          label_sep=spec.label_sep)
