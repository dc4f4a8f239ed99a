"""Several labels per row (`SourceSpec.multi_label`): every input form, exact label lists."""

import pyarrow as pa
import pytest

from streamfit.errors import OptionError
from streamfit.sources import RowAccounting, SourceSpec, iter_records
from streamfit.sources.accounting import describe_notes
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
