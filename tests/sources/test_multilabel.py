"""Several labels per row (`SourceSpec.multi_label`): every input form, exact label lists."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamfit.errors import DataError, OptionError, UserError
from streamfit.sources import RowAccounting, SourceSpec, iter_records, jsonl
from streamfit.sources.accounting import LabelSets, describe_notes
from streamfit.sources.rows import LABEL_LIST

FASTTEXT = (
    "__label__a __label__b hello\n"               # 1 two labels
    "no label word\n"                             # 2 no labels: kept with multi_label
    "__label__a text __label__a __label__  c\n"   # 3 a repeated, an empty label word
    "__label__x\n"                                # 4 empty_text
    "\n"                                          # blank
    "__label__ z __label__B __label__b\r\n"       # 6 case kept apart
    "mid __label__y text"                         # 7 no final newline
)


def _labels(rows):
    return [(r["label"], r["text"], r["line"]) for r in rows]


@pytest.mark.parametrize("block_size", [7, 1 << 20])
def test_fasttext_every_label_word_kept_in_order(tmp_path, read, block_size):
    path = tmp_path / "train.ft"
    path.write_text(FASTTEXT)
    rows, acc = read(path, multi_label=True, block_size=block_size)
    assert _labels(rows) == [
        (["a", "b"], "hello", 1), ([], "no label word", 2), (["a"], "text  c", 3),
        (["B", "b"], "z", 6), (["y"], "mid text", 7)]
    assert acc.skipped == {"empty_text": 1}
    assert acc.notes["duplicate_labels"] == 1
    assert acc.note_examples["duplicate_labels"] == ["'a'"]
    assert "several_labels" not in acc.notes
    assert acc.notes["labels_differing_by_case"] == 2
    report = acc.to_dict()
    assert report["label_cardinality"] == pytest.approx(6 / 5)
    assert report["label_sets"] == 5  # {a,b} {} {a} {B,b} {y}


def test_fasttext_single_label_read_is_unchanged_and_suggests_the_flag(tmp_path, read):
    path = tmp_path / "train.ft"
    path.write_text(FASTTEXT)
    rows, acc = read(path)
    # today's reading: the first label word, "" on line 6 (missing_label)
    assert _labels(rows) == [("a", "hello", 1), ("a", "text  c", 3), ("y", "mid text", 7)]
    assert acc.skipped == {"missing_label": 2, "empty_text": 1}
    assert acc.notes["several_labels"] == 3
    report = acc.to_dict()
    assert "label_cardinality" not in report and "label_sets" not in report
    (line,) = [note for note in describe_notes(report) if note.startswith("several_labels")]
    assert line == ("several_labels: 3; only the first label of each is used; pass "
                    "--multi-label to keep them all")


def test_fasttext_unlabelled_multi_label_read_has_null_list_labels(tmp_path):
    path = tmp_path / "test.ft"
    path.write_text(FASTTEXT)
    acc = RowAccounting()
    batches = list(iter_records(SourceSpec(str(path), label=None, multi_label=True), acc))
    assert all(batch.schema.field("label").type == LABEL_LIST for batch in batches)
    table = pa.Table.from_batches(batches)
    assert table.column("label").null_count == table.num_rows == 6
    assert table.column("text").to_pylist()[:2] == ["hello", "no label word"]


def test_label_sep_needs_multi_label_and_a_separator():
    with pytest.raises(OptionError, match="label_sep=';' .*multi_label \\(--multi-label\\)"):
        SourceSpec("a.csv", label_sep=";")
    with pytest.raises(OptionError, match="label_sep='' is empty"):
        SourceSpec("a.csv", multi_label=True, label_sep="")
    spec = SourceSpec("a.csv", multi_label=True, label_sep=";")
    assert (spec.multi_label, spec.label_sep) == (True, ";")
    assert (SourceSpec("a.csv").multi_label, SourceSpec("a.csv").label_sep) == (False, None)


CSV = (
    'text,tags\n'
    'one,"a;b"\n'           # 2
    'two,\n'                # 3 empty cell: no labels, kept
    'three," a ; a;;b "\n'  # 4 stripped, repeat and empty piece dropped
    'four,c\n'              # 5
    '"fi\nve","c;d"\n'      # 6 a line break inside the text
    'six,  \n'              # 8 blank cell: no labels
)


@pytest.mark.parametrize("block_size", [9, 1 << 20])
def test_csv_label_cell_split_on_label_sep(tmp_path, read, block_size):
    path = tmp_path / "a.csv"
    path.write_text(CSV)
    rows, acc = read(path, label="tags", multi_label=True, label_sep=";", block_size=block_size)
    assert _labels(rows) == [(["a", "b"], "one", 2), ([], "two", 3), (["a", "b"], "three", 4),
                             (["c"], "four", 5), (["c", "d"], "fi\nve", 6), ([], "six", 8)]
    assert acc.skipped == {}
    # rows 4 and 8 had whitespace around a label (a blank cell too, as single-label counts it)
    assert (acc.notes["labels_stripped"], acc.notes["duplicate_labels"]) == (2, 1)
    assert acc.to_dict()["label_sets"] == 4  # {a,b} {} {c} {c,d}


def test_csv_without_label_sep_the_cell_is_one_label(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text(CSV)
    rows, acc = read(path, label="tags", multi_label=True)
    assert [r["label"] for r in rows] == [["a;b"], [], ["a ; a;;b"], ["c"], ["c;d"], []]
    rows, acc = read(path, label="tags")  # single-label: today's reading, blank cells skipped
    assert [r["label"] for r in rows] == ["a;b", "a ; a;;b", "c", "c;d"]
    assert acc.skipped == {"missing_label": 2}


@pytest.mark.parametrize("block_size", [6, 1 << 20])
def test_tsv_and_the_exact_parser_split_labels_alike(tmp_path, read, block_size):
    path = tmp_path / "a.tsv"
    path.write_text('tags\ttext\n'
                    'x|y\tone\n'        # 2
                    'x\ttwo\textra\n'   # 3 wrong_field_count: the chunk takes the exact path
                    '|\tthree\n'        # 4 only separators: no labels
                    'y|x|y\tfour\n')    # 5
    rows, acc = read(path, label="tags", multi_label=True, label_sep="|", block_size=block_size)
    assert _labels(rows) == [(["x", "y"], "one", 2), ([], "three", 4), (["y", "x"], "four", 5)]
    assert acc.skipped == {"wrong_field_count": 1}
    assert acc.notes == {"duplicate_labels": 1}
    assert acc.note_examples["duplicate_labels"] == ["'y'"]
    report = acc.to_dict()
    assert report["label_sets"] == 2  # {x,y} twice, in either order, and {}
    assert report["label_cardinality"] == pytest.approx(4 / 3)


JSONL_LISTS = [
    {"text": "one", "label": ["a", "b"]},        # 1
    {"text": "two", "label": []},                # 2 no labels: kept with multi_label
    {"text": "three"},                           # 3 missing_label
    {"text": "four", "label": None},             # 4 missing_label
    {"text": "five", "label": "s;t"},            # 5 a scalar: one label, split on ;
    {"text": "six", "label": [1, 2.0, 0.5, True, " a ", "a"]},   # 6 number forms, stripped
    {"text": "seven", "label": 7},               # 7
]


@pytest.mark.parametrize("bad_line", [False, True])
def test_jsonl_label_lists_on_both_parse_paths(tmp_path, read, bad_line):
    path = tmp_path / "a.jsonl"
    lines = [json.dumps(obj) for obj in JSONL_LISTS]
    if bad_line:  # a line that does not parse sends the chunk to json.loads, line by line
        lines.append('{"text": "eight", "label": [{"nested": 1}]}')
    path.write_text("\n".join(lines) + "\n")
    rows, acc = read(path, multi_label=True, label_sep=";")
    assert _labels(rows) == [
        (["a", "b"], "one", 1), ([], "two", 2), (["s", "t"], "five", 5),
        (["1", "2", "0.5", "true", "a"], "six", 6), (["7"], "seven", 7)]
    assert acc.skipped == ({"missing_label": 2, "bad_json": 1} if bad_line
                           else {"missing_label": 2})
    assert (acc.notes["labels_stripped"], acc.notes["duplicate_labels"]) == (1, 1)


def test_jsonl_clean_lists_take_pyarrow_s_path(tmp_path, read, monkeypatch):
    def refuse(*args):
        raise AssertionError("the line parser was used")

    monkeypatch.setattr(jsonl._JsonLinesFile, "_exact", refuse)
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "label": ["x", " y", "x"]}\n{"text": "b", "label": []}\n'
                    '{"text": "c", "label": null}\n{"text": "d", "label": ["3"]}\n')
    rows, acc = read(path, multi_label=True)
    assert _labels(rows) == [(["x", "y"], "a", 1), ([], "b", 2), (["3"], "d", 4)]
    assert acc.skipped == {"missing_label": 1}
    path.write_text('{"text": "a", "label": [1, 2]}\n{"text": "b", "label": [2.5, 1e2]}\n')
    rows, _ = read(path, multi_label=True)
    assert [r["label"] for r in rows] == [["1", "2"], ["2.5", "100"]]


def test_jsonl_label_lists_without_multi_label_keep_the_first(tmp_path, read):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(obj) + "\n" for obj in JSONL_LISTS))
    rows, acc = read(path)
    assert _labels(rows) == [("a", "one", 1), ("s;t", "five", 5), ("1", "six", 6),
                             ("7", "seven", 7)]
    assert acc.skipped == {"missing_label": 3}  # [] is no label without multi_label
    assert acc.notes == {"several_labels": 2}


def test_jsonl_list_starting_with_null_is_read_exactly(tmp_path, read):
    # pyarrow 26 infers a malformed list array for [null, ...]: the line parser reads it
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "label": [null, "x"]}\n{"text": "b", "label": ["y", null]}\n')
    rows, _ = read(path, multi_label=True)
    assert [r["label"] for r in rows] == [["x"], ["y"]]


@pytest.mark.parametrize("kind", ["list", "large_list", "fixed_size_list"])
def test_parquet_list_columns(tmp_path, read, kind):
    values = [[1, 2], [3, 3], None, [4, 5]]
    if kind == "fixed_size_list":
        label = pa.array(values, pa.list_(pa.int64(), 2))
    else:
        label = pa.array(values, pa.list_(pa.int64()) if kind == "list"
                         else pa.large_list(pa.int64()))
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c", "d"], "label": label}), path,
                   row_group_size=2)
    rows, acc = read(path, multi_label=True, block_size=8)
    assert _labels(rows) == [(["1", "2"], "a", 1), (["3"], "b", 2), (["4", "5"], "d", 4)]
    assert acc.skipped == {"missing_label": 1}
    assert acc.notes == {"duplicate_labels": 1}
    rows, acc = read(path)
    assert _labels(rows) == [("1", "a", 1), ("3", "b", 2), ("4", "d", 4)]
    assert acc.notes == {"several_labels": 3}


def test_parquet_string_lists_empty_lists_and_scalar_columns(tmp_path, read):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({
        "text": ["a", "b", "c"],
        "tags": pa.array([["x", " y"], [], ["x", ""]], pa.list_(pa.string())),
        "one": pa.array(["p", None, "q;r"]),
    }), path)
    rows, acc = read(path, label="tags", multi_label=True)
    assert [r["label"] for r in rows] == [["x", "y"], [], ["x"]]
    assert acc.notes == {"labels_stripped": 1}
    rows, acc = read(path, label="one", multi_label=True, label_sep=";")
    assert [r["label"] for r in rows] == [["p"], ["q", "r"]]
    assert acc.skipped == {"missing_label": 1}


def test_parquet_nested_lists_are_refused(tmp_path, read):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a"], "label": pa.array([[["x"]]])}), path)
    with pytest.raises(UserError, match="column 'label' has type list"):
        read(path, multi_label=True)


def test_label_sets_count_sets_in_any_order_across_batches_and_merges():
    sets = LabelSets()
    rows = [[f"l{i % 300}", f"l{i // 300}"] for i in range(90_000)]  # 90,000 distinct sets
    for start in range(0, len(rows), 30_000):  # the distinct sums are merged past 65,536
        sets.update(pa.array(rows[start:start + 30_000], LABEL_LIST))
    sets.update(pa.array([list(reversed(row)) for row in rows[:1000]] + [[]] * 3, LABEL_LIST))
    assert sets.distinct == len({frozenset(row) for row in rows}) + 1  # the empty set
    assert sets.rows == 91_003 and sets.labels == 182_000
    assert sets.cardinality == pytest.approx(182_000 / 91_003)
    assert LabelSets().cardinality == 0.0 and LabelSets().distinct == 0


def test_multi_label_with_ids_strict_and_invalid_utf8(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"k": 1, "text": "a", "label": ["x\xff", "y"]}\n'
                     b'{"k": 2, "text": "b", "label": []}\n'
                     b'{"k": 3, "text": "c"}\n')
    acc = RowAccounting()
    table = pa.Table.from_batches(list(iter_records(
        SourceSpec(str(path), id="k", multi_label=True), acc)))
    assert table.schema.field("label").type == LABEL_LIST
    assert table.column("label").to_pylist() == [["x\ufffd", "y"], []]
    assert table.column("id").to_pylist() == ["1", "2"]
    assert acc.notes == {"invalid_utf8_rows": 1}
    assert acc.skipped == {"missing_label": 1}
    with pytest.raises(DataError, match=rf"^{path}:3: missing_label;"):
        list(iter_records(SourceSpec(str(path), multi_label=True, strict=True), RowAccounting()))
