"""Line formats: fastText ("__label__X text") and plain text (one document per line).

A chunk of whole lines becomes one Arrow array of lines without copying (the
offsets come from a numpy scan for "\\n"); labels and text are then cut out
with RE2 regular expressions over the whole array.

fastText: every word starting with "__label__" is a label, wherever it stands
(as fastText itself reads it); the first one is the row's label and rows with
more than one are counted in notes["several_labels"]. With
`SourceSpec.multi_label` every label word is kept, in order (a list label,
see `rows.clean_label_lists`), and a line without a label word is a row with
no labels, kept. The text is the line without its labels, trimmed. A line
without a label is "missing_label" in a labelled single-label read; in an
unlabelled one (label=None) labels are still removed from the text.

text: each line is an unlabelled document, kept as it is (without its line
break). Blank lines are not rows in either format (notes["blank_lines"]);
lines of only spaces are "empty_text". Neither format has columns, so an id
column is refused (`check_id`). A line ends with "\\n", "\\r\\n" or a
bare "\\r" (see `streams`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streamfit.errors import OptionError, UserError
from streamfit.sources.rows import Rows, build_lists, finish_rows, list_parts, to_utf8
from streamfit.sources.spec import SourceSpec
from streamfit.sources.streams import iter_blocks, iter_line_chunks

LF = ord("\n")
LABEL_WORD = r"(?:^|\s)__label__"
LABEL_PREFIX = "__label__"


def split_lines(chunk: bytes) -> pa.Array:
    """Return the lines of `chunk` as a binary array, each still ending with its "\\n".

    No copy: the array's offsets come from a numpy scan and its data is the
    chunk itself (values must be contiguous, so the line breaks stay in).
    """
    data = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(data == LF) + 1
    if not chunk.endswith(b"\n"):
        ends = np.append(ends, len(chunk))
    offsets = np.concatenate([[0], ends]).astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), len(ends),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(chunk)])


def check_label(spec: SourceSpec, fmt: str, path: str) -> None:
    """The text format holds no labels: refuse a labelled read of it."""
    if fmt == "text" and spec.label is not None:
        raise UserError(f"{path}: the text format holds unlabelled documents, one per line; "
                        "use the fasttext format for '__label__' lines, or read it without "
                        "labels (for prediction)")


def check_id(spec: SourceSpec, fmt: str, path: str) -> None:
    """Lines have no columns: refuse an id column (`SourceSpec.id`) for them."""
    if fmt in ("fasttext", "text") and spec.id is not None:
        raise OptionError("id", spec.id, f"names a column, but {path} is read as {fmt} lines, "
                          "which have no columns; drop the id or give the format csv, tsv, "
                          "jsonl or parquet")


def read_lines(path: str, source: int, spec: SourceSpec, fmt: str) -> Iterator[Rows]:
    """Yield the parsed chunks of one fastText (`fmt` "fasttext") or text file.

    Raises:
        UserError: for an empty file, or a labelled read of a text file.
    """
    check_label(spec, fmt, path)
    lines_before = rows_seen = 0
    for chunk in iter_line_chunks(iter_blocks(path, spec.encoding, spec.block_size)):
        lines, invalid = to_utf8(split_lines(chunk))
        lines = pc.utf8_rtrim(lines, characters="\r\n")
        numbers = np.arange(lines_before + 1, lines_before + 1 + len(lines), dtype=np.int64)
        lines_before += len(lines)
        filled = np.asarray(pc.greater(pc.binary_length(lines), 0), dtype=bool)
        notes = {"blank_lines": int((~filled).sum()),
                 "invalid_utf8_rows": 0 if invalid is None else int(invalid[filled].sum())}
        if not filled.all():
            lines, numbers = lines.filter(pa.array(filled)), numbers[filled]
        rows_seen += len(lines)
        if fmt == "fasttext":
            text, label = _fasttext(lines, spec.label is not None, notes, spec.multi_label)
        else:
            text, label = lines, None
        yield finish_rows([text], label, numbers, source, notes=notes,
                          multi_label=spec.multi_label, label_sep=spec.label_sep)
    if rows_seen == 0:
        raise UserError(f"{path}: the file has no rows; remove it from the inputs or add data")


def _fasttext(lines: pa.Array, labelled: bool, notes: dict[str, int],
              multi_label: bool = False) -> tuple[pa.Array, pa.Array | None]:
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(lines, r"(?:^|\s+)__label__\S*", ""))
    if not labelled:
        return text, None
    if multi_label:
        return text, label_words(lines)
    several = pc.greater(pc.count_substring_regex(lines, LABEL_WORD), 1)
    notes["several_labels"] = int(pc.sum(several).as_py() or 0)
    label = pc.struct_field(pc.extract_regex(lines, LABEL_WORD + r"(?P<label>\S*)"), "label")
    return text, label


def label_words(lines: pa.Array) -> pa.Array:
    """Every `__label__` word of each line, without the prefix, in order (a list array).

    Words are split at the whitespace `LABEL_WORD` sees (RE2's `\\s`: tab,
    line feed, form feed, carriage return, space), so the labels are those
    the single-label read takes the first of; a line without one has an
    empty list. Arrow's ASCII split, six times faster than a regex split,
    also splits at a vertical tab: a chunk holding one takes the regex.
    """
    if pc.any(pc.match_substring(lines, "\v")).as_py():
        words = pc.split_pattern_regex(lines, r"\s+")
    else:
        words = pc.ascii_split_whitespace(lines)
    words, rows = list_parts(words)
    found = np.asarray(pc.starts_with(words, LABEL_PREFIX), dtype=bool)
    labels = pc.utf8_slice_codeunits(words.filter(pa.array(found)), len(LABEL_PREFIX))
    return build_lists(labels, rows[found], len(lines))
