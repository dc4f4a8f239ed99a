"""What every peer runner shares: arguments, streaming reads, text clean-up, shuffling, metrics.

Each runner in this folder is a standalone script (``python bench/peers/X.py``);
Python puts the script's folder on ``sys.path``, so they import this module by
name. Reading is columnar (pyarrow.csv in blocks), so converting a corpus to a
peer's own input format costs what a careful user would pay, not a slow
per-row CSV loop.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

BLOCK_SIZE = 1 << 20  # 1 MiB of text per record batch: bounded memory, few Python calls.

# The peers' own memory is what is measured, so the reading done for them
# should hold as little as it can: mimalloc (pyarrow's default here) keeps
# freed blocks, which added up to 80 MB to a runner's peak RSS on IMDB.
try:
    pa.set_memory_pool(pa.jemalloc_memory_pool())
except NotImplementedError:
    pa.set_memory_pool(pa.system_memory_pool())


def base_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every runner takes.

    Args:
        description: One line for ``--help``.

    Returns:
        A parser with ``--train``, ``--test``, ``--text``, ``--label``,
        ``--no-header``, ``--delimiter`` and ``--seed``; runners add their own.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--train", required=True, help="training file: .csv/.tsv, optionally .gz")
    parser.add_argument("--test", required=True, help="test file, same layout as --train")
    parser.add_argument(
        "--text",
        default="text",
        help="comma-separated text column(s), joined with a space; with --no-header, "
        "0-based column numbers",
    )
    parser.add_argument(
        "--label", default="label", help="label column (name, or number with --no-header)"
    )
    parser.add_argument("--no-header", action="store_true", help="the files have no header row")
    parser.add_argument(
        "--delimiter",
        default=None,
        help="field delimiter (default: tab for .tsv files, else comma)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for shuffling and training")
    return parser


def _column_names(args: argparse.Namespace) -> tuple[list[str], str]:
    texts = [c.strip() for c in args.text.split(",") if c.strip()]
    label = args.label
    if args.no_header:
        # pyarrow names headerless columns f0, f1, ...
        texts = [f"f{int(c)}" for c in texts]
        label = f"f{int(label)}"
    return texts, label


def iter_batches(path: str, args: argparse.Namespace) -> Iterator[tuple[pa.Array, pa.Array]]:
    """Stream (text, label) string arrays from a delimited file, one block at a time.

    Args:
        path: A .csv or .tsv file, optionally compressed (.gz, .bz2 by extension).
        args: Parsed arguments of `base_parser`.

    Yields:
        Pairs of equal-length string arrays: the text columns joined with a
        space (nulls as empty text) and the label column.

    Raises:
        SystemExit: When a named column is missing from the file.
    """
    texts, label = _column_names(args)
    name = path[:-3] if path.endswith(".gz") else path
    delimiter = args.delimiter or ("\t" if name.endswith(".tsv") else ",")
    is_tsv = delimiter == "\t"
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(
            block_size=BLOCK_SIZE, autogenerate_column_names=args.no_header
        ),
        # TSV corpora such as SST-2 are written without quoting; a lone quote is text there.
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter, quote_char=False if is_tsv else '"', newlines_in_values=not is_tsv
        ),
        convert_options=pa_csv.ConvertOptions(
            include_columns=[*texts, label],
            column_types={c: pa.string() for c in [*texts, label]},
        ),
    )
    for batch in reader:
        cols = [pc.fill_null(batch.column(c), "") for c in texts]
        text = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, " ")
        yield text, pc.utf8_trim_whitespace(batch.column(label))


def normalize(text: pa.Array) -> pa.Array:
    """Lower-case and split off punctuation the way fastText's own example script does.

    This is ``normalize_text`` of fastText's ``classification-example.sh``
    (lower-case; ``' . , ( ) ! ?`` set apart; ``"`` dropped; ``; :`` and
    ``<br />`` become spaces), plus every run of white space (newlines, tabs)
    squeezed to one space, so that each document fits on one line.

    Args:
        text: Raw documents.

    Returns:
        Normalized documents, one line each, no leading or trailing space.
    """
    text = pc.utf8_lower(text)
    text = pc.replace_substring(text, "<br />", " ")
    text = pc.replace_substring_regex(text, r"(['.,()!?])", r" \1 ")
    text = pc.replace_substring_regex(text, r'"', "")
    text = pc.replace_substring_regex(text, r"[;:]", " ")
    text = pc.replace_substring_regex(text, r"\s+", " ")
    return pc.utf8_trim_whitespace(text)


def line_bytes(lines: pa.Array) -> memoryview:
    """The bytes of a string array written one element per line.

    Args:
        lines: Strings without newlines.

    Returns:
        The concatenated elements, each followed by ``\\n``, without a copy
        into Python strings.
    """
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset
    )
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


class ShuffledWriter:
    """Write lines to a file in a random order, in memory bounded by one bucket.

    The corpora come sorted by label, which wrecks any online learner, and a
    file that does not fit in memory cannot be shuffled with ``shuf``. So
    each line goes to one of ``buckets`` temporary files at random, and each
    bucket is shuffled in memory in turn: one extra write and read of the
    data, memory of about ``size / buckets``.

    Args:
        path: The file to write.
        seed: Seed of the random order.
        buckets: Number of temporary bucket files.
    """

    def __init__(self, path: Path, seed: int, buckets: int = 16) -> None:
        self.path = Path(path)
        self.rng = np.random.default_rng(seed)
        self.bucket_paths = [
            self.path.with_name(f"{self.path.name}.bucket{i}") for i in range(buckets)
        ]
        self.files = [open(p, "wb") for p in self.bucket_paths]  # noqa: SIM115 (closed in close())
        self.rows = 0

    def write(self, lines: pa.Array) -> None:
        """Scatter a batch of lines (strings without newlines) over the buckets."""
        ids = self.rng.integers(0, len(self.files), len(lines))
        for b, f in enumerate(self.files):
            take = np.flatnonzero(ids == b)
            if len(take):
                f.write(line_bytes(lines.take(pa.array(take))))
        self.rows += len(lines)

    def close(self) -> int:
        """Shuffle each bucket into the final file and remove the buckets.

        Returns:
            The number of lines written.
        """
        for f in self.files:
            f.close()
        with open(self.path, "wb") as out:
            for p in self.bucket_paths:
                lines = p.read_bytes().split(b"\n")[:-1]
                os.unlink(p)
                order = self.rng.permutation(len(lines))
                if lines:
                    out.write(b"\n".join([lines[i] for i in order]) + b"\n")
        return self.rows


def label_ids(labels: pa.Array, classes: list[str]) -> np.ndarray:
    """Map label strings to positions in ``classes``; unseen labels get -1."""
    ids = pc.index_in(labels, value_set=pa.array(classes, pa.string()))
    return pc.fill_null(ids, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def scan_classes(path: str, args: argparse.Namespace) -> list[str]:
    """The sorted distinct labels of a file (one streaming pass over it).

    Learners that must be told the classes up front (VW's ``--oaa K``,
    scikit-learn's ``partial_fit(classes=...)``) pay this pass in their time.
    """
    seen: set[str] = set()
    for _, labels in iter_batches(path, args):
        seen.update(pc.unique(labels).to_pylist())
    return sorted_labels(seen)


def sorted_labels(labels: set[str]) -> list[str]:
    """Labels in a stable order: numeric labels by value ("2" before "10"), others by text."""
    return sorted(labels, key=lambda s: (0, len(s), s) if s.isdigit() else (1, 0, s))


def report(y_true: np.ndarray, y_pred: np.ndarray, train_rows: int, **extra: object) -> None:
    """Print the one JSON line that ``bench/compare.py`` reads.

    Args:
        y_true: Test labels as class ids (-1 for a label never seen in training).
        y_pred: Predicted class ids (-1 for no prediction).
        train_rows: Rows trained on.
        **extra: More fields for the JSON line.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    # Negative ids (an unseen test label, a document given no label) are never right.
    correct = (y_true == y_pred) & (y_true >= 0)
    classes = np.union1d(y_true, y_pred)
    classes = classes[classes >= 0]
    f1 = []
    for c in classes:
        tp = np.sum(correct & (y_true == c))
        denom = np.sum(y_true == c) + np.sum(y_pred == c)
        f1.append(2 * tp / denom if denom else 0.0)
    out = {
        "accuracy": float(np.mean(correct)) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1)) if f1 else 0.0,
        "train_rows": int(train_rows),
        "test_rows": len(y_true),
        **extra,
    }
    print(json.dumps(out), flush=True)
