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
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from streamfit.cli.args import add_source_arguments, bundle_overrides
from streamfit.errors import UserError, check_number
from streamfit.files import write_atomic
from streamfit.sources import RowAccounting, parse_columns

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
            "CSV output neutralises label names a spreadsheet would run as formulas (OWASP: those\n"
            "starting with = + - @, tab or carriage return get a leading ', so -1 is written '-1);\n"
            "JSON Lines keeps every label exactly."))
    parser.add_argument("bundle", metavar="DIR", help="a bundle written by `streamfit train`")
    add_source_arguments(parser, defaults=False)
    parser.add_argument("--id", metavar="COL", default=None,
                        help="a column of DATA (name, 0-based index or JSON Lines key) copied to each "
                             "output row as id, read in the same pass; empty for a skipped row")
    parser.add_argument("--output", "-o", metavar="FILE", help="a .csv or .jsonl file (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    # torch: loaded only for the command that needs it
    from streamfit.recipe.bundle import load_bundle

    if args.output and not args.output.endswith((".csv", ".jsonl")):
        raise UserError(f"--output {args.output}: use a .csv or .jsonl file name")
    check_number("batch_size", args.batch_size, minimum=1)
    bundle = load_bundle(args.bundle)
    id_column = parse_columns(args.id)[0] if args.id is not None else None
    spec = bundle.source_spec(args.data, labelled=False, **bundle_overrides(args, label=False),
                              id=id_column)
    accounting = RowAccounting(strict=spec.strict, log_skips=True)
    batches = bundle.predict_rows(spec, accounting, args.batch_size, args.device)
    with_id = id_column is not None
    writer = Writer(bundle.labels.names, accounting.files, jsonl=bool(args.output and args.output.endswith(".jsonl")),
                    with_id=with_id)

    def write(out) -> None:
        for records, skipped, probabilities in batches:
            out.write(writer.write(answers(records, skipped, probabilities, with_id=with_id)))

    if args.output:
        write_atomic(args.output, write)
    else:
        write(sys.stdout.buffer)
    if accounting.rows_read != accounting.rows_used:
        print(f"streamfit: {accounting.summary()}", file=sys.stderr)
    return 0


def answers(records: pa.RecordBatch, skipped: pa.RecordBatch, probabilities: np.ndarray,
            *, with_id: bool = False) -> pa.Table:
    """Records and the skipped rows among them, merged in (source, line) order.

    Args:
        with_id: add the records' `id` column (null for skipped rows, and for
            a batch without records, which may lack the column).

    Returns:
        A table of (source, line, best: class id or null, probability or null,
        skipped: cause or null[, id]), one row per input row.
    """
    best = probabilities.argmax(axis=1)
    probability = probabilities[np.arange(len(best)), best].round(6)
    sources = np.asarray(records.column("source"), np.int32)
    lines = np.asarray(records.column("line"), np.int64)
    ids = None
    if with_id:
        ids = (records.column("id") if "id" in records.schema.names
               else pa.nulls(records.num_rows, pa.string()))
    if skipped.num_rows == 0:  # the common case: nothing to merge
        table = pa.table({"source": sources, "line": lines, "best": best, "probability": probability,
                          "skipped": pa.nulls(len(best), pa.string())})
        return table if ids is None else table.append_column("id", ids)
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
        "probability": pa.array(probability[picked] if len(best) else np.zeros(len(order), np.float32),
                                mask=~good),
        "skipped": cause.take(pa.array(order)),
    })
    if ids is None:
        return table
    return table.append_column("id", _chunk(ids).take(pa.array(picked, mask=~good)))


class Writer:
    """Turns `answers` tables into CSV or JSON Lines bytes, numbering the rows.

    Args:
        labels: the class names, by class id.
        files: the input files, by source index (the accounting's list, which
            the reader fills before the first batch).
        jsonl: JSON Lines instead of CSV.
        with_id: write the id column.
    """

    def __init__(self, labels: list[str], files: list[str], *, jsonl: bool, with_id: bool):
        self.files, self.jsonl, self.with_id = files, jsonl, with_id
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

    def write(self, table: pa.Table) -> bytes:
        count = table.num_rows
        row = pa.array(np.arange(self.rows + 1, self.rows + 1 + count, dtype=np.int64))
        self.rows += count
        file = self._file_names().take(table.column("source"))
        label = self.labels.take(table.column("best"))
        columns = {"row": row, "file": file, "line": table.column("line")}
        if self.with_id:
            columns["id"] = table.column("id")
        columns.update(label=label, probability=table.column("probability"), skipped=table.column("skipped"))
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
        parts += [', "label": ', label.fill_null("null"),
                  ', "probability": ', pc.cast(columns["probability"], pa.string()).fill_null("null"),
                  ', "skipped": ', _json_strings(columns["skipped"]), "}\n"]
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
