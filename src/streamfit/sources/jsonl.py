"""JSON Lines: one JSON object per line, fields chosen by key.

Each chunk of whole lines is parsed by `pyarrow.json.read_json` with the
wanted keys typed as strings (other keys are ignored unparsed). When the file
has numbers or booleans there, pyarrow refuses that schema; the chunk is then
parsed with type inference and the wanted columns turned into text, and the
file keeps that mode. Line i of the chunk is row i, which is checked (a blank
line breaks it); any chunk pyarrow cannot parse, or whose rows and lines
disagree, is parsed line by line with `json.loads`, so a bad line costs one
row and its line number stays exact.

Numbers and booleans as text (labels above all): one form, whichever path
parsed the line (`rows.number_text`). A float that is integral is its
integer (`1.0` and `1` are both the label "1", `1e2` is "100"); any other
float is its shortest repr (`0.5` -> "0.5", `1e-7` -> "1e-07"); `true` and
`false` are "true" and "false"; strings are kept as written (`"1.0"` stays
"1.0"). Data streams, so the form cannot depend on the column's other
values: a column of `0.0`/`1.0` gives the labels "0" and "1" and one of
`0.5`/`1.0` gives "0.5" and "1". A string that pyarrow would read as a date
or time stays as written.

Bad rows: "bad_json" (the line does not parse, is not an object, or holds an
object or array where text should be, an object where the label should be,
or a label list holding an object or list) and "missing_text_field" (none of
the text keys is there, or all are null). A missing or null label is
"missing_label".

A label may be a list of strings, numbers and booleans (each in the one text
form above). With `SourceSpec.multi_label` each element is a label and a
scalar is a one-element list (`rows.clean_label_lists`: `label_sep` splits
every string, labels are stripped, empty ones and a null element dropped,
repeats kept once); `[]` is a row with no labels, kept, while a null or
absent label stays "missing_label". Without it, a list's first element is the
label (`[]` is "missing_label") and rows with several count in
notes["several_labels"]. The id key (`SourceSpec.id`) is read as labels are, but a
missing or null id, or an object or array there, is a null id, never a bad
row (unless the key is also the text or label). Blank lines are not rows (notes["blank_lines"]). Invalid
UTF-8 in a text or label value is replaced and counted in
notes["invalid_utf8_rows"] on either path (elsewhere in a line, in another
key, it costs nothing). A line ends with "\\n", "\\r\\n" or a bare "\\r" (see `streams`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from streamfit.errors import OptionError, UserError
from streamfit.sources.rows import (
    Rows,
    build_lists,
    canonical_text,
    finish_rows,
    is_list,
    list_parts,
    number_text,
)
from streamfit.sources.spec import SourceSpec
from streamfit.sources.streams import iter_blocks, iter_line_chunks


def _keys(spec: SourceSpec) -> tuple[list[str], str | None, str | None]:
    """(text keys, label key or None, id key or None); OptionError for an index."""
    for role, columns in (("text", spec.text), ("label", (spec.label,)), ("id", (spec.id,))):
        numbered = [column for column in columns if isinstance(column, int)]
        if numbered:
            raise OptionError(role, numbered[0], "is an index, but JSON Lines fields are chosen "
                              "by key, not by index; give a key name")
    return list(spec.text), spec.label, spec.id


def _scalar_text(value) -> str | None:
    """A JSON value as text: strings as they are, numbers and booleans by `number_text`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return number_text(value)
    raise TypeError("an object or array where text is expected")


def _label_value(value) -> str | list | None:
    """A JSON label: text as `_scalar_text` makes it, or a list of such texts (None kept)."""
    if isinstance(value, list):
        return [_scalar_text(item) for item in value]
    return _scalar_text(value)


def _label_lists(chunked: pa.ChunkedArray) -> pa.Array | None:
    """A list column pyarrow inferred as lists of text; None when the line parser must read it.

    That is when an element is nested, or the column is malformed: pyarrow
    26 builds lists with offsets out of bounds when a list starts with null
    (`[null, "a"]`), so each chunk is validated first.
    """
    try:
        for chunk in chunked.chunks:
            chunk.validate(full=True)
        column = chunked.combine_chunks()
    except pa.ArrowException:
        return None
    values, rows = list_parts(column)
    if _lost_digits(values):
        return None
    texts = canonical_text(values)
    if texts is None:
        return None
    return build_lists(texts, rows, len(column), np.asarray(pc.is_null(column), dtype=bool))


