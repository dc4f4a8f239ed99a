import json

import pytest

from streamfit.errors import DataError
from streamfit.sources import RowAccounting


def test_skip_counts_and_keeps_five_examples():
    acc = RowAccounting(files=["a.csv", "b.csv"])
    acc.rows_read, acc.rows_used = 9, 2
    for line in [4, 9, 12, 15, 20, 31]:
        acc.skip("missing_label", 0, line)
    acc.skip_lines("empty_text", 1, [7])
    assert acc.skipped == {"missing_label": 6, "empty_text": 1}
    assert acc.examples["missing_label"] == ["a.csv:4", "a.csv:9", "a.csv:12", "a.csv:15",
                                             "a.csv:20"]
    assert acc.examples["empty_text"] == ["b.csv:7"]
    assert (acc.rows_read, acc.rows_used) == (9, 2)  # skipping counts no row read or used


def test_skip_lines_fills_examples_up_to_five():
    acc = RowAccounting(files=["a.csv"])
    acc.skip("bad_json", 0, 1)
    acc.skip_lines("bad_json", 0, [2, 3, 4, 5, 6, 7])
    assert acc.skipped == {"bad_json": 7}
    assert acc.examples["bad_json"] == [f"a.csv:{i}" for i in range(1, 6)]
    acc.skip_lines("bad_json", 0, [])
    assert acc.skipped == {"bad_json": 7}


def test_summary_and_to_dict():
    acc = RowAccounting(files=["a.csv"])
    acc.rows_read, acc.rows_used = 4, 1
    acc.skip_lines("missing_label", 0, [4, 9])
    acc.skip("wrong_field_count", 0, None)
    acc.note("invalid_utf8_rows", 2)
    acc.note("several_labels", 0)
    assert acc.summary() == (
        "read 4 rows, used 1, skipped 3: 2 missing_label (a.csv:4, a.csv:9), "
        "1 wrong_field_count (a.csv)\nnotes: invalid_utf8_rows: 2")
    assert json.loads(json.dumps(acc.to_dict())) == {
        "rows_read": 4, "rows_used": 1,
        "skipped": {"missing_label": 2, "wrong_field_count": 1},
        "examples": {"missing_label": ["a.csv:4", "a.csv:9"], "wrong_field_count": ["a.csv"]},
        "notes": {"invalid_utf8_rows": 2},
    }


def test_summary_says_more_when_examples_run_out():
    acc = RowAccounting(files=["a.csv"])
    acc.skip_lines("empty_text", 0, range(1, 8))
    assert acc.summary().endswith("7 empty_text (a.csv:1, a.csv:2, a.csv:3, a.csv:4, a.csv:5, ...)")
    assert RowAccounting().summary() == "read 0 rows, used 0, skipped 0"


def test_strict_raises_naming_file_and_line():
    acc = RowAccounting(files=["data/a.csv"], strict=True)
    with pytest.raises(DataError, match=r"^data/a.csv:12: missing_label \(empty\); fix the row, "
                                        r"or read without strict to skip and count bad rows$"):
        acc.skip("missing_label", 0, 12, "empty")
    with pytest.raises(DataError, match=r"^data/a.csv:3: bad_json;"):
        acc.skip_lines("bad_json", 0, [3, 8])
    assert acc.skipped == {}


def test_reject_takes_used_rows_back_by_file_with_locations():
    acc = RowAccounting(files=["a.csv", "b.csv"])
    acc.rows_read = acc.rows_used = 10
    acc.reject("unseen_label", [1, 0, 1], [9, 4, 3])
    assert (acc.rows_read, acc.rows_used, acc.skipped) == (10, 7, {"unseen_label": 3})
    assert acc.examples["unseen_label"] == ["a.csv:4", "b.csv:3", "b.csv:9"]


def test_the_skip_log_hands_out_each_skipped_row_once_in_the_order_counted():
    accounting = RowAccounting(files=["a.csv", "b.csv"], log_skips=True)
    accounting.skip("missing_label", 0, 4)
    accounting.skip_lines("wrong_field_count", 1, [2, 9])
    taken = accounting.take_skipped()
    assert [(cause, source, lines.tolist()) for cause, source, lines in taken] == [
        ("missing_label", 0, [4]), ("wrong_field_count", 1, [2, 9])]
    assert accounting.take_skipped() == []


def test_the_skip_log_is_off_unless_asked_for():
    accounting = RowAccounting(files=["a.csv"])
    accounting.skip("missing_label", 0, 4)
    with pytest.raises(ValueError, match="log_skips"):
        accounting.take_skipped()


def test_labels_differing_by_case_are_a_note_with_examples():
    import pyarrow as pa
    acc = RowAccounting(files=["a.csv"])
    acc.observe_labels(pa.array(["pos", "neg", "pos"]))
    assert acc.notes == {}
    acc.observe_labels(pa.array(["Pos", "neg", None]))
    acc.observe_labels(pa.array(["POS", "Neg", "pos"]))
    assert acc.notes == {"labels_differing_by_case": 5}
    assert acc.note_examples == {"labels_differing_by_case": ["'pos' ~ 'Pos' ~ 'POS'",
                                                             "'neg' ~ 'Neg'"]}
    assert acc.to_dict()["note_examples"] == acc.note_examples
    assert acc.summary().endswith(
        "notes: labels_differing_by_case: 5 ('pos' ~ 'Pos' ~ 'POS'; 'neg' ~ 'Neg')")


def test_labels_are_stripped_and_counted_and_case_is_reported(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text('label,text\npos,a\n" pos",b\nPos ,c\nneg,d\n"neg\t",e\n')
    rows, acc = read(path)
    assert [r["label"] for r in rows] == ["pos", "pos", "Pos", "neg", "neg"]
    assert acc.notes == {"labels_stripped": 3, "labels_differing_by_case": 2}
    assert acc.note_examples["labels_stripped"] == ["' pos'", "'Pos '", "'neg\\t'"]
    assert acc.note_examples["labels_differing_by_case"] == ["'pos' ~ 'Pos'"]


def test_skips_pending_counts_the_logged_rows_until_taken():
    accounting = RowAccounting(files=["a.csv"], log_skips=True)
    assert accounting.log_skips and accounting.skips_pending == 0
    accounting.skip("bad_json", 0, 3)
    accounting.skip_lines("wrong_field_count", 0, [5, 6, 9])
    assert accounting.skips_pending == 4
    assert [(cause, lines.tolist()) for cause, _, lines in accounting.take_skipped()] == [
        ("bad_json", [3]), ("wrong_field_count", [5, 6, 9])]
    assert accounting.skips_pending == 0
    plain = RowAccounting()
    plain.skip("bad_json", 0, 3)
    assert not plain.log_skips and plain.skips_pending == 0
