"""Property tests: the readers against Python's `csv` and `json` modules as oracles.

Generated files (random fields with quotes, delimiters, NULs, invalid UTF-8
in names and values, line breaks of the three kinds inside quoted fields and
as record ends, blank lines, rows of the wrong width, blank labels and texts)
are read with streamfit and with the oracle, which says what each row is:

CSV/TSV (`csv.reader` with newline="", quoting off for TSV, on the bytes
decoded with surrogateescape): the first non-empty record is the header;
every later non-empty record is a row read, starting at the line after the
previous record (`reader.line_num`). A row with another field count than the
header is "wrong_field_count"; otherwise its label (column 0) and text
(column 1) have invalid bytes replaced by U+FFFD and a bare "\\r" read as
"\\n", the label is stripped, an empty label is "missing_label", then a text
that is empty or only whitespace is "empty_text"; the rest are used, as
(label, text, line).

JSON Lines (lines split at "\\r\\n", "\\r" or "\\n"; `json.loads`): a line
that is empty or only whitespace is blank; one that does not parse, is not an
object, or holds an object or array as text, an object as label, or a label
list holding an object or list is "bad_json"; no text (missing or null) is
"missing_text_field"; a label list gives its first element (None when empty;
more than one element is noted "several_labels"); a null, missing or blank
label is "missing_label"; a blank text is "empty_text"; numbers and booleans
take the documented text form (an integral float is its integer, other floats
their repr, booleans "true"/"false"). Read with multi_label, the label is the
list of its elements (a scalar one element) split on ";", each repaired,
stripped, blank ones and null ones dropped, repeats kept once: only a null or
missing label is "missing_label".

Both readers must give exactly those rows, skip causes and notes. Mutated
files (bytes inserted, deleted or the file truncated) must read without a
crash (only UserError/DataError), with rows read = used + skipped and used
rows in increasing line order.
"""

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamfit.errors import UserError
from streamfit.sources import RowAccounting, SourceSpec, iter_records

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
BLOCK_SIZES = st.sampled_from([5, 64, 1 << 20])
ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])
PIECES = [b"a", b"b", b"Z", b" ", b"\t", b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xff",
          b"\xc3\xa9", b"\xc3", b"1", b"P", b"p", b"__label__"]


