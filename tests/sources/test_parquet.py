import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamfit.errors import UserError


def test_columns_by_name_and_index_numbers_become_strings(tmp_path, read):
    path = tmp_path / "a.parquet"
    table = pa.table({
        "id": [1, 2, 3, 4],
        "title": ["a", None, "c", "d"],
        "body": pa.array([b"x", b"y", None, b"bad \xff"], pa.binary()),
        "label": [1, 2, None, 4],
    })
    pq.write_table(table, path, row_group_size=2)
    rows, acc = read(path, text=("title", 2), block_size=8)
    assert [(r["text"], r["label"], r["line"]) for r in rows] == [
        ("a x", "1", 1), (" y", "2", 2), ("d bad \ufffd", "4", 4)]
    assert acc.skipped == {"missing_label": 1}
    assert acc.examples == {"missing_label": [f"{path}:3"]}
    assert acc.notes == {"invalid_utf8_rows": 1}


def test_null_text_is_empty(tmp_path, read):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a", None], "label": ["p", "q"]}), path)
    rows, acc = read(path)
    assert [r["text"] for r in rows] == ["a"]
    assert acc.examples == {"empty_text": [f"{path}:2"]}


def test_user_errors(tmp_path, read):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": [["a"]], "label": ["p"]}), path)
    with pytest.raises(UserError, match="column 'text' has type list"):
        read(path)
    with pytest.raises(UserError, match=r"^label='y' is not a column of .*; its columns are 'text', "
                                        r"'label'"):
        read(path, label="y")
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}),
                   empty)
    with pytest.raises(UserError, match="empty.parquet: the file has no rows"):
        read(empty)
    packed = tmp_path / "a.parquet.gz"
    packed.write_bytes(b"x")
    with pytest.raises(UserError, match="cannot be read through .gz"):
        read(packed)


def test_float_labels_take_the_json_lines_form(tmp_path, read):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c", "d"], "label": [1.0, 0.0, 0.5, 1e-7]}), path)
    rows, _ = read(path)
    assert [r["label"] for r in rows] == ["1", "0", "0.5", "1e-07"]
