"""`streamfit predict`: one answer per input row, in input order.

Each output row is one data row of the input (headers and blank lines are not
rows), good or bad:

| column | value |
| --- | --- |
| row | the row's 1-based number in the whole input (all files, in order) |
| file | the file it is in, as resolved from DATA |
| line | the 1-based line where it starts (the row number for Parquet) |
| id | the `--id` column's value, when `--id` is given |
| label | the predicted label; empty for a row that could not be read |
| probability | the label's probability; empty for a row that could not be read |
| skipped | empty, or why the row could not be read (`wrong_field_count`, ...) |

With `-k K` or `--threshold T`, and always for a multi-label bundle, the
label and probability columns give way to one column `labels`: the labels
chosen (`recipe.selection`, fastText's `predict-prob k threshold`: those at
or above the threshold, the K most probable of them, highest first), as
JSON pairs `[["sports", 0.91], ["food", 0.07]]` (probabilities rounded to 6
places). JSON Lines holds the array itself, CSV its JSON text (quoted as
CSV quotes it; the text starts with `[`, so no spreadsheet reads it as a
formula, and no label can clash with the separators). An empty list `[]`
is a row no label reached the threshold of; a skipped row has none (an
empty cell, null in JSON Lines). Defaults: a single-label bundle names its
most probable label (k 1, no threshold, the one-label columns); a
multi-label bundle every label at or above its tuned thresholds (k -1);
`--threshold` replaces the bundle's, `-k` keeps it.

DATA `-` is standard input, read alone (`sources.stdin`): `--format` is
needed unless the bundle's training data named one, file is `-` and line
the line of the input. Each answer is written to stdout and flushed as soon
as its input line is complete, so the command can sit in a pipeline or a
subprocess; it stops at the end of the input, and quietly (exit 0, as Unix
tools do) when its output is closed (`| head`). With `--output FILE` the
file still appears whole at the end. A fast writer's lines are read in
chunks of up to 1 MiB, one chunk at a time (the next is not featurized
while the model runs, as for files), so a pipe is somewhat slower than a file.

The id comes from the same single pass as the text: the readers carry the
`--id` column in the record batches (`SourceSpec.id`). A skipped row's id is
empty (null in JSON Lines): the readers do not keep the columns of rows they
skip (a CSV row of the wrong width is not even split into fields).

The writing is columnar: a batch is merged with the skipped rows among it by
(file, line) with numpy and written as CSV by pyarrow, or as JSON Lines joined
by pyarrow.compute, with no Python per row.

`--output FILE` is written to a temporary file beside it and renamed over
FILE only when every row is written (`files.write_atomic`): a failed run
(`--strict` at a bad row, an error, Ctrl-C) leaves FILE as it was, and no
partial file that looks like a result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from streamfit.cli.args import add_source_arguments, bundle_overrides
from streamfit.errors import OptionError, UserError, check_number
from streamfit.files import write_atomic
from streamfit.sources import RowAccounting, parse_columns
from streamfit.sources.stdin import STDIN, iter_stdin_records

if TYPE_CHECKING:
    from streamfit.recipe.selection import Selection

# OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict labels for new data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Write one answer per data row of DATA, in input order, as CSV or JSON Lines (by the\n"
            "extension of --output; CSV on stdout). Columns: row (1-based, over all files), file,\n"
            "line (where the row starts; the row number for Parquet), id (with --id), label,\n"
            "probability, skipped. A row that cannot be read (wrong field count, broken quoting,\n"
            "bad JSON, no text field) keeps its place: empty label and probability, and the cause\n"
            "in skipped (null in JSON Lines), and an empty id; the summary of skipped rows goes to\n"
            "stderr. An empty text is still predicted. --output is written whole or not at all: a\n"
            "failed run leaves an existing FILE as it was.\n\n"
            "-k K (-1: all) and --threshold T choose labels as fastText's predict-prob k threshold:\n"
            "those at or above T, the K most probable of them. With either, and always for a\n"
            "multi-label bundle (whose default is its tuned thresholds, k -1), one column labels\n"
            "replaces label and probability: JSON pairs [[\"a\", 0.91], [\"b\", 0.07]], most\n"
            "probable first (the JSON text in CSV, the array in JSON Lines).\n\n"
            "DATA - reads standard input (give --format): each answer is written to stdout and\n"
            "flushed as soon as its line is in; it stops at the end of the input, or quietly when\n"
            "stdout is closed (exit 0). With --output the file appears whole at the end.\n\n"
            "CSV output neutralises label names a spreadsheet would run as formulas (OWASP: those\n"
            "starting with = + - @, tab or carriage return get a leading ', so -1 is written '-1);\n"
            "JSON Lines keeps every label exactly."))
    parser.add_argument("bundle", metavar="DIR", help="a bundle written by `streamfit train`")
    add_source_arguments(parser, defaults=False)
    parser.add_argument("--id", metavar="COL", default=None,
                        help="a column of DATA (name, 0-based index or JSON Lines key) copied to each "
                             "output row as id, read in the same pass; empty for a skipped row")
    parser.add_argument("-k", dest="k", type=int, default=None, metavar="K",
                        help="name the K most probable labels, -1 for all (default: 1; all for a "
                             "multi-label bundle)")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="name only labels of probability >= T (default: none; a multi-label "
                             "bundle's tuned thresholds)")
    parser.add_argument("--output", "-o", metavar="FILE", help="a .csv or .jsonl file (default: stdout)")
    parser.add_argument("--output-format", choices=("csv", "jsonl"), default=None,
                        help="the output's format (default: by --output's extension; csv on stdout)")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per forward pass")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu or cuda (default auto: an mlp or fasttext bundle runs with "
                             "numpy on the CPU, without torch; a sepcnn bundle on a GPU if torch "
                             "sees one)")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    # pyarrow and scipy: loaded only for the command that needs them (torch only for a sepcnn
    # bundle, an older weights.pt bundle or --device cuda: recipe.bundle)
    from streamfit.recipe.bundle import load_bundle

    jsonl = _jsonl(args)
    check_number("batch_size", args.batch_size, minimum=1)
    stdin = args.data == [STDIN]
    if STDIN in args.data and not stdin:
        raise UserError("DATA -: standard input is read alone; give - as the only DATA, or save "
                        "the input to a file")
    bundle = load_bundle(args.bundle)
    names = bundle.labels.names
    try:  # the options checked before any row is read
        bundle.choose(np.zeros((0, len(names)), np.float32), args.k, args.threshold)
    except OptionError as error:
        raise UserError(error.with_flag("-k" if error.option == "k" else "--threshold")) from None
    listed = bundle.multi_label or args.k is not None or args.threshold is not None
    id_column = parse_columns(args.id)[0] if args.id is not None else None
    spec = bundle.source_spec(args.data, labelled=False, **bundle_overrides(args, label=False),
                              id=id_column)
    accounting = RowAccounting(strict=spec.strict, log_skips=True)
    batches = bundle.predict_rows(spec, accounting, args.batch_size, args.device, stream=stdin,
                                  records=iter_stdin_records(spec, accounting) if stdin else None)
    with_id = id_column is not None
    writer = Writer(names, accounting.files, jsonl=jsonl, with_id=with_id, listed=listed)

    def write(out, flush: bool = False) -> None:
        for records, skipped, probabilities in batches:
            labels = writer.label_lists(bundle.choose(probabilities, args.k, args.threshold)) if listed else None
            out.write(writer.write(answers(records, skipped, probabilities, with_id=with_id, labels=labels)))
            if flush:
                out.flush()

    if args.output:
        write_atomic(args.output, write)
    else:
        try:
            write(sys.stdout.buffer, flush=True)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
            _drop_stdout()
            return 0
    if accounting.rows_read != accounting.rows_used:
        print(f"streamfit: {accounting.summary()}", file=sys.stderr)
    return 0


def _jsonl(args: argparse.Namespace) -> bool:
    """Whether the output is JSON Lines (--output-format, else --output's extension)."""
    if args.output and not args.output.endswith((".csv", ".jsonl")):
        raise UserError(f"--output {args.output}: use a .csv or .jsonl file name")
    by_name = "jsonl" if args.output and args.output.endswith(".jsonl") else "csv" if args.output else None
    if args.output_format and by_name and args.output_format != by_name:
        raise UserError(f"--output-format {args.output_format} does not match --output {args.output}; "
                        "give a file name with its extension, or leave one out")
    return (args.output_format or by_name) == "jsonl"


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a test's captured stdout)
        pass


def answers(records: pa.RecordBatch, skipped: pa.RecordBatch, probabilities: np.ndarray,
            *, with_id: bool = False, labels: pa.Array | None = None) -> pa.Table:
    """Records and the skipped rows among them, merged in (source, line) order.

    Args:
        with_id: add the records' `id` column (null for skipped rows, and for
            a batch without records, which may lack the column).
        labels: one value per record (`Writer.label_lists`), added as the
            column `labels` (null for skipped rows).

    Returns:
        A table of (source, line, best: class id or null, probability or null,
        skipped: cause or null[, id][, labels]), one row per input row.
    """
    best = probabilities.argmax(axis=1)
    # Rounded in float64, as the labels lists are: float32 has too few digits to round to 6 places.
    probability = probabilities[np.arange(len(best)), best].astype(np.float64).round(6)
    sources = np.asarray(records.column("source"), np.int32)
    lines = np.asarray(records.column("line"), np.int64)
    ids = None
    if with_id:
        ids = (records.column("id") if "id" in records.schema.names
               else pa.nulls(records.num_rows, pa.string()))
    if skipped.num_rows == 0:  # the common case: nothing to merge
        table = pa.table({"source": sources, "line": lines, "best": best, "probability": probability,
                          "skipped": pa.nulls(len(best), pa.string())})
        if ids is not None:
            table = table.append_column("id", ids)
        return table if labels is None else table.append_column("labels", labels)
    bad_sources = np.asarray(skipped.column("source"), np.int32)
    bad_lines = np.asarray(skipped.column("line"), np.int64)
    all_sources = np.concatenate([sources, bad_sources])
    all_lines = np.concatenate([lines, bad_lines])
    order = np.lexsort((all_lines, all_sources))
    good = order < len(best)
    picked = np.where(good, order, 0)
    cause = pa.concat_arrays([pa.nulls(len(best), pa.string()), skipped.column("skipped")])
    table = pa.table({
        "source": all_sources[order], "line": all_lines[order],
        "best": pa.array(best[picked] if len(best) else np.zeros(len(order), np.int64), mask=~good),
        "probability": pa.array(probability[picked] if len(best) else np.zeros(len(order)),
                                mask=~good),
        "skipped": cause.take(pa.array(order)),
    })
    rows = pa.array(picked, mask=~good)
    if ids is not None:
        table = table.append_column("id", _chunk(ids).take(rows))
    if labels is not None:
        table = table.append_column("labels", (_chunk(labels) if len(best) else pa.nulls(1, pa.string()))
                                    .take(rows))
    return table


class Writer:
    """Turns `answers` tables into CSV or JSON Lines bytes, numbering the rows.

    Args:
        labels: the class names, by class id.
        files: the input files, by source index (the accounting's list, which
            the reader fills before the first batch).
        jsonl: JSON Lines instead of CSV.
        with_id: write the id column.
        listed: write the column `labels` (`label_lists`) in place of label
            and probability.
    """

    def __init__(self, labels: list[str], files: list[str], *, jsonl: bool, with_id: bool,
                 listed: bool = False):
        self.files, self.jsonl, self.with_id, self.listed = files, jsonl, with_id, listed
        self.json_labels = pa.array([json.dumps(name) for name in labels], pa.string())
        if jsonl:
            self.labels = pa.array([json.dumps(name) for name in labels], pa.string())
        else:
            self.labels = pa.array([csv_safe(name) for name in labels], pa.string())
        self.rows = 0
        self.first = True
        self._names: tuple[int, pa.Array] = (-1, pa.array([], pa.string()))

    def _file_names(self) -> pa.Array:
        if self._names[0] != len(self.files):
            quote = json.dumps if self.jsonl else str
            self._names = (len(self.files), pa.array([quote(path) for path in self.files], pa.string()))
        return self._names[1]

    def label_lists(self, chosen: Selection) -> pa.Array:
        """Each row's chosen labels as JSON text, `[["a", 0.91], ["b", 0.07]]` (columnar)."""
        names = self.json_labels.take(pa.array(chosen.ids))
        rounded = np.round(chosen.probabilities.astype(np.float64), 6)
        pairs = pc.binary_join_element_wise("[", names, ", ", pc.cast(pa.array(rounded), pa.string()),
                                            "]", "")
        lists = pa.ListArray.from_arrays(pa.array(chosen.offsets, pa.int32()), pairs)
        return pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")

    def write(self, table: pa.Table) -> bytes:
        count = table.num_rows
        row = pa.array(np.arange(self.rows + 1, self.rows + 1 + count, dtype=np.int64))
        self.rows += count
        file = self._file_names().take(table.column("source"))
        label = self.labels.take(table.column("best"))
        columns = {"row": row, "file": file, "line": table.column("line")}
        if self.with_id:
            columns["id"] = table.column("id")
        if self.listed:
            columns["labels"] = table.column("labels")
        else:
            columns.update(label=label, probability=table.column("probability"))
        columns["skipped"] = table.column("skipped")
        first, self.first = self.first, False
        if not self.jsonl:
            sink = pa.BufferOutputStream()
            pcsv.write_csv(pa.table(columns), sink, pcsv.WriteOptions(include_header=first, quoting_style="needed"))
            return sink.getvalue().to_pybytes()
        if count == 0:
            return b""
        parts = ['{"row": ', pc.cast(row, pa.string()), ', "file": ', file,
                 ', "line": ', pc.cast(columns["line"], pa.string())]
        if self.with_id:
            parts += [', "id": ', _json_strings(columns["id"])]
        if self.listed:
            parts += [', "labels": ', _chunk(columns["labels"]).fill_null("null")]
        else:
            parts += [', "label": ', label.fill_null("null"),
                      ', "probability": ', pc.cast(columns["probability"], pa.string()).fill_null("null")]
        parts += [', "skipped": ', _json_strings(columns["skipped"]), "}\n"]
        lines = pc.binary_join_element_wise(*[_chunk(part) for part in parts], "")
        # The lines' UTF-8 bytes back to back: the array's data buffer, no per-row Python.
        _, offsets, data = lines.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32)[[lines.offset, lines.offset + len(lines)]]
        return memoryview(data)[ends[0]:ends[1]].tobytes()


def csv_safe(label: str) -> str:
    """A label as a CSV cell no spreadsheet runs as a formula (OWASP: a leading ').

    >>> csv_safe("=cmd|' /C calc'!A0"), csv_safe("-1"), csv_safe("pos")
    ("'=cmd|' /C calc'!A0", "'-1", 'pos')
    """
    return "'" + label if label.startswith(FORMULA_STARTS) else label


def _chunk(value):
    return value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value


_CONTROL = [chr(i) for i in range(0x20)]


def _json_strings(values) -> pa.Array:
    """Strings as JSON string literals (null as null), columnar."""
    values = _chunk(values)
    if len(values) == 0:
        return pa.array([], pa.string())
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    if pc.any(pc.match_substring_regex(escaped, r"[\x00-\x1f]")).as_py():
        for char in _CONTROL:  # rare: one pass per control character
            escaped = pc.replace_substring(escaped, char, json.dumps(char)[1:-1])
    return pc.binary_join_element_wise('"', escaped, '"', "").fill_null("null")
