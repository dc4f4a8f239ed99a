"""`iter_records`: stream the rows of every file of a spec as record batches."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from streamfit.prefetch import prefetch
from streamfit.sources.accounting import RowAccounting
from streamfit.sources.delimited import read_delimited
from streamfit.sources.jsonl import read_jsonl
from streamfit.sources.lines import check_id, check_label, read_lines
from streamfit.sources.parquet import read_parquet
from streamfit.sources.paths import resolve_paths
from streamfit.sources.rows import Rows, record_schema
from streamfit.sources.spec import SourceSpec, file_format
from streamfit.sources.streams import utf8_codec


def iter_records(spec: SourceSpec, accounting: RowAccounting) -> Iterator[pa.RecordBatch]:
    """Stream the rows of `spec`'s files, in file order, one bounded chunk at a time.

    Paths, formats and the encoding are checked at once, before any row is
    read. Each batch has the columns of `rows.RECORD_SCHEMA`: `text` (string,
    never null or empty), `label` (string, never null or empty; all null when
    `spec.label` is None; with `spec.multi_label` a list of strings, never
    null, possibly empty: `rows.RECORD_SCHEMA_MULTI`), `source` (int32, index of the file in
    `accounting.files`) and `line` (int64, the 1-based line where the row
    starts; the row number for Parquet); then, only when `spec.id` is set,
    `id` (string, null where the row has none; `rows.record_schema(True)`).
    Batches are never empty unless `accounting.log_skips`: then a chunk whose
    rows were all skipped yields an empty batch (no rows, the same columns),
    so that a caller taking the skips after each batch (`take_skipped`) holds
    one chunk's skips at most, even through a file of only bad rows.

    Args:
        spec: what to read.
        accounting: receives the counts; files it does not list yet are
            appended to `accounting.files`. `spec.strict` turns it strict.

    Returns:
        An iterator of record batches. Files are parsed on a background
        thread, two chunks ahead of the consumer (the accounting is updated on
        the consumer's side, as batches are taken); memory stays about five
        `block_size` chunks plus the longest row, whatever the file sizes.

    Raises:
        UserError: for missing files, unknown formats, columns or encodings,
            an id for fasttext or text lines, and files without rows (raised
            while iterating, per file).
        DataError: in strict mode, at the first bad row.

    Example:
        >>> acc = RowAccounting()
        >>> for batch in iter_records(SourceSpec(("train.csv",)), acc):  # doctest: +SKIP
        ...     texts, labels = batch.column("text"), batch.column("label")
    """
    files = resolve_paths(spec.paths, spec.format)
    plan = [(path, file_format(spec, path)) for path in files]
    utf8_codec(spec.encoding)
    for path, fmt in plan:
        check_label(spec, fmt, path)
        check_id(spec, fmt, path)
    if spec.strict:
        accounting.strict = True
    for path in files:
        if path not in accounting.files:
            accounting.files.append(path)
    return _iterate(spec, accounting, plan)


def _iterate(spec: SourceSpec, accounting: RowAccounting,
             plan: list[tuple[str, str]]) -> Iterator[pa.RecordBatch]:
    sources = [accounting.files.index(path) for path, _ in plan]
    empty = pa.RecordBatch.from_pylist([], schema=record_schema(spec.id is not None,
                                                                spec.multi_label))
    for rows in prefetch(_parse(spec, plan, sources), name="streamfit-sources"):
        batch = rows.account(accounting)
        if batch is not None:
            yield batch
        elif accounting.log_skips and any(len(lines) for _, lines in rows.skipped):
            yield empty  # only bad rows: hand their skips out now (see the docstring)


def _parse(spec: SourceSpec, plan: list[tuple[str, str]], sources: list[int]) -> Iterator[Rows]:
    """Parse every file in order (runs on the prefetch thread; never touches the accounting)."""
    for (path, fmt), source in zip(plan, sources, strict=True):
        if fmt in ("csv", "tsv"):
            yield from read_delimited(path, source, spec, fmt)
        elif fmt == "jsonl":
            yield from read_jsonl(path, source, spec)
        elif fmt == "parquet":
            yield from read_parquet(path, source, spec)
        else:
            yield from read_lines(path, source, spec, fmt)
