"""`streamfit predict`: one answer per input row, in order, on real files with bad rows."""

import csv
import io
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamfit.cli.main import main
from streamfit.cli.predict import _json_strings, answers, csv_safe
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier
from streamfit.sources import RowAccounting, SourceSpec

POSITIVE = "great wonderful loved excellent"
NEGATIVE = "awful boring hated terrible"
COLUMNS = ["row", "file", "line", "label", "probability", "skipped"]


def train(directory, write_corpus, labels=("neg", "pos")):
    data = write_corpus(directory / "train.csv", 400, labels=labels)
    config = TrainConfig(output=str(directory / "model"), model_kind="mlp", epochs=4, batch_size=32,
                         cache=str(directory / "cache"), verbose=0, validation_split=0)
    return str(train_text_classifier(SourceSpec((str(data),)), config, log=lambda line: None).bundle)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory, write_corpus):
    return train(tmp_path_factory.mktemp("predict"), write_corpus)


def cue(i):
    """The text of row i: its label (pos when i % 3 == 0) is plain from its words."""
    return POSITIVE if i % 3 == 0 else NEGATIVE


def expected(i):
    return "pos" if i % 3 == 0 else "neg"


def write_csv(path, rows, bad=None, header="id,text"):
    """`rows` data rows (id r<i>, text by `cue`); `bad`: {row number: raw line} replacing rows."""
    bad = bad or {}
    with open(path, "w", newline="") as f:
        f.write(header + "\n")
        for i in range(1, rows + 1):
            f.write(bad[i] + "\n" if i in bad else f'"r{i}","{cue(i)}"\n')
    return path


def predict(capsys, bundle, *argv, output=None):
    """Run predict; return (rows as dicts with str values, or None for JSON null; stderr)."""
    argv = ["predict", bundle, *map(str, argv)] + (["--output", str(output)] if output else [])
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    if output is None or str(output).endswith(".csv"):
        text = out if output is None else output.read_text()
        reader = csv.DictReader(io.StringIO(text))
        rows = [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]
        return reader.fieldnames, rows, err
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    rows = [{k: (None if v is None else str(v)) for k, v in row.items()} for row in lines]
    return list(lines[0]), rows, err


def check_answers(rows, path, count, bad_rows, first_row=1, line_offset=1):
    """Each row in order, numbered, at its line; bad rows empty with a cause, the others right."""
    assert len(rows) == count
    for i, row in enumerate(rows, start=1):
        assert row["row"] == str(first_row + i - 1) and row["line"] == str(i + line_offset)
        assert row["file"] == str(path)
        if i in bad_rows:
            assert row["label"] is None and row["probability"] is None
            assert row["skipped"] == bad_rows[i]
        else:
            assert row["skipped"] is None and row["label"] == expected(i), (i, row)
            assert 0.5 <= float(row["probability"]) <= 1


@pytest.fixture(params=["stdout", "csv", "jsonl"])
def output(request, tmp_path):
    return None if request.param == "stdout" else tmp_path / f"p.{request.param}"


@pytest.mark.parametrize("line, cause", [
    ('"r50","a","b"', "wrong_field_count"),
    ('"r50"', "wrong_field_count"),
    ('r50,"ab"c', "broken_quoting"),
    ('"r50","never closed', "broken_quoting"),
])
def test_a_bad_csv_row_keeps_its_place(tmp_path, bundle, capsys, output, line, cause):
    data = write_csv(tmp_path / "d.csv", 100, {50: line})
    columns, rows, err = predict(capsys, bundle, data, output=output)
    assert columns == COLUMNS
    check_answers(rows, data, 100, {50: cause})
    assert f"skipped 1: 1 {cause} ({data}:51)" in err


def test_an_empty_text_is_predicted_not_skipped(tmp_path, bundle, capsys):
    data = write_csv(tmp_path / "d.csv", 10, {4: '"r4",""'})
    _, rows, err = predict(capsys, bundle, data)
    assert len(rows) == 10 and rows[3]["line"] == "5" and rows[3]["skipped"] is None
    assert rows[3]["label"] in ("neg", "pos") and err == ""


@pytest.mark.parametrize("line, cause", [('{"label": "x"}', "missing_text_field"),
                                         ('{"text": ', "bad_json"), ("[1, 2]", "bad_json")])
