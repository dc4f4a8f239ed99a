"""The id column (`SourceSpec.id`): read in the same pass as the text, never a reason to skip."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamfit.errors import OptionError
from streamfit.sources import RECORD_SCHEMA, RowAccounting, SourceSpec, iter_records
from streamfit.sources.rows import record_schema


def read(path, **options):
    """(rows as dicts, accounting) of a spec with these options; checks the schema and counts."""
    accounting = RowAccounting()
    spec = SourceSpec((str(path),), **options)
    rows = []
    for batch in iter_records(spec, accounting):
        assert batch.schema.equals(record_schema(spec.id is not None))
        assert batch.num_rows > 0
        rows.extend(batch.to_pylist())
    assert accounting.rows_read == accounting.rows_used + sum(accounting.skipped.values())
    return rows, accounting


def ids_and_lines(rows):
    return [(row["id"], row["line"]) for row in rows]


def test_record_schema_has_the_id_last_only_when_asked():
    assert record_schema(False).equals(RECORD_SCHEMA)
    assert record_schema(True).names == [*RECORD_SCHEMA.names, "id"]
    assert record_schema(True).field("id").type == pa.string()


def test_csv_ids_as_written_and_a_blank_id_skips_nothing(tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes(b'id,text,label\nr1,good film,pos\n,bad film,neg\n"r,3","multi\nline",pos\n'
                     b'  r4 ,fine,neg\nr5,no label,\n')
    rows, accounting = read(data, id="id")
    assert [(row["id"], row["text"], row["label"], row["line"]) for row in rows] == [
        ("r1", "good film", "pos", 2), ("", "bad film", "neg", 3), ("r,3", "multi\nline", "pos", 4),
        ("  r4 ", "fine", "neg", 6)]
    assert accounting.skipped == {"missing_label": 1}  # the label's, not the id's


def test_csv_ids_on_the_exact_path_and_a_bad_row_has_none(tmp_path):
    data = tmp_path / "d.csv"
    lines = ["id,text"] + [f"r{i},text {i}" for i in range(1, 11)]
    lines[4] = 'r4,"broken"quote'  # the chunk goes through the exact parser
    lines[7] = "r7,a,b"
    data.write_text("\n".join(lines) + "\n")
    rows, accounting = read(data, label=None, id=0)
    assert ids_and_lines(rows) == [(f"r{i}", i + 1) for i in range(1, 11) if i not in (4, 7)]
    assert accounting.skipped == {"broken_quoting": 1, "wrong_field_count": 1}


def test_tsv_id_by_index_without_a_header_and_invalid_utf8_replaced(tmp_path):
    data = tmp_path / "d.tsv"
    data.write_bytes(b"a\x80\tpos\tgreat\n2\tneg\tawful\n")
    rows, accounting = read(data, header=False, text=(2,), label=1, id=0)
    assert [(row["id"], row["label"], row["text"]) for row in rows] == [
        ("a\ufffd", "pos", "great"), ("2", "neg", "awful")]
    assert accounting.notes["invalid_utf8_rows"] == 1


@pytest.mark.parametrize("bad_line", [False, True])
def test_json_lines_ids_of_every_kind_on_both_parse_paths(tmp_path, bad_line):
    objects = [{"id": "a", "text": "t1", "label": "x"}, {"id": 7, "text": "t2", "label": "x"},
               {"id": 1.0, "text": "t3", "label": "x"}, {"text": "t4", "label": "x"},
               {"id": None, "text": "t5", "label": "x"}, {"id": {"n": 1}, "text": "t6", "label": "x"},
               {"id": [1], "text": "t7", "label": "x"}, {"id": True, "text": "t8", "label": "x"},
               {"id": 12345678901234567890123, "text": "t9", "label": "x"}]
    text = "".join(json.dumps(o) + "\n" for o in objects) + ("{oops\n" if bad_line else "")
    data = tmp_path / "d.jsonl"
    data.write_text(text)
    rows, accounting = read(data, id="id")
    assert [row["id"] for row in rows] == ["a", "7", "1", None, None, None, None, "true",
                                           "12345678901234567890123"]
    assert [row["line"] for row in rows] == list(range(1, 10))
    assert accounting.skipped == ({"bad_json": 1} if bad_line else {})


def test_json_lines_id_errors_name_the_id(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(OptionError, match=r"^id=0 is an index, but JSON Lines fields") as error:
        read(data, label=None, id=0)
    assert error.value.option == "id"
    with pytest.raises(OptionError, match=r"^id='key' is no key of the objects in .*; the first "
                                          r"one has 'text'; give one of them$") as error:
        read(data, label=None, id="key")
    assert error.value.option == "id"


def test_parquet_ids_by_name_and_index_and_a_null_id(tmp_path):
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"key": pa.array([10, None, 30], pa.int64()), "text": ["a", "b", "c"],
                             "label": ["x", "y", "x"]}), data)
    rows, _ = read(data, id="key")
    assert ids_and_lines(rows) == [("10", 1), (None, 2), ("30", 3)]
    rows, _ = read(data, label=None, id=0)
    assert ids_and_lines(rows) == [("10", 1), (None, 2), ("30", 3)]


@pytest.mark.parametrize("name, fmt", [("d.txt", "text"), ("d.ft", "fasttext")])
def test_line_formats_refuse_an_id_before_reading(tmp_path, name, fmt):
    data = tmp_path / name
    data.write_text("__label__a great film\n")
    with pytest.raises(OptionError, match=rf"^id=0 names a column, but .*{name} is read as {fmt} "
                                          r"lines, which have no columns; drop the id") as error:
        iter_records(SourceSpec((str(data),), label=None, id=0), RowAccounting())
    assert error.value.option == "id" and "\n" not in str(error.value)


def test_without_an_id_the_rows_are_those_read_with_one_less_the_id(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("id,text,label\n" + "".join(f"r{i},text {i},{'ab'[i % 2]}\n" for i in range(500))
                    + "r,x,y,z\n")
    plain, plain_accounting = read(data, block_size=256)
    with_id, id_accounting = read(data, block_size=256, id="id")
    assert plain == [{k: v for k, v in row.items() if k != "id"} for row in with_id]
    assert plain_accounting.to_dict() == id_accounting.to_dict()
    assert [row["id"] for row in with_id] == [f"r{i}" for i in range(500)]
