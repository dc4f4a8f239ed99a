"""`streamfit inspect`: the notes of the row accounting, with their examples."""

import json

from streamfit.cli.main import main


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_shows_labels_differing_by_case_and_stripped(tmp_path, capsys):
    data = tmp_path / "a.csv"
    data.write_text("label,text\n" + "".join(
        f"{label},some words {i}\n" for i, label in enumerate(["pos", "neg", "Pos", '" neg"'] * 5)))
    code, out, err = _run(capsys, "inspect", data)
    assert code == 0, err
    assert "note labels_differing_by_case: 2 ('pos' ~ 'Pos')" in out
    assert "note labels_stripped: 5 (' neg')" in out
    assert "classes: 3" in out
    code, out, _ = _run(capsys, "inspect", data, "--json")
    report = json.loads(out)
    assert report["note_examples"]["labels_differing_by_case"] == ["'pos' ~ 'Pos'"]


def test_inspect_notes_latin1_read_as_utf8(tmp_path, capsys):
    data = tmp_path / "a.csv"
    data.write_bytes("label,text\nx,caf\u00e9 au lait\ny,plain\n".encode("latin-1"))
    code, out, _ = _run(capsys, "inspect", data)
    assert code == 0 and "note invalid_utf8_rows: 1" in out


def test_inspect_and_iter_records_keep_the_same_notes(tmp_path):
    from streamfit.prepare.inspect import inspect_source
    from streamfit.sources import RowAccounting, SourceSpec, iter_records
    data = tmp_path / "a.csv"
    data.write_bytes(b'label,text\nx,caf\xe9\n\nX ,two\ny,"three"\n')
    spec = SourceSpec((str(data),))
    accounting = RowAccounting()
    for _ in iter_records(spec, accounting):
        pass
    report = inspect_source(spec)
    assert report["notes"] == accounting.notes == {
        "invalid_utf8_rows": 1, "blank_lines": 1, "labels_stripped": 1,
        "labels_differing_by_case": 2}
    assert report["note_examples"] == accounting.note_examples


def test_train_shows_the_same_notes_with_their_examples(tmp_path, capsys):
    data = tmp_path / "a.csv"
    data.write_text("label,text\n" + "".join(
        f"{label},some words {i} {label.strip(chr(34)).strip()}\n"
        for i, label in enumerate(["pos", "neg", "Pos", '" neg"'] * 25)))
    code, out, err = _run(capsys, "train", data, "--output", tmp_path / "m", "--cache",
                          tmp_path / "c", "--epochs", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert "data: note labels_differing_by_case: 2 ('pos' ~ 'Pos')" in lines
    assert "data: note labels_stripped: 25 (' neg')" in lines


MULTI = ("__label__a __label__b one two\n"
         "__label__b three\n"
         "__label__b __label__a __label__a four\n"   # the set {a, b} again, a repeated
         "five, no label\n"                          # no labels: kept with --multi-label
         "__label__c six\n")


def test_inspect_multi_label_reports_cardinality_counts_and_sets(tmp_path, capsys):
    data = tmp_path / "a.ft"
    data.write_text(MULTI)
    code, out, err = _run(capsys, "inspect", data, "--multi-label")
    assert code == 0, err
    lines = out.splitlines()
    assert "rows: read 5, used 5" in lines
    assert "classes: 3 (rows per label)" in lines
    assert lines[lines.index("classes: 3 (rows per label)") + 1:][:3] == ["  a: 2", "  b: 3",
                                                                         "  c: 1"]
    assert "label cardinality: 1.200 labels per row" in lines
    assert "label sets: 4 distinct" in lines  # {a,b} {b} {} {c}
    assert "note duplicate_labels: 1 ('a')" in lines
    assert not any("several_labels" in line for line in lines)
    code, out, _ = _run(capsys, "inspect", data, "--multi-label", "--json")
    report = json.loads(out)
    assert report["classes"] == {"a": 2, "b": 3, "c": 1}
    assert (report["label_cardinality"], report["label_sets"]) == (1.2, 4)


def test_inspect_without_the_flag_says_rows_carry_several_labels(tmp_path, capsys):
    data = tmp_path / "a.ft"
    data.write_text(MULTI)
    code, out, err = _run(capsys, "inspect", data)
    assert code == 0, err
    lines = out.splitlines()
    assert ("note several_labels: 2; only the first label of each is used; pass --multi-label "
            "to keep them all") in lines
    assert "classes: 3" in lines and "rows: read 5, used 4" in lines
    assert not any(line.startswith(("label cardinality", "label sets")) for line in lines)
    assert "label_cardinality" not in json.loads(_run(capsys, "inspect", data, "--json")[1])


def test_inspect_label_sep_splits_a_csv_column_and_needs_the_flag(tmp_path, capsys):
    data = tmp_path / "a.csv"
    data.write_text('text,tags\none,"x; y"\ntwo,\nthree,y\n')
    code, out, err = _run(capsys, "inspect", data, "--label", "tags", "--multi-label",
                          "--label-sep", ";")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[lines.index("classes: 2 (rows per label)") + 1:][:2] == ["  x: 1", "  y: 2"]
    assert "label cardinality: 1.000 labels per row" in lines
    code, out, err = _run(capsys, "inspect", data, "--label", "tags", "--label-sep", ";")
    assert code != 0
    assert "--label-sep ; splits a row's labels, which needs multi_label (--multi-label)" in err