def _repair(value: str) -> str:
    """Invalid UTF-8 (decoded with surrogateescape) replaced by U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _fix(value: str) -> str:
    """A CSV field as streamfit reads it: repaired, a bare "\\r" read as "\\n"."""
    return re.sub("\r(?!\n)", "\n", _repair(value))


def _invalid(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def _read(path, **options):
    accounting = RowAccounting()
    rows = []
    for batch in iter_records(SourceSpec((str(path),), **options), accounting):
        rows.extend((r["label"], r["text"], r["line"]) for r in batch.to_pylist())
    assert accounting.rows_used == len(rows)
    assert accounting.rows_read == len(rows) + sum(accounting.skipped.values())
    return rows, accounting


def _case_note(used_labels) -> int:
    groups: dict[str, set[str]] = {}
    for label in used_labels:
        groups.setdefault(label.casefold(), set()).add(label)
    return sum(len(group) for group in groups.values() if len(group) > 1)


def _expect(records, width):
    """(used rows, skipped by cause, notes) for rows of (line, fields) decoded with surrogateescape."""
    used, skipped = [], {}
    notes = {"invalid_utf8_rows": 0, "labels_stripped": 0}
    for line, fields in records:
        if len(fields) != width:
            skipped["wrong_field_count"] = skipped.get("wrong_field_count", 0) + 1
            continue
        label, text = fields[0], fields[1]
        notes["invalid_utf8_rows"] += _invalid(label) or _invalid(text)
        label, text = _fix(label), _fix(text)
        notes["labels_stripped"] += label != label.strip()
        if not label.strip():
            cause = "missing_label"
        elif not text.strip():
            cause = "empty_text"
        else:
            used.append((label.strip(), text, line))
            continue
        skipped[cause] = skipped.get(cause, 0) + 1
    notes["labels_differing_by_case"] = _case_note(label for label, _, _ in used)
    return used, skipped, notes


def _nonzero(notes):
    return {name: count for name, count in notes.items() if count}


# CSV and TSV ---------------------------------------------------------------

def _field(draw, tsv: bool) -> bytes:
    pieces = draw(st.lists(st.sampled_from(PIECES), max_size=6))
    if tsv:
        return b"".join(p for p in pieces if p not in (b"\t", b"\n", b"\r", b"\r\n"))
    if draw(st.booleans()):
        return b'"' + b"".join(pieces).replace(b'"', b'""') + b'"'
    body = b"".join(p for p in pieces if p not in (b",", b"\n", b"\r", b"\r\n"))
    return body.lstrip(b'"')


@st.composite
def delimited_files(draw, tsv: bool):
    width = draw(st.integers(2, 3))
    delimiter = b"\t" if tsv else b","
    names = [b"label", b"text", b"extra\xff"][:width]
    out = delimiter.join(names) + draw(ENDS)
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 9)) == 0:
            out += draw(ENDS)  # a blank line
        count = width if draw(st.integers(0, 5)) else draw(st.integers(1, 4))
        out += delimiter.join(_field(draw, tsv) for _ in range(count)) + draw(ENDS)
    if draw(st.booleans()):
        out = out.rstrip(b"\r\n")
        if out.endswith(b'"') and not tsv:
            out += b"\n"  # keep a closing quote closed; truncation is the mutated test's
    return out, width


def _csv_oracle(data: bytes, tsv: bool):
    text = data.decode("utf-8", "surrogateescape")
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {}
    reader = csv.reader(io.StringIO(text, newline=""), **options)
    records, header, blank, start = [], None, 0, 1
    for fields in reader:
        if header is None:
            header = fields or None
        elif not fields:
            blank += 1
        else:
            records.append((start, fields))
        start = reader.line_num + 1
    return header, records, blank


@pytest.mark.parametrize("tsv", [False, True], ids=["csv", "tsv"])
@SETTINGS
@given(data=st.data())
def test_delimited_matches_the_csv_module(tmp_path, tsv, data):
    content, width = data.draw(delimited_files(tsv))
    block_size = data.draw(BLOCK_SIZES)
    path = tmp_path / ("f.tsv" if tsv else "f.csv")
    path.write_bytes(content)
    header, records, blank = _csv_oracle(content, tsv)
    assert header is not None and len(header) == width
    used, skipped, notes = _expect(records, width)
    if not records:
        with pytest.raises(UserError, match="has no rows"):
            _read(path, text=(1,), label=0, block_size=block_size)
        return
    rows, acc = _read(path, text=(1,), label=0, block_size=block_size)
    assert rows == used
    assert acc.skipped == skipped
    assert acc.rows_read == len(records)
    assert acc.notes == _nonzero({**notes, "blank_lines": blank})


def _mutate(draw, content: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "truncate"]))
        at = draw(st.integers(0, len(content)))
        if kind == "insert":
            content = content[:at] + draw(st.sampled_from(PIECES)) + content[at:]
        elif kind == "delete":
            content = content[:at] + content[at + draw(st.integers(1, 4)):]
        else:
            content = content[:at]
    return content


def _survives(path, **options):
    try:
        rows, _ = _read(path, **options)
    except UserError:  # DataError and OptionError are UserErrors
        return
    lines = [line for _, _, line in rows]
    assert lines == sorted(set(lines))
    assert all(label and text.strip() for label, text, _ in rows)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@SETTINGS
@given(data=st.data())
def test_mutated_delimited_files_never_crash(tmp_path, fmt, data):
    content, _ = data.draw(delimited_files(fmt == "tsv"))
    path = tmp_path / f"f.{fmt}"
    path.write_bytes(_mutate(data.draw, content))
    _survives(path, text=(1,), label=0, block_size=data.draw(BLOCK_SIZES))


# JSON Lines ----------------------------------------------------------------

MARK = "\u2603INVALID\u2603"  # replaced by an invalid UTF-8 byte after json.dumps
STRINGS = st.lists(st.sampled_from(["a", "B", "b", " ", "\t", "\n", "\r", "\x00", "\u00e9",
                                    '"', "\\", "1", "Pos", "pos", MARK]),
                   max_size=5).map("".join)
SCALARS = st.one_of(STRINGS, st.integers(-3, 3), st.sampled_from([0.0, 1.0, 0.5, -2.0, 1e-7,
                                                                   1e16, 2.5]),
                    st.booleans(), st.none())
VALUES = st.one_of(SCALARS, st.just({"n": 1}), st.just([1, 2]))
LABEL_LISTS = st.lists(st.one_of(SCALARS, st.sampled_from(["a;b", " a ; ;B", "b;a"])), max_size=4)
LABELS = st.one_of(SCALARS, LABEL_LISTS, st.just([[1]]), st.just([{"n": 1}]))
KEYS = st.sampled_from(["text", "label", "other", "te" + MARK])


@st.composite
def jsonl_files(draw, labels=SCALARS):
    out = b""
    for _ in range(draw(st.integers(1, 12))):
        choice = draw(st.integers(0, 11))
        if choice == 0:
            line = draw(st.sampled_from([b"", b"  ", b"not json", b"[1, 2]", b'{"text": "a"',
                                         b"3"]))
        else:
            obj = draw(st.dictionaries(KEYS, VALUES, max_size=4))
            if choice > 3:
                obj.setdefault("text", draw(STRINGS))
                obj.setdefault("label", draw(labels))
            line = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode()
            line = line.replace(MARK.encode(), b"\xff").replace(
                json.dumps(MARK)[1:-1].encode(), b"\xff")
        out += line + draw(ENDS)
    if draw(st.booleans()):
        out = out.rstrip(b"\r\n")
    return out


def _number_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value if value is None or isinstance(value, str) else str(value)


def _jsonl_oracle(data: bytes, multi_label: bool = False):
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    used, skipped, blank, read = [], {}, 0, 0
    notes = {"invalid_utf8_rows": 0, "labels_stripped": 0, "several_labels": 0,
             "duplicate_labels": 0}

    def skip(cause):
        skipped[cause] = skipped.get(cause, 0) + 1

    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            blank += 1
            continue
        read += 1
        try:
            obj = json.loads(raw.decode("utf-8", "surrogateescape"))
        except ValueError:
            skip("bad_json")
            continue
        if (not isinstance(obj, dict) or isinstance(obj.get("text"), (dict, list))
                or isinstance(obj.get("label"), dict)
                or (isinstance(obj.get("label"), list)
                    and any(isinstance(item, (dict, list)) for item in obj["label"]))):
            skip("bad_json")
            continue
        text = _number_text(obj.get("text"))
        if text is None:
            skip("missing_text_field")
            continue
        label = obj.get("label")
        if multi_label:
            _multi_label_row(obj.get("label"), text, number, used, skip, notes)
            continue
        if isinstance(label, list):
            notes["several_labels"] += len(label) > 1
            label = label[0] if label else None
        label = _number_text(label)
        notes["invalid_utf8_rows"] += _invalid(text) or (label is not None and _invalid(label))
        text = _repair(text)  # an escaped "\\r" in a JSON string stays one
        label = None if label is None else _repair(label)
        notes["labels_stripped"] += label is not None and label != label.strip()
        if label is None or not label.strip():
            skip("missing_label")
        elif not text.strip():
            skip("empty_text")
        else:
            used.append((label.strip(), text, number))
    notes["labels_differing_by_case"] = _case_note(
        label for labels, _, _ in used for label in (labels if multi_label else [labels]))
    notes["blank_lines"] = blank
    return used, skipped, read, notes


def _multi_label_row(value, text, number, used, skip, notes):
    """The multi-label reading of one object's label (see the module docstring)."""
    if value is None:
        notes["invalid_utf8_rows"] += _invalid(text)
        skip("missing_label")
        return
    items = [_number_text(item) for item in (value if isinstance(value, list) else [value])]
    items = [item for item in items if item is not None]
    notes["invalid_utf8_rows"] += _invalid(text) or any(_invalid(item) for item in items)
    pieces = [piece for item in items for piece in _repair(item).split(";")]
    notes["labels_stripped"] += any(piece != piece.strip() for piece in pieces)
    pieces = [piece.strip() for piece in pieces if piece.strip()]
    labels = list(dict.fromkeys(pieces))
    notes["duplicate_labels"] += len(labels) < len(pieces)
    if not _repair(text).strip():
        skip("empty_text")
    else:
        used.append((labels, _repair(text), number))


