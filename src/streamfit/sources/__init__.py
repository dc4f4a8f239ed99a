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
| columns | text and label columns by name or index |
| rows | one chunk's columns -> a record batch (`Rows`); UTF-8 repair; skips |
| accounting | `RowAccounting`: rows read, used, skipped by cause, where |
| reader | `iter_records`: all files of a spec, in order, parsed ahead (`streamfit.prefetch`) |

Example:
    >>> from streamfit.sources import RowAccounting, SourceSpec, iter_records
    >>> spec = SourceSpec(("data/train.csv.gz",), text=("text",), label="label")
    >>> accounting = RowAccounting()
    >>> for batch in iter_records(spec, accounting):  # doctest: +SKIP
    ...     ...  # batch columns: text, label, source, line
    >>> print(accounting.summary())  # doctest: +SKIP
    read 25000 rows, used 25000, skipped 0
"""

from streamfit.sources.accounting import RowAccounting
from streamfit.sources.paths import resolve_paths
from streamfit.sources.reader import iter_records
from streamfit.sources.rows import RECORD_SCHEMA
from streamfit.sources.spec import FORMATS, SourceSpec, parse_columns

__all__ = [
    "FORMATS",
    "RECORD_SCHEMA",
    "RowAccounting",
    "SourceSpec",
    "iter_records",
    "parse_columns",
    "resolve_paths",
]