def _lost_digits(column: pa.Array) -> bool:
    """True for a float column holding an integer too big for a float's 53 bits.

    pyarrow reads an integer above int64 as a float, so its digits are gone.
    """
    if not pa.types.is_floating(column.type) or len(column) == column.null_count:
        return False
    biggest = pc.max(pc.abs(column.fill_null(0))).as_py()
    return biggest >= 2.0 ** 53 and biggest != float("inf")


class _JsonLinesFile:
    """The state of reading one JSON Lines file."""

    def __init__(self, path: str, source: int, spec: SourceSpec):
        self.path, self.source, self.spec = path, source, spec
        self.text_keys, self.label_key, self.id_key = _keys(spec)
        self.wanted = list(dict.fromkeys(
            [*self.text_keys, *(key for key in (self.label_key, self.id_key) if key is not None)]))
        # The key read only as the id: an object or array there is a null id, not a bad row.
        self.id_only = (self.id_key if self.id_key not in (*self.text_keys, self.label_key)
                        else None)
        # The key read only as the label: there a list of scalars is several labels.
        self.label_list_key = (self.label_key if self.label_key not in (*self.text_keys, self.id_key)
                               else None)
        self.schema = pa.schema([(key, pa.string()) for key in self.wanted])
        self.infer = False
        # In inference mode, the wanted keys pyarrow must still read as strings
        # (it would otherwise turn "2020-01-01" into a timestamp).
        self.string_keys: set[str] = set()
        self.lines_before = 0
        self.rows_seen = 0

    def read(self) -> Iterator[Rows]:
        chunks = iter_line_chunks(iter_blocks(self.path, self.spec.encoding,
                                              self.spec.block_size))
        for chunk in chunks:
            count = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            columns = self._arrow(chunk)
            if columns is not None and len(columns[self.wanted[0]]) == count:
                lines = self.lines_before + 1 + np.arange(count, dtype=np.int64)
                bad, notes = [], {}
            else:
                columns, lines, bad, notes = self._exact(chunk)
            if self.lines_before == 0:
                self._check_keys(chunk, columns)
            self.lines_before += count
            yield self._finish(columns, lines, bad, notes)
        if self.rows_seen == 0:
            raise UserError(f"{self.path}: the file has no rows; remove it from the inputs "
                            "or add data")

    def _arrow(self, chunk: bytes) -> dict[str, pa.Array] | None:
        """Parse a chunk with pyarrow; None when it cannot."""
        read_options = pajson.ReadOptions(use_threads=False, block_size=len(chunk) + 1)
        attempts = [self.infer] if self.infer else [False, True]
        while attempts:
            infer = attempts.pop(0)
            if infer:
                strings = pa.schema([(key, pa.string()) for key in sorted(self.string_keys)])
                options = pajson.ParseOptions(explicit_schema=strings,
                                              unexpected_field_behavior="infer")
            else:
                options = pajson.ParseOptions(explicit_schema=self.schema,
                                              unexpected_field_behavior="ignore")
            try:
                table = pajson.read_json(pa.py_buffer(chunk), read_options=read_options,
                                         parse_options=options)
                names = table.column_names  # a key of invalid UTF-8 fails here
            except (pa.ArrowInvalid, UnicodeDecodeError):
                continue
            columns = {}
            for key in self.wanted:
                if key not in names:
                    columns[key] = pa.nulls(table.num_rows, pa.string())
                    continue
                if key == self.label_list_key and is_list(table.schema.field(key).type):
                    column = _label_lists(table.column(key))
                    if column is None:
                        return None
                    columns[key] = column
                    continue
                column = table.column(key).combine_chunks()
                if _lost_digits(column):
                    return None  # the per-line parser keeps the integer's digits
                column = canonical_text(column)
                if column is None and infer and key not in self.string_keys:
                    # A date or time pyarrow inferred: read the key as a string.
                    self.string_keys.add(key)
                    attempts.insert(0, True)
                    break
                if column is None:
                    return None
                columns[key] = column
            else:
                self.infer = infer
                return columns
        return None

    def _exact(self, chunk: bytes) -> tuple[dict[str, pa.Array], np.ndarray, list, dict]:
        """Parse a chunk line by line with `json.loads`: (columns, lines, bad rows, notes)."""
        lines = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            lines.pop()
        values: dict[str, list] = {key: [] for key in self.wanted}
        good, bad_json, blank = [], [], 0
        for number, raw in enumerate(lines, start=self.lines_before + 1):
            if not raw.strip():
                blank += 1
                continue
            try:
                # Invalid bytes become lone surrogates and go back to bytes in
                # the values, so `finish_rows` repairs and counts them as it
                # does for pyarrow's columns (in text and label values only).
                row = json.loads(raw.decode("utf-8", "surrogateescape"))
                if not isinstance(row, dict):
                    raise TypeError("not an object")
                fields = [self._id_text(row.get(key)) if key == self.id_only
                          else _label_value(row.get(key)) if key == self.label_list_key
                          else _scalar_text(row.get(key)) for key in self.wanted]
            except (ValueError, TypeError):
                bad_json.append(number)
                continue
            good.append(number)
            for key, value in zip(self.wanted, fields, strict=True):
                values[key].append(_encoded(value))
        columns = {key: self._column(key, values[key]) for key in self.wanted}
        return (columns, np.asarray(good, dtype=np.int64),
                [("bad_json", np.asarray(bad_json, dtype=np.int64))], {"blank_lines": blank})

    def _column(self, key: str, values: list) -> pa.Array:
        """The exact path's column of one key: binary, or lists of binary for list labels."""
        if key != self.label_list_key or not (
                self.spec.multi_label or any(isinstance(value, list) for value in values)):
            return pa.array(values, pa.binary())
        return pa.array([value if value is None or isinstance(value, list) else [value]
                         for value in values], pa.list_(pa.binary()))

    @staticmethod
    def _id_text(value) -> str | None:
        try:
            return _scalar_text(value)
        except TypeError:
            return None

    def _finish(self, columns: dict[str, pa.Array], lines: np.ndarray, bad: list,
                notes: dict[str, int]) -> Rows:
        self.rows_seen += len(lines) + sum(len(rows) for _, rows in bad)
        texts = [columns[key] for key in self.text_keys]
        no_text = np.ones(len(lines), dtype=bool)
        for text in texts:
            no_text &= np.asarray(pc.is_null(text), dtype=bool)
        if no_text.any():
            bad = [*bad, ("missing_text_field", lines[no_text])]
            keep = pa.array(~no_text)
            texts = [text.filter(keep) for text in texts]
            columns = {key: column.filter(keep) for key, column in columns.items()}
            lines = lines[~no_text]
        label = columns[self.label_key] if self.label_key is not None else None
        ids = columns[self.id_key] if self.id_key is not None else None
        return finish_rows(texts, label, lines, self.source, bad, notes=notes, ids=ids,
                           multi_label=self.spec.multi_label, label_sep=self.spec.label_sep)

    def _check_keys(self, chunk: bytes, columns: dict[str, pa.Array]) -> None:
        """Fail early when a wanted key is in no object of the first chunk.

        A key whose values are all null in the first chunk, and that the first
        object does not have either, is taken as absent.
        """
        first = next((line for line in chunk.split(b"\n") if line.strip()), b"{}")
        try:
            obj = json.loads(first.decode("utf-8", "surrogateescape"))
        except ValueError:
            obj = None
        have = list(obj) if isinstance(obj, dict) else []
        for key in self.wanted:
            column = columns[key]
            if key in have or len(column) == 0 or column.null_count < len(column):
                continue
            role = ("text" if key in self.text_keys else "label" if key == self.label_key
                    else "id")
            names = ", ".join(repr(name) for name in have) or "no readable keys"
            raise OptionError(role, key, f"is no key of the objects in {self.path}; the first "
                              f"one has {names}; give one of them")


def _encoded(value: str | list | None) -> bytes | list | None:
    """A value (or list of values) back to bytes, invalid UTF-8 restored (surrogateescape)."""
    if isinstance(value, list):
        return [_encoded(item) for item in value]
    return None if value is None else value.encode("utf-8", "surrogateescape")


def read_jsonl(path: str, source: int, spec: SourceSpec) -> Iterator[Rows]:
    """Yield the parsed chunks of one JSON Lines file.

    Raises:
        OptionError: the `text`, `label` or `id` column is an index, or a key
            that no object of the first chunk has.
        UserError: for an empty file.
    """
    yield from _JsonLinesFile(path, source, spec).read()

