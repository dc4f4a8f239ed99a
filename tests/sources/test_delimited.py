import csv
import gzip
import io
import sys

import numpy as np
import pytest

from streamfit.errors import DataError, UserError
from streamfit.sources import delimited
from streamfit.sources.delimited import last_row_end, parse_records, quoting_is_regular

PLANTED = (
    'label,text\n'                       # 1
    '1,"first row\n'                     # 2
    'spans three\n'                      # 3
    'lines"\n'                           # 4
    '0,plain row\n'                      # 5
    '1,"a ""quoted"" word and\n'         # 6
    'a newline"\n'                       # 7
    ',no label here\n'                   # 8  missing_label
    '0,too,many\n'                       # 9  wrong_field_count
    '1,"   "\n'                          # 10 empty_text
    '0,"good again\n'                    # 11
    'after the bad rows"\n'              # 12
    '1,"broken "quote" here\n'           # 13 broken_quoting
    '0,last good row\n'                  # 14
)


@pytest.mark.parametrize("block_size", [1, 7, 64, 1 << 22])
def test_planted_bad_rows_exact_counts_and_lines(tmp_path, block_size, read):
    path = tmp_path / "planted.csv"
    path.write_text(PLANTED)
    rows, acc = read(path, block_size=block_size)
    assert [(r["label"], r["text"], r["line"]) for r in rows] == [
        ("1", "first row\nspans three\nlines", 2), ("0", "plain row", 5),
        ("1", 'a "quoted" word and\na newline', 6), ("0", "good again\nafter the bad rows", 11),
        ("0", "last good row", 14)]
    assert acc.rows_read == 9 and acc.rows_used == 5
    assert acc.skipped == {"missing_label": 1, "wrong_field_count": 1, "empty_text": 1,
                           "broken_quoting": 1}
    p = str(path)
    assert acc.examples == {"missing_label": [f"{p}:8"], "wrong_field_count": [f"{p}:9"],
                            "empty_text": [f"{p}:10"], "broken_quoting": [f"{p}:13"]}


def test_strict_names_the_first_bad_row(tmp_path, read):
    path = tmp_path / "planted.csv"
    path.write_text(PLANTED)
    with pytest.raises(DataError, match=rf"^{path}:8: missing_label; fix the row, or read "
                                        "without strict to skip and count bad rows$"):
        read(path, strict=True)
    path.write_text(PLANTED.replace(",no label here", "1,has a label"))
    with pytest.raises(DataError, match=rf"^{path}:9: wrong_field_count;"):
        read(path, strict=True)


def test_clean_file_in_strict_mode(tmp_path, read):
    path = tmp_path / "ok.csv"
    path.write_text('label,text\n1,"a\nb"\n0,c\n')
    rows, acc = read(path, strict=True)
    assert [r["line"] for r in rows] == [2, 4]


def test_unclosed_quote_costs_one_row(tmp_path, read):
    path = tmp_path / "open.csv"
    path.write_text('label,text\n1,fine\n0,"never closed\n1,after it\n0,"ok"\n')
    rows, acc = read(path)
    assert [(r["text"], r["line"]) for r in rows] == [("fine", 2), ("after it", 4), ("ok", 5)]
    assert acc.skipped == {"broken_quoting": 1}
    assert acc.examples["broken_quoting"] == [f"{path}:3"]


def test_unclosed_quote_longer_than_the_limit(tmp_path, monkeypatch, read):
    monkeypatch.setattr(delimited, "MAX_RECORD_BYTES", 100)
    body = "".join(f"{i % 2},row {i}\n" for i in range(40))
    path = tmp_path / "open.csv"
    path.write_text('label,text\n0,"opens here\n' + body)
    rows, acc = read(path, block_size=16)
    assert len(rows) == 40 and rows[0]["line"] == 3 and rows[-1]["line"] == 42
    assert acc.examples["broken_quoting"] == [f"{path}:2"]


def test_stray_quote_inside_unquoted_field_is_text(tmp_path, read):
    path = tmp_path / "inch.csv"
    path.write_text('label,text\n1,a 5" screen\n0,"b\nc"\n1,d\n')
    rows, acc = read(path)
    assert [(r["text"], r["line"]) for r in rows] == [('a 5" screen', 2), ("b\nc", 3), ("d", 5)]
    assert acc.skipped == {}


