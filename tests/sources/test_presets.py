import collections

import pyarrow as pa

from streamfit.sources.presets import ZhangUnescape, rows_with_byte


def test_newline_style_turns_backslash_n_into_line_breaks():
    unescape = ZhangUnescape()
    text = pa.array(["great food\\n\\nservice was slow", "plain", "c:\\dir"])
    assert unescape(text).to_pylist() == ["great food\n\nservice was slow", "plain", "c:\\dir"]
    assert unescape.style == "n"


def test_backslash_style_keeps_words_that_start_with_n():
    unescape = ZhangUnescape()
    text = pa.array(["for social\\network and a second\\team", "costs \\$5\\\\Next"])
    assert unescape(text).to_pylist() == ["for social\nnetwork and a second\nteam",
                                          "costs $5\n\nNext"]
    assert unescape.style == "backslash"
    # The style stays for the rest of the file.
    assert unescape(pa.array(["a\\nb"])).to_pylist() == ["a\nnb"]


def test_no_backslash_leaves_the_style_open():
    unescape = ZhangUnescape()
    assert unescape(pa.array(["abc", ""])).to_pylist() == ["abc", ""]
    assert unescape.style is None


def test_zhang_csv_layout(tmp_path, read):
    path = tmp_path / "train.csv"
    path.write_text('"1","Title one","Body with ""quotes""\\nand a break"\n'
                    '"2","","only a body"\n'
                    '"3","",""\n')
    rows, acc = read(path, preset="zhang")
    assert [(r["label"], r["text"], r["line"]) for r in rows] == [
        ("1", 'Title one Body with "quotes"\nand a break', 1), ("2", " only a body", 2)]
    assert acc.skipped == {"empty_text": 1}


def test_zhang_preset_respects_explicit_columns_and_no_labels(tmp_path, read):
    path = tmp_path / "train.csv"
    path.write_text('"1","title","body"\n')
    rows, _ = read(path, preset="zhang", text=(2,))
    assert (rows[0]["label"], rows[0]["text"]) == ("1", "body")
    rows, _ = read(path, preset="zhang", label=None)
    assert (rows[0]["label"], rows[0]["text"]) == (None, "title body")


def test_real_ag_news(datasets, read):
    rows, acc = read(datasets / "ag_news" / "test.csv.gz", preset="zhang")
    assert acc.rows_read == acc.rows_used == 7_600
    assert collections.Counter(r["label"] for r in rows) == {"1": 1900, "2": 1900, "3": 1900,
                                                            "4": 1900}
    assert not any("\\n" in r["text"] for r in rows)
    assert [r["line"] for r in rows] == list(range(1, 7_601))
    second = rows[1]["text"]
    assert second.startswith("The Race is On: Second Private Team Sets Launch Date")
    assert "A second\nteam of rocketeers" in second


def test_rows_with_byte_respects_slices():
    text = pa.array(["a\\b", "", "x", "\\", "yy\\\\"])
    assert rows_with_byte(text, ord("\\")).tolist() == [0, 3, 4]
    assert rows_with_byte(text.slice(2), ord("\\")).tolist() == [1, 2]
    assert rows_with_byte(text.slice(0, 0), ord("\\")).tolist() == []


def test_only_rows_with_backslashes_change():
    text = pa.array(["plain", "one\\ntwo", None, "three"])
    assert ZhangUnescape()(text).to_pylist() == ["plain", "one\ntwo", None, "three"]
