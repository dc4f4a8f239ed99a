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
