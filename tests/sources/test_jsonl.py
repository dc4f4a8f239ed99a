import json

import pytest

from streamfit.errors import DataError, OptionError, UserError

BAD = (
    '{"text": "a", "label": 1}\n'            # 1 label number -> "1"
    '{"text": "b"}\n'                        # 2 missing_label
    '{"label": "x"}\n'                       # 3 missing_text_field
    'not json\n'                             # 4 bad_json
    '[1, 2]\n'                               # 5 bad_json (not an object)
    '\n'                                     # 6 blank
    '{"text": "c", "label": "y", "more": {"n": [1]}}\n'   # 7
    '{"text": {"o": 1}, "label": "z"}\n'     # 8 bad_json (object as text)
    '{"text": null, "label": "w"}\n'         # 9 missing_text_field
    '{"text": "  ", "label": "v"}\n'         # 10 empty_text
)


@pytest.mark.parametrize("block_size", [5, 1 << 20])
def test_bad_lines_exact_counts_and_lines(tmp_path, read, block_size):
    path = tmp_path / "a.jsonl"
    path.write_text(BAD)
    rows, acc = read(path, block_size=block_size)
    assert [(r["text"], r["label"], r["line"]) for r in rows] == [("a", "1", 1), ("c", "y", 7)]
    assert acc.skipped == {"bad_json": 3, "missing_text_field": 2, "missing_label": 1,
                           "empty_text": 1}
    p = str(path)
    assert acc.examples["bad_json"] == [f"{p}:4", f"{p}:5", f"{p}:8"]
    assert acc.examples["missing_text_field"] == [f"{p}:3", f"{p}:9"]
    assert acc.notes == {"blank_lines": 1}


def test_clean_file_numbers_and_several_text_keys(tmp_path, read):
    path = tmp_path / "a.jsonl"
    lines = [{"title": f"t{i}", "body": f"b{i}", "label": i % 3, "ok": True} for i in range(50)]
    lines[10]["title"] = None
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows, acc = read(path, text=("title", "body"), block_size=200)
    assert len(rows) == 50 and acc.skipped == {}
    assert rows[3] == {"text": "t3 b3", "label": "0", "source": 0, "line": 4}
    assert rows[10]["text"] == " b10"
    assert {r["label"] for r in rows} == {"0", "1", "2"}


def test_invalid_utf8_and_strict(tmp_path, read):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "ok", "label": "a"}\n{"text": "bad \xff", "label": "b"}\n')
    rows, acc = read(path)
    assert [r["text"] for r in rows] == ["ok", "bad \ufffd"]
    assert acc.notes == {"invalid_utf8_rows": 1}
    path.write_text('{"text": "ok", "label": "a"}\n{oops}\n')
    with pytest.raises(DataError, match=rf"^{path}:2: bad_json;"):
        read(path, strict=True)


def test_missing_key_and_index_are_user_errors(tmp_path, read):
    path = tmp_path / "a.jsonl"
    path.write_text('{"review": "x", "stars": 5}\n')
    with pytest.raises(OptionError, match=r"^text='text' is no key of the objects in .*a.jsonl; the "
                                          r"first one has 'review', 'stars'"):
        read(path)
    with pytest.raises(OptionError, match=r"^label='label' is no key"):
        read(path, text=("review",))
    with pytest.raises(OptionError, match=r"^text=0 is an index, but JSON Lines fields are chosen by key"):
        read(path, text=(0,))
    rows, _ = read(path, text=("review",), label="stars")
    assert rows[0]["label"] == "5"


def test_empty_file(tmp_path, read):
    path = tmp_path / "a.jsonl"
    path.write_text("\n\n")
    with pytest.raises(UserError, match="the file has no rows"):
        read(path)


def test_null_labels_in_the_first_chunk_are_rows_not_a_missing_key(tmp_path, read):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "x", "label": null}\n')
    rows, acc = read(path)
    assert rows == [] and acc.skipped == {"missing_label": 1}


LABELS = ["0.0", "1.0", "1", "0.5", "true", "false", '"x"', "1e-7", "1e2", "-0.0", "2.50",
          '"1.0"', "12345678901234567890"]


@pytest.mark.parametrize("block_size", [1, 60, 1 << 20])
def test_a_label_has_one_text_form_whatever_parses_it(tmp_path, read, block_size):
    """pyarrow's reader and the per-line fallback give the same label for the same line."""
    lines = [f'{{"text": "row {i}", "label": {LABELS[i % len(LABELS)]}}}' for i in range(40)]
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(lines) + "\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines[:20] + ["{oops"] + lines[20:]) + "\n")
    got_clean, _ = read(clean, block_size=block_size)
    got_broken, acc = read(broken, block_size=block_size)
    assert acc.skipped == {"bad_json": 1}
    expected = {"0.0": "0", "1.0": "1", "1": "1", "0.5": "0.5", "true": "true", "false": "false",
                '"x"': "x", "1e-7": "1e-07", "1e2": "100", "-0.0": "0", "2.50": "2.5",
                '"1.0"': "1.0", "12345678901234567890": "12345678901234567890"}
    want = [expected[LABELS[i % len(LABELS)]] for i in range(40)]
    assert [r["label"] for r in got_clean] == want
    assert [r["label"] for r in got_broken] == want


def test_labels_0_0_and_1_0_with_a_bad_line_are_two_classes(tmp_path, read):
    path = tmp_path / "a.jsonl"
    lines = [json.dumps({"text": f"t{i}", "label": float(i % 2)}) for i in range(200)]
    lines[150] = "{bad"
    path.write_text("\n".join(lines) + "\n")
    rows, _ = read(path, block_size=1000)
    assert {r["label"] for r in rows} == {"0", "1"}


def test_date_like_text_is_kept_as_written(tmp_path, read):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "2020-01-01", "label": 1}\n{"text": "2021-02-03 10:00:00", "label": 2}\n')
    rows, _ = read(path)
    assert [(r["text"], r["label"]) for r in rows] == [("2020-01-01", "1"),
                                                       ("2021-02-03 10:00:00", "2")]


@pytest.mark.parametrize("block_size", [5, 1 << 20])
def test_invalid_utf8_in_keys_and_values(tmp_path, read, block_size):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": null, "label": 0, "te\xff": null}\n{"text": "a\xff", "label": 1}\n'
                     b'{"text": "b", "label": "x", "k\xff": 1}\n')
    rows, acc = read(path, block_size=block_size)
    assert [(r["text"], r["label"], r["line"]) for r in rows] == [("a\ufffd", "1", 2), ("b", "x", 3)]
    assert acc.skipped == {"missing_text_field": 1}
    assert acc.notes == {"invalid_utf8_rows": 1}