def test_headerless_file_by_index(tmp_path, read):
    path = tmp_path / "plain.csv"
    path.write_text('pos,"great film"\nneg,awful\n')
    rows, _ = read(path, header=False, text=(1,), label=0)
    assert [(r["label"], r["text"], r["line"]) for r in rows] == [
        ("pos", "great film", 1), ("neg", "awful", 2)]


def test_name_without_header_is_a_user_error(tmp_path, read):
    path = tmp_path / "plain.csv"
    path.write_text("pos,great\n")
    with pytest.raises(UserError, match=r"^text='text' is a name, but .*plain.csv is read without "
                                        r"a header, so its columns have no names"):
        read(path, header=False, text=("text",), label=0)


def test_unknown_columns_name_the_available_ones(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text("sentiment,review\n1,good\n")
    with pytest.raises(UserError, match=r"^text='text' is not a column of .*a.csv; its columns are "
                                        r"'sentiment', 'review'"):
        read(path, label="sentiment")
    with pytest.raises(UserError, match=r"^label='label' is not a column of .*a.csv; its columns "
                                        r"are 'sentiment', 'review'"):
        read(path, text=("review",))
    with pytest.raises(UserError, match=r"^text=5 is out of range: .*a.csv has 2"):
        read(path, text=(5,), label=0)


def test_unlabelled_read_ignores_labels(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text("id,text\n7,hello\n8,\n")
    rows, acc = read(path, label=None)
    assert rows == [{"text": "hello", "label": None, "source": 0, "line": 2},
                    {"text": "", "label": None, "source": 0, "line": 3}]
    assert acc.skipped == {}


def test_several_text_columns_and_labels_stay_strings(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text('title,label,body\nHi,01,there\n"A, B",2.0,c\n')
    rows, _ = read(path, text=("title", "body"))
    assert [(r["label"], r["text"]) for r in rows] == [("01", "Hi there"), ("2.0", "A, B c")]
    rows, _ = read(path, text=(2, 0), label=1)
    assert [r["text"] for r in rows] == ["there Hi", "c A, B"]


def test_crlf_blank_lines_and_na_values(tmp_path, read):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b'label,text\r\n1,NA\r\n\r\n0,"x\r\ny"\r\n\r\n1,null\r\n')
    rows, acc = read(path)
    assert [(r["label"], r["text"], r["line"]) for r in rows] == [
        ("1", "NA", 2), ("0", "x\r\ny", 4), ("1", "null", 7)]
    assert acc.notes == {"blank_lines": 2}


def test_megabyte_field_and_nul_byte(tmp_path, read):
    big = "word " * 250_000 + '"quoted"\nand a newline'
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["label", "text"], ["1", big], ["0", "nul\x00inside"], ["1", "end"]])
    rows, acc = read(path, block_size=1 << 16)
    assert [(r["text"], r["line"]) for r in rows] == [(big, 2), ("nul\x00inside", 4), ("end", 5)]
    assert acc.skipped == {}


def test_latin1_file(tmp_path, read):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"label,text\nfr,caf\xe9 cr\xe8me\n")
    rows, acc = read(path, encoding="latin-1")
    assert rows[0]["text"] == "café crème" and acc.notes == {}


def test_invalid_utf8_is_replaced_and_counted(tmp_path, read):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"label,text\n1,fine\n0,bad \xff byte\n\xfe,label too\n")
    rows, acc = read(path)
    assert [(r["label"], r["text"]) for r in rows] == [
        ("1", "fine"), ("0", "bad \ufffd byte"), ("\ufffd", "label too")]
    assert acc.notes == {"invalid_utf8_rows": 2}


def test_tsv_has_no_quoting(tmp_path, read):
    path = tmp_path / "a.tsv"
    path.write_text('sentence\tlabel\nhe said "hi\t1\n"quoted" start\t0\na , b \t1\n')
    rows, acc = read(path, text=("sentence",))
    assert [(r["text"], r["label"], r["line"]) for r in rows] == [
        ('he said "hi', "1", 2), ('"quoted" start', "0", 3), ("a , b ", "1", 4)]