def test_a_bad_json_line_keeps_its_place(tmp_path, bundle, capsys, output, line, cause):
    data = tmp_path / "d.jsonl"
    data.write_text("".join((line if i == 30 else json.dumps({"text": cue(i), "id": f"r{i}"})) + "\n"
                            for i in range(1, 101)))
    _, rows, _ = predict(capsys, bundle, data, output=output)
    check_answers(rows, data, 100, {30: cause}, line_offset=0)


def test_several_files_number_rows_across_them_and_a_last_bad_row_stays_in_its_file(
        tmp_path, bundle, capsys, output):
    first = write_csv(tmp_path / "a.csv", 20, {20: '"r20","x","y"'})  # the file's last row is bad
    second = write_csv(tmp_path / "b.csv", 30, {1: '"r1"'})  # and the next file's first
    _, rows, err = predict(capsys, bundle, first, second, output=output)
    check_answers(rows[:20], first, 20, {20: "wrong_field_count"})
    check_answers(rows[20:], second, 30, {1: "wrong_field_count"}, first_row=21)
    assert "read 50 rows, used 48, skipped 2" in err


def test_a_chunk_of_only_bad_rows_between_good_ones(tmp_path, bundle, capsys, output):
    # 30,000 bad rows (2 MB, more than one 1 MiB chunk) between good ones, and at the end.
    bad = {i: f'"r{i}","{"x" * 60}","extra"' for i in range(11, 30_011)}
    bad.update({i: '"r"' for i in range(30_021, 30_031)})
    data = write_csv(tmp_path / "d.csv", 30_030, bad)
    _, rows, err = predict(capsys, bundle, data, output=output)
    check_answers(rows, data, 30_030, dict.fromkeys(bad, "wrong_field_count"))
    assert "read 30030 rows, used 20, skipped 30010" in err


def test_every_row_in_order_across_many_small_chunks_and_batches(tmp_path, bundle):
    # Tiny chunks and batches: skipped rows fall before, inside and after batches and chunks.
    rng = random.Random(3)
    bad = {i: '"x","y","z"' for i in range(1, 401) if rng.random() < 0.3}
    bad.update({i: '"x","y","z"' for i in range(120, 160)})
    data = write_csv(tmp_path / "d.csv", 400, bad)
    model = load_bundle(bundle)
    spec = model.source_spec([str(data)], labelled=False, block_size=200)
    accounting = RowAccounting(log_skips=True)
    lines, causes = [], []
    for records, skipped, probabilities in model.predict_rows(spec, accounting, batch_size=3, device="cpu"):
        table = answers(records, skipped, probabilities)
        lines += table.column("line").to_pylist()
        causes += table.column("skipped").to_pylist()
        best = table.column("best").to_pylist()
        for line, label in zip(table.column("line").to_pylist(), best, strict=True):
            if line - 1 not in bad:
                assert model.labels.names[label] == expected(line - 1)
    assert lines == list(range(2, 402))
    assert [line for line, cause in zip(lines, causes, strict=True) if cause] == [i + 1 for i in sorted(bad)]


def test_id_column_is_copied_to_every_row(tmp_path, bundle, capsys, output):
    data = write_csv(tmp_path / "d.csv", 40, {7: '"r7","a","b"'}, header="id,text")
    columns, rows, _ = predict(capsys, bundle, data, "--id", "id", output=output)
    assert columns == ["row", "file", "line", "id", "label", "probability", "skipped"]
    assert [row["id"] for row in rows] == [None if i == 7 else f"r{i}" for i in range(1, 41)]
    check_answers(rows, data, 40, {7: "wrong_field_count"})


def test_ids_of_json_lines_and_a_skipped_row_has_none(tmp_path, bundle, capsys, output):
    data = tmp_path / "d.jsonl"
    objects = [{"id": i, "text": cue(i)} for i in range(1, 21)]
    objects[4] = {"id": 5}  # no text: skipped, and a skipped row's id is empty
    objects[9] = {"text": cue(10)}  # no id: predicted, without an id
    objects[11] = {"id": {"n": 12}, "text": cue(12)}  # an object as id: predicted, without an id
    data.write_text("".join(json.dumps(o) + "\n" for o in objects))
    _, rows, _ = predict(capsys, bundle, data, "--id", "id", output=output)
    assert [row["id"] for row in rows] == [None if i in (5, 10, 12) else str(i) for i in range(1, 21)]
    check_answers(rows, data, 20, {5: "missing_text_field"}, line_offset=0)


