"""Sources: read raw files into record batches, accounting for every row.

The layer owns formats, compression, columns, encodings and bad rows; it
knows nothing of vocabularies, batches for training or models.

| module | owns |
| --- | --- |
| spec | `SourceSpec` (what to read), format guessing, `parse_columns` |
| paths | `resolve_paths`: files, globs, folders -> the files, in order |
| streams | decompression (.gz .bz2 .xz .zst), transcoding, chunks |
| delimited | CSV and TSV, exact line numbers (fast pyarrow path + exact path) |
| jsonl | JSON Lines |
| parquet | Parquet |
| lines | fastText `__label__` lines and plain text, one document per line |
| presets | the "zhang" layout (DBPedia, Yelp, Amazon, AG News) |
| columns | text, label and id columns by name or index |
| rows | one chunk's columns -> a record batch (`Rows`); UTF-8 repair; skips |
| accounting | `RowAccounting`: rows read, used, skipped by cause, where |
| reader | `iter_records`: all files of a spec, in order, parsed ahead (`streamfit.prefetch`) |

Example:
    >>> from streamfit.sources import RowAccounting, SourceSpec, iter_records
    >>> spec = SourceSpec(("data/train.csv.gz",), text=("text",), label="label")
    >>> accounting = RowAccounting()
    >>> for batch in iter_records(spec, accounting):  # doctest: +SKIP
    ...     ...  # batch columns: text, label, source, line (and id with SourceSpec(id=...))
    ...     # with SourceSpec(multi_label=True) label is a list of strings (LABEL_LIST)
    >>> print(accounting.summary())  # doctest: +SKIP
    read 25000 rows, used 25000, skipped 0
"""

from streamfit.lazy import lazy_exports

# Public names and the module that defines each, imported on first use (PEP
# 562): `streamfit.sources.spec` (the formats and compressions) stays as light
# as it is, without pyarrow, for layers that only need those lists.
_EXPORTS = {
    "RowAccounting": "streamfit.sources.accounting",
    "resolve_paths": "streamfit.sources.paths",
    "iter_records": "streamfit.sources.reader",
    "RECORD_SCHEMA": "streamfit.sources.rows", "LABEL_LIST": "streamfit.sources.rows",
    "COMPRESSIONS": "streamfit.sources.spec", "FORMATS": "streamfit.sources.spec",
    "PRESETS": "streamfit.sources.spec", "SourceSpec": "streamfit.sources.spec",
    "parse_columns": "streamfit.sources.spec",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
