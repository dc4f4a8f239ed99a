import pytest

from streamfit.errors import UserError
from streamfit.sources.lines import split_lines

FASTTEXT = (
    "__label__a hello world\n"          # 1
    "__label__b __label__c multi\n"     # 2 several labels -> b
    "no label line\n"                   # 3 missing_label
    "\n"                                # 4 blank
    "__label__ empty label\r\n"         # 5 missing_label (empty)
    "__label__d    \n"                  # 6 empty_text
    "mid __label__x text"               # 7 label anywhere, no final newline
)


@pytest.mark.parametrize("block_size", [4, 1 << 20])
def test_fasttext_labels(tmp_path, read, block_size):
    path = tmp_path / "train.ft"
    path.write_text(FASTTEXT)
    rows, acc = read(path, block_size=block_size)
    assert [(r["label"], r["text"], r["line"]) for r in rows] == [
        ("a", "hello world", 1), ("b", "multi", 2), ("x", "mid text", 7)]
    assert acc.skipped == {"missing_label": 2, "empty_text": 1}
    assert acc.examples["missing_label"] == [f"{path}:3", f"{path}:5"]
    assert acc.notes == {"blank_lines": 1, "several_labels": 1}


def test_fasttext_unlabelled_read_drops_label_words(tmp_path, read):
    path = tmp_path / "test.txt"
    path.write_text(FASTTEXT)
    rows, acc = read(path, format="fasttext", label=None)
    # unlabelled rows are kept even when empty: one prediction per input row
    assert [r["text"] for r in rows] == ["hello world", "multi", "no label line", "empty label",
                                         "", "mid text"]
    assert {r["label"] for r in rows} == {None}
    assert acc.skipped == {}


def test_text_format_one_document_per_line(tmp_path, read):
    path = tmp_path / "docs.txt"
    path.write_bytes(b"first doc\r\n\n  \nsecond \xff doc\nlast")
    rows, acc = read(path, label=None)
    assert [(r["text"], r["line"]) for r in rows] == [
        ("first doc", 1), ("  ", 3), ("second \ufffd doc", 4), ("last", 5)]
    assert acc.skipped == {}
    assert acc.notes == {"blank_lines": 1, "invalid_utf8_rows": 1}


def test_text_format_refuses_labels_and_empty_files(tmp_path, read):
    path = tmp_path / "docs.txt"
    path.write_text("a\n")
    with pytest.raises(UserError, match="the text format holds unlabelled documents"):
        read(path)
    path.write_text("\n")
    with pytest.raises(UserError, match="docs.txt: the file has no rows"):
        read(path, label=None)


def test_split_lines_keeps_line_breaks_without_copying():
    assert split_lines(b"a\nbc\r\n\nd").to_pylist() == [b"a\n", b"bc\r\n", b"\n", b"d"]
    assert split_lines(b"a\n").to_pylist() == [b"a\n"]
