import numpy as np
import pyarrow as pa
import pytest

from streamfit.errors import DataError
from streamfit.sources import RECORD_SCHEMA, RowAccounting
from streamfit.sources.rows import blank, finish_rows, join_text, to_utf8


def test_to_utf8_clean_and_repaired():
    values, invalid = to_utf8(pa.array([b"ok", None], pa.binary()))
    assert values.type == pa.string() and values.to_pylist() == ["ok", None] and invalid is None
    values, invalid = to_utf8(pa.array([b"ok", b"\xff", b"nul\x00"], pa.binary()))
    assert values.to_pylist() == ["ok", "\ufffd", "nul\x00"]
    assert invalid.tolist() == [False, True, False]


def test_to_utf8_checks_string_arrays_too():
    unchecked = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(np.array([0, 1], np.int32)),
                                                       pa.py_buffer(b"\xff")])
    values, invalid = to_utf8(unchecked)
    assert values.to_pylist() == ["\ufffd"] and invalid.tolist() == [True]


def test_blank_and_join():
    assert blank(pa.array(["a", "", " \t", None, " b"])).tolist() == [False, True, True, True,
                                                                       False]
    joined = join_text([pa.array([b"a", b"b"], pa.binary()), pa.array(["c", None])])
    assert joined.to_pylist() == [b"a c", b"b "]


def test_finish_rows_then_account():
    rows = finish_rows([pa.array(["a", " ", "c"])], pa.array(["x", "y", ""]),
                       np.array([2, 5, 9]), 0, bad=[("wrong_field_count", np.array([7]))],
                       notes={"blank_lines": 1})
    assert rows.batch.schema.equals(RECORD_SCHEMA)
    assert rows.batch.to_pylist() == [{"text": "a", "label": "x", "source": 0, "line": 2}]
    acc = RowAccounting(files=["f.csv"])
    assert rows.account(acc) is rows.batch
    assert (acc.rows_read, acc.rows_used) == (4, 1)
    assert acc.skipped == {"wrong_field_count": 1, "missing_label": 1, "empty_text": 1}
    assert acc.examples == {"wrong_field_count": ["f.csv:7"], "missing_label": ["f.csv:9"],
                            "empty_text": ["f.csv:5"]}
    assert acc.notes == {"blank_lines": 1}


def test_strict_account_names_the_first_bad_row_of_the_chunk():
    rows = finish_rows([pa.array(["a", " ", "c"])], pa.array(["x", "y", ""]),
                       np.array([2, 5, 9]), 0, bad=[("wrong_field_count", np.array([7]))])
    with pytest.raises(DataError, match=r"^f.csv:5: empty_text"):
        rows.account(RowAccounting(files=["f.csv"], strict=True))


def test_finish_rows_unlabelled_invalid_and_all_skipped():
    acc = RowAccounting(files=["f.txt"])
    batch = finish_rows([pa.array([b"a\xff"], pa.binary())], None, np.array([1]), 0).account(acc)
    assert batch.column("label").null_count == 1
    assert batch.column("text").to_pylist() == ["a\ufffd"]
    # unlabelled rows are kept even when empty (one prediction per input row)
    assert finish_rows([pa.array([""])], None, np.array([2]), 0).account(acc).num_rows == 1
    assert (acc.rows_read, acc.rows_used, acc.skipped) == (2, 2, {})
    assert acc.notes == {"invalid_utf8_rows": 1}