def test_empty_and_header_only_files(tmp_path, read):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserError, match=r"empty.csv: the file has no rows"):
        read(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("label,text\n")
    with pytest.raises(UserError, match=r"header.csv: the file has no rows below its header"):
        read(header_only)


def test_last_row_without_newline(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text('label,text\n1,a\n0,"b\nc"')
    rows, _ = read(path, block_size=3)
    assert [(r["text"], r["line"]) for r in rows] == [("a", 2), ("b\nc", 3)]


def test_parse_records_tracks_lines_and_stops_at_incomplete_rows():
    buf = b'a,b\n\n"x\ny",z\n"q"w,1\nlast,'
    records, blank, used = parse_records(buf, b",", b'"', at_eof=False)
    assert records == [(0, [b"a", b"b"]), (2, [b"x\ny", b"z"]), (4, None)]
    assert blank == 1 and used == len(buf) - len(b"last,")
    records, _, used = parse_records(buf, b",", b'"', at_eof=True)
    assert records[-1] == (5, [b"last", b""]) and used == len(buf)


def test_quote_parity_helpers():
    buf = b'1,"a\nb"\n2,"c""d"\n3,"e\n'
    data = np.frombuffer(buf, dtype=np.uint8)
    quotes = np.flatnonzero(data == ord('"'))
    assert last_row_end(buf, quotes) == buf.index(b"3,")
    assert quoting_is_regular(data, quotes, buf.index(b"3,"), ord(","))
    assert not quoting_is_regular(data, quotes, len(buf), ord(","))
    stray = b'1,ab"c\n'
    data = np.frombuffer(stray, dtype=np.uint8)
    assert not quoting_is_regular(data, np.flatnonzero(data == ord('"')), len(stray), ord(","))


def _reference_rows(path, text_index):
    """(line, label, text) per row with Python's csv module, counting lines by "\\n" only."""
    csv.field_size_limit(sys.maxsize)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        content = f.read()
    physical = io.StringIO(content)
    lines = iter(physical.read().split("\n"))
    reader = csv.reader(line + "\n" for line in lines)
    out, line = [], 1
    for row in reader:
        if row:
            out.append((line, row[0], row[text_index]))
        line = reader.line_num + 1
    return out[1:]


def test_real_imdb_train(datasets, read):
    path = datasets / "imdb" / "train.csv.gz"
    rows, acc = read(path)
    assert acc.rows_read == acc.rows_used == 25_000
    assert {r["label"] for r in rows} == {"0", "1"}
    assert [(r["line"], r["label"], r["text"]) for r in rows] == _reference_rows(path, 3)


def test_real_20newsgroups_lines_match_the_csv_module(datasets, read):
    path = datasets / "20newsgroups" / "test.csv.gz"
    rows, acc = read(path, block_size=1 << 18)
    assert acc.rows_used == 7_532 and acc.skipped == {}
    assert [(r["line"], r["label"], r["text"]) for r in rows] == _reference_rows(path, 3)


def test_real_sst2_tsv_with_quotes(datasets, read):
    rows, acc = read(datasets / "sst2" / "train.tsv.gz", text=("sentence",))
    assert acc.rows_used == 67_349 and acc.skipped == {}
    assert {r["label"] for r in rows} == {"0", "1"}
    assert rows[0]["text"] == "hide new secretions from the parental units "
    assert (rows[67]["line"], rows[67]["text"]) == (69, "'s a lousy one at that ")


def test_tsv_blank_lines_and_wrong_field_counts(tmp_path, read):
    path = tmp_path / "a.tsv"
    path.write_text("sentence\tlabel\nfine\t1\n\nno label column\nextra\t0\tcol\nlast\t0\n")
    rows, acc = read(path, text=("sentence",))
    assert [(r["text"], r["line"]) for r in rows] == [("fine", 2), ("last", 6)]
    assert acc.skipped == {"wrong_field_count": 2}
    assert acc.examples["wrong_field_count"] == [f"{path}:4", f"{path}:5"]
    assert acc.notes == {"blank_lines": 1}


@pytest.mark.parametrize("block_size", [1, 2, 5, 64])
def test_a_quoted_field_closing_at_a_block_end_does_not_end_the_row(tmp_path, read, block_size):
    path = tmp_path / "a.csv"
    path.write_bytes(b'label,text\naa","aaaa""\n"\r\n1,"x",\n"2","y"\n')
    rows, acc = read(path, text=(1,), label=0, block_size=block_size)
    assert [(r["label"], r["text"], r["line"]) for r in rows] == [
        ('aa"', 'aaaa"\n', 2), ("2", "y", 5)]
    assert acc.skipped == {"wrong_field_count": 1} and acc.notes == {}


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_wrong_width_row_of_invalid_utf8_is_counted_without_warnings(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_bytes(b"label,text\n1,ok\n0,\xff,extra\n1,fine \xff\n")
    rows, acc = read(path)
    assert [r["text"] for r in rows] == ["ok", "fine \ufffd"]
    assert acc.skipped == {"wrong_field_count": 1} and acc.notes == {"invalid_utf8_rows": 1}