@SETTINGS
@given(content=jsonl_files(), block_size=BLOCK_SIZES)
def test_jsonl_matches_the_json_module(tmp_path, content, block_size):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    used, skipped, read, notes = _jsonl_oracle(content)
    try:
        rows, acc = _read(path, block_size=block_size)
    except UserError as error:
        # No rows, or no object of the first chunk has the text or label key.
        assert not read or "is no key of the objects" in str(error), error
        return
    assert rows == used
    assert acc.skipped == skipped
    assert acc.rows_read == read
    assert acc.notes == _nonzero(notes)


@SETTINGS
@given(content=jsonl_files(LABELS), block_size=BLOCK_SIZES, multi_label=st.booleans())
def test_jsonl_label_lists_match_the_json_module(tmp_path, content, block_size, multi_label):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    used, skipped, read, notes = _jsonl_oracle(content, multi_label)
    options = {"multi_label": True, "label_sep": ";"} if multi_label else {}
    try:
        rows, acc = _read(path, block_size=block_size, **options)
    except UserError as error:
        assert not read or "is no key of the objects" in str(error), error
        return
    assert rows == used
    assert acc.skipped == skipped
    assert acc.rows_read == read
    assert acc.notes == _nonzero(notes)
    if multi_label and used:
        report = acc.to_dict()
        assert report["label_cardinality"] == pytest.approx(
            sum(len(labels) for labels, _, _ in used) / len(used))
        assert report["label_sets"] == len({frozenset(labels) for labels, _, _ in used})