def test_ids_are_read_in_the_same_single_pass(tmp_path, bundle, capsys, monkeypatch):
    from streamfit.sources import delimited

    passes = []
    original = delimited.read_delimited
    monkeypatch.setattr(delimited, "read_delimited",
                        lambda path, *rest: passes.append(path) or original(path, *rest))
    monkeypatch.setattr("streamfit.sources.reader.read_delimited", delimited.read_delimited)
    data = write_csv(tmp_path / "d.csv", 3000, {7: '"r7","a","b"', 2999: '"r2999"'})
    _, rows, _ = predict(capsys, bundle, data, "--id", "id", "--batch-size", "100")
    assert passes == [str(data)]
    assert [row["id"] for row in rows] == [None if i in (7, 2999) else f"r{i}" for i in range(1, 3001)]
    check_answers(rows, data, 3000, {7: "wrong_field_count", 2999: "wrong_field_count"})


def test_a_failed_run_leaves_the_output_file_as_it_was(tmp_path, bundle, capsys):
    data = write_csv(tmp_path / "d.csv", 3000, {2500: '"r2500","a","b"'})
    for name in ("p.csv", "p.jsonl"):
        output = tmp_path / name
        output.write_text("the last good result\n")
        argv = ["predict", bundle, str(data), "--strict", "--batch-size", "10", "--output", str(output)]
        assert main(argv) == 2
        assert f"{data}:2501: wrong_field_count" in capsys.readouterr().err
        assert output.read_text() == "the last good result\n"
        missing = tmp_path / ("new-" + name)
        assert main([*argv[:-1], str(missing)]) == 2
        capsys.readouterr()
        assert not missing.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d.csv", "p.csv", "p.jsonl"]


def test_a_good_run_replaces_the_output_file(tmp_path, bundle, capsys):
    data = write_csv(tmp_path / "d.csv", 30)
    output = tmp_path / "p.csv"
    output.write_text("an old result\n" * 1000)
    _, rows, _ = predict(capsys, bundle, data, output=output)
    check_answers(rows, data, 30, {})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d.csv", "p.csv"]


def test_id_by_index_in_a_parquet_file(tmp_path, bundle, capsys):
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"key": [10, 20, 30], "text": [cue(1), cue(2), cue(3)]}), data)
    _, rows, _ = predict(capsys, bundle, data, "--id", "0")
    assert [(row["id"], row["line"], row["label"]) for row in rows] == [
        ("10", "1", "neg"), ("20", "2", "neg"), ("30", "3", "pos")]


@pytest.mark.parametrize("argv, message", [
    (["--id", "key"], "--id key is not a column of"),
    (["--id", "5"], "--id 5 is out of range"),
])
def test_id_errors_name_the_flag(tmp_path, bundle, capsys, argv, message):
    data = write_csv(tmp_path / "d.csv", 5)
    assert main(["predict", bundle, str(data), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_batch_size_below_one_is_one_line_naming_the_flag(tmp_path, bundle, capsys):
    data = write_csv(tmp_path / "d.csv", 5)
    assert main(["predict", bundle, str(data), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "streamfit: error: --batch-size 0 must be an integer >= 1\n"


def test_id_on_lines_without_columns_is_refused(tmp_path, bundle, capsys):
    data = tmp_path / "d.txt"
    data.write_text("great film\nawful film\n")
    assert main(["predict", bundle, str(data), "--id", "0"]) == 2
    err = capsys.readouterr().err
    assert "--id 0" in err and "no columns" in err and len(err.strip().splitlines()) == 1


def test_strict_still_stops_at_the_first_bad_row(tmp_path, bundle, capsys):
    data = write_csv(tmp_path / "d.csv", 10, {3: '"r3","a","b"'})
    assert main(["predict", bundle, str(data), "--strict"]) == 2
    assert f"{data}:4: wrong_field_count" in capsys.readouterr().err


def test_csv_safe_follows_owasp():
    assert [csv_safe(name) for name in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "pos", "1", "'q"]] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "pos", "1", "'q"]


LABELS = ("=cmd|' /C calc'!A0", "-1", "+1", "@SUM(1+1)*cmd|' /C calc'!A0")


@pytest.fixture(scope="module")
def formula_bundle(tmp_path_factory, write_corpus):
    return train(tmp_path_factory.mktemp("formulas"), write_corpus, labels=LABELS)


def test_formula_labels_are_neutralised_in_csv_and_exact_in_json_lines(tmp_path, formula_bundle, capsys):
    data = write_csv(tmp_path / "d.csv", 60, {2: '"r2","a","b"'})
    _, jsonl, _ = predict(capsys, formula_bundle, data, output=tmp_path / "p.jsonl")
    _, rows, _ = predict(capsys, formula_bundle, data, output=tmp_path / "p.csv")
    assert LABELS[-1] in {row["label"] for row in jsonl} <= {*LABELS, None}
    assert [row["label"] for row in rows] == [None if label is None else "'" + label
                                              for label in (row["label"] for row in jsonl)]
    raw = (tmp_path / "p.csv").read_text()
    cells = [cell for line in csv.reader(io.StringIO(raw)) for cell in line]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert f'"\'{LABELS[-1]}"' in raw  # quoted, with the single quote inside the quotes


def test_a_negative_number_label_is_quoted_in_csv(tmp_path, write_corpus, capsys):
    model = train(tmp_path, write_corpus, labels=("-1", "+1"))
    data = write_csv(tmp_path / "d.csv", 6)
    _, rows, _ = predict(capsys, model, data)
    assert [row["label"] for row in rows] == ["'+1" if expected(i) == "pos" else "'-1" for i in range(1, 7)]
    _, jsonl, _ = predict(capsys, model, data, output=tmp_path / "p.jsonl")
    assert [row["label"] for row in jsonl] == ["+1" if expected(i) == "pos" else "-1" for i in range(1, 7)]


def test_answers_merges_skipped_rows_by_file_and_line():
    records = pa.RecordBatch.from_pydict({"source": pa.array([0, 0, 1], pa.int32()),
                                          "line": pa.array([2, 5, 1], pa.int64())})
    skipped = pa.RecordBatch.from_pydict({"skipped": ["a", "b", "c"], "source": pa.array([0, 0, 0], pa.int32()),
                                          "line": pa.array([3, 4, 9], pa.int64())})
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]], np.float32)
    table = answers(records, skipped, probabilities)
    assert table.column("line").to_pylist() == [2, 3, 4, 5, 9, 1]
    assert table.column("best").to_pylist() == [0, None, None, 1, None, 1]
    assert table.column("skipped").to_pylist() == [None, "a", "b", None, "c", None]


