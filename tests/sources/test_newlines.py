"""Bare "\\r", "\\n" and "\\r\\n" all end a record, as in Python's csv module (newline="")."""

import csv
import io
import json
import re

import pytest

from streamfit.sources.streams import normalize_newlines

ENDINGS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def _csv_rows(text):
    """Python's csv module: (line where the row starts, fields) of the non-blank rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out, start = [], 1
    for fields in reader:
        if fields:
            out.append((start, fields))
        start = reader.line_num + 1
    return out


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("block_size", [1, 2, 5, 64, 1 << 20])
def test_csv_endings_match_the_csv_module(tmp_path, read, ending, block_size):
    eol = ENDINGS[ending]
    lines = ["label,text"] + [f'{i % 3},"row {i}"' if i % 2 else f"{i % 3},row {i}"
                              for i in range(100)]
    text = eol.join(lines) + eol
    path = tmp_path / "mac.csv"
    path.write_bytes(text.encode())
    rows, acc = read(path, block_size=block_size)
    expected = _csv_rows(text)[1:]
    assert acc.rows_read == 100 and acc.rows_used == 100 and not acc.skipped
    assert [(r["line"], [r["label"], r["text"]]) for r in rows] == expected


@pytest.mark.parametrize("block_size", [1, 3, 1 << 20])
def test_mixed_endings_and_quoted_line_breaks(tmp_path, read, block_size):
    text = 'label,text\r1,"a\r\nb"\n0,"c\rd"\r\r\n2,plain\r\n3,"x\ny"\r'
    path = tmp_path / "mixed.csv"
    path.write_bytes(text.encode())
    rows, acc = read(path, block_size=block_size)
    expected = _csv_rows(text)[1:]
    # A bare "\r" inside a quoted field is read as "\n" (a line break either way).
    assert [(r["line"], [r["label"], r["text"]]) for r in rows] == [
        (line, [label, re.sub("\r(?!\n)", "\n", value)])
        for line, (label, value) in expected]
    assert acc.rows_read == 4 and acc.notes.get("blank_lines") == 1


@pytest.mark.parametrize("block_size", [1, 4, 1 << 20])
def test_tsv_bare_cr(tmp_path, read, block_size):
    path = tmp_path / "mac.tsv"
    path.write_bytes(b"label\ttext\r1\tone\r0\ttwo\r\r1\tthree")
    rows, acc = read(path, block_size=block_size)
    assert [(r["line"], r["label"], r["text"]) for r in rows] == [
        (2, "1", "one"), (3, "0", "two"), (5, "1", "three")]
    assert acc.rows_read == 3


@pytest.mark.parametrize("block_size", [1, 3, 1 << 20])
def test_fasttext_and_text_bare_cr(tmp_path, read, block_size):
    path = tmp_path / "mac.ft"
    path.write_bytes(b"__label__a one\r__label__b two\r\n__label__a three\r\r__label__b four\r")
    rows, acc = read(path, block_size=block_size)
    assert [(r["line"], r["label"], r["text"]) for r in rows] == [
        (1, "a", "one"), (2, "b", "two"), (3, "a", "three"), (5, "b", "four")]
    assert acc.rows_read == 4
    path = tmp_path / "mac.txt"
    path.write_bytes(b"one\rtwo\r\nthree\r")
    rows, acc = read(path, label=None, block_size=block_size)
    assert [(r["line"], r["text"]) for r in rows] == [(1, "one"), (2, "two"), (3, "three")]


@pytest.mark.parametrize("block_size", [1, 3, 1 << 20])
def test_jsonl_bare_cr(tmp_path, read, block_size):
    objects = [{"text": f"row {i}", "label": i % 2} for i in range(10)]
    path = tmp_path / "mac.jsonl"
    path.write_bytes("\r".join(json.dumps(o) for o in objects).encode() + b"\r")
    rows, acc = read(path, block_size=block_size)
    assert [(r["line"], r["text"], r["label"]) for r in rows] == [
        (i + 1, f"row {i}", str(i % 2)) for i in range(10)]
    assert acc.rows_read == 10


def test_normalize_newlines_across_blocks():
    for blocks, expected in [
        ([b"a\r", b"\nb"], b"a\r\nb"), ([b"a\r", b"b\r"], b"a\nb\n"), ([b"a\r\r", b"\n"], b"a\n\r\n"),
        ([b"\r"], b"\n"), ([b"a\r\nb"], b"a\r\nb"), ([b"\r", b"\r", b"\n"], b"\n\r\n"),
    ]:
        out = list(normalize_newlines(iter(blocks)))
        assert b"".join(out) == expected, blocks
        assert all(out)


def test_normalize_newlines_passes_blocks_without_bare_cr_through():
    block = b"x,y\r\n" * 1000
    assert next(normalize_newlines(iter([block]))) is block