@SETTINGS
@given(data=st.data())
def test_mutated_jsonl_files_never_crash(tmp_path, data):
    path = tmp_path / "f.jsonl"
    path.write_bytes(_mutate(data.draw, data.draw(jsonl_files())))
    _survives(path, block_size=data.draw(BLOCK_SIZES))


# fastText lines ------------------------------------------------------------

# RE2's \s (what the reader's LABEL_WORD sees): no vertical tab, nothing beyond ASCII.
FT_SPACE = "[\t\n\f\r ]"
FT_WORDS = ["a", "b", "B", "__label__", "__label__a", "__label__b", "__label__B", " ", "  ", "\t",
            "\v", "\f", "\x1c", "\u00a0", "\u00e9", "_", "x__label__y"]


@st.composite
def fasttext_files(draw):
    out = ""
    for _ in range(draw(st.integers(1, 10))):
        out += "".join(draw(st.lists(st.sampled_from(FT_WORDS), max_size=8)))
        out += draw(st.sampled_from(["\n", "\r\n"]))
    return out


def _arrow_label_count(line: str) -> int:
    """The reader's count of label words: Arrow's `count_substring_regex`, whose `^` matches
    again after each match ("__label____label__" counts two)."""
    count = pos = 0
    while match := re.search(f"(?:^|{FT_SPACE})__label__", line[pos:]):
        count, pos = count + 1, pos + match.end()
    return count


def _fasttext_oracle(content: str, multi_label: bool):
    used, skipped, notes = [], {}, {"blank_lines": 0, "several_labels": 0,
                                    "labels_stripped": 0, "duplicate_labels": 0}
    for number, line in enumerate(re.split("\r\n|\n", content)[:-1], start=1):
        if not line:
            notes["blank_lines"] += 1
            continue
        text = re.sub(f"(?:^|{FT_SPACE}+)__label__[^\t\n\f\r ]*", "", line).strip()
        raw = [word[9:] for word in re.split(f"{FT_SPACE}+", line) if word.startswith("__label__")]
        if multi_label:
            notes["labels_stripped"] += any(label != label.strip() for label in raw)
            pieces = [label.strip() for label in raw if label.strip()]
            label = list(dict.fromkeys(pieces))
            notes["duplicate_labels"] += len(label) < len(pieces)
            missing = False
        else:
            notes["several_labels"] += _arrow_label_count(line) > 1
            label = raw[0] if raw else None
            notes["labels_stripped"] += label is not None and label != label.strip()
            label = None if label is None else label.strip()
            missing = not label
        if missing:
            skipped["missing_label"] = skipped.get("missing_label", 0) + 1
        elif not text.strip():
            skipped["empty_text"] = skipped.get("empty_text", 0) + 1
        else:
            used.append((label, text, number))
    flat = (label for labels, _, _ in used for label in (labels if multi_label else [labels]))
    notes["labels_differing_by_case"] = _case_note(flat)
    return used, skipped, notes


@SETTINGS
@given(content=fasttext_files(), block_size=BLOCK_SIZES, multi_label=st.booleans())
def test_fasttext_labels_match_the_re_module(tmp_path, content, block_size, multi_label):
    path = tmp_path / "f.ft"
    path.write_bytes(content.encode())
    used, skipped, notes = _fasttext_oracle(content, multi_label)
    try:
        rows, acc = _read(path, block_size=block_size, multi_label=multi_label)
    except UserError as error:
        assert "has no rows" in str(error) and not used and not skipped
        return
    assert rows == used
    assert acc.skipped == skipped
    assert acc.notes == _nonzero(notes)