def test_json_strings_escape_quotes_backslashes_and_control_characters():
    values = pa.array(['plain', 'say "hi"', "back\\slash", "tab\tnew\nline\x00\x1f", "café ☕", None])
    literals = _json_strings(values).to_pylist()
    assert [json.loads(literal) for literal in literals] == values.to_pylist()


def test_a_file_of_only_bad_rows_is_answered_chunk_by_chunk(tmp_path, bundle, capsys):
    bad = write_csv(tmp_path / "bad.csv", 200_000, {i: f'"r{i}","x","y"' for i in range(1, 200_001)})
    good = write_csv(tmp_path / "good.csv", 3)
    model = load_bundle(bundle)
    block_size = 64 << 10
    spec = model.source_spec([str(bad), str(good)], labelled=False, block_size=block_size, id="id")
    accounting = RowAccounting(log_skips=True)
    held, lines = [], []
    for records, skipped, probabilities in model.predict_rows(spec, accounting, batch_size=100, device="cpu"):
        held.append(skipped.num_rows + accounting.skips_pending)
        table = answers(records, skipped, probabilities, with_id=True)
        lines += table.column("line").to_pylist()
    assert lines == list(range(2, 200_002)) + [2, 3, 4]
    per_chunk = 2 * block_size // len('"r1","x","y"\n') + 1
    assert len(held) > 20 and max(held) <= per_chunk  # never the whole run at once
    _, rows, err = predict(capsys, bundle, bad, good, "--id", "id")
    assert "read 200003 rows, used 3, skipped 200000" in err
    check_answers(rows[:200_000], bad, 200_000, dict.fromkeys(range(1, 200_001), "wrong_field_count"))
    check_answers(rows[200_000:], good, 3, {}, first_row=200_001)
    assert [row["id"] for row in rows[-4:]] == [None, "r1", "r2", "r3"]


def test_answers_of_a_batch_without_records_and_without_an_id_column(tmp_path):
    from streamfit.sources import RECORD_SCHEMA

    records = pa.RecordBatch.from_pylist([], schema=RECORD_SCHEMA)
    skipped = pa.RecordBatch.from_pydict({"skipped": ["a", "b"], "source": pa.array([0, 0], pa.int32()),
                                          "line": pa.array([3, 4], pa.int64())})
    table = answers(records, skipped, np.zeros((0, 2), np.float32), with_id=True)
    assert table.column("line").to_pylist() == [3, 4]
    assert table.column("id").to_pylist() == [None, None]
    assert table.column("best").to_pylist() == [None, None]
