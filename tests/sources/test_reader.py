import bz2
import gzip
import lzma

import pytest
import zstandard

from streamfit.errors import UserError
from streamfit.sources import RowAccounting, SourceSpec, delimited, iter_records

CSV = 'label,text\n1,"one\ntwo"\n0,three\n'
COMPRESS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
            "zst": lambda data: zstandard.ZstdCompressor().compress(data)}


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_every_compression(tmp_path, read, suffix):
    path = tmp_path / f"a.csv.{suffix}"
    path.write_bytes(COMPRESS[suffix](CSV.encode()))
    rows, _ = read(path)
    assert [(r["text"], r["line"]) for r in rows] == [("one\ntwo", 2), ("three", 4)]


def test_glob_of_shards_and_folder_in_sorted_order(tmp_path, read):
    for i in (2, 0, 1):
        (tmp_path / f"part-{i}.csv.gz").write_bytes(gzip.compress(f"label,text\n{i},row {i}\n".encode()))
    by_glob, acc = read(str(tmp_path / "part-*.csv.gz"))
    assert [(r["text"], r["source"]) for r in by_glob] == [("row 0", 0), ("row 1", 1), ("row 2", 2)]
    assert acc.files == [str(tmp_path / f"part-{i}.csv.gz") for i in range(3)]
    by_folder, _ = read(tmp_path)
    assert by_folder == by_glob


def test_mixed_formats_and_a_shared_accounting(tmp_path):
    (tmp_path / "a.csv").write_text("label,text\nx,from csv\n")
    (tmp_path / "b.jsonl").write_text('{"text": "from json", "label": "y"}\n')
    acc = RowAccounting(files=[str(tmp_path / "b.jsonl")])
    spec = SourceSpec((str(tmp_path / "a.csv"), str(tmp_path / "b.jsonl")))
    rows = [r for batch in iter_records(spec, acc) for r in batch.to_pylist()]
    assert [(r["text"], r["source"]) for r in rows] == [("from csv", 1), ("from json", 0)]
    assert acc.files == [str(tmp_path / "b.jsonl"), str(tmp_path / "a.csv")]


def test_errors_come_before_any_row(tmp_path):
    (tmp_path / "a.csv").write_text("label,text\nx,y\n")
    with pytest.raises(UserError, match="no such file"):
        iter_records(SourceSpec((str(tmp_path / "a.csv"), str(tmp_path / "b.csv"))),
                     RowAccounting())
    with pytest.raises(UserError, match=r"^encoding=.* is unknown"):
        iter_records(SourceSpec((str(tmp_path / "a.csv"),), encoding="nope"), RowAccounting())
    with pytest.raises(UserError, match="text format holds unlabelled documents"):
        iter_records(SourceSpec((str(tmp_path / "a.csv"),), format="text"), RowAccounting())


def test_strict_spec_makes_the_accounting_strict(tmp_path):
    (tmp_path / "a.csv").write_text("label,text\nx,y\n")
    acc = RowAccounting()
    iter_records(SourceSpec((str(tmp_path / "a.csv"),), strict=True), acc)
    assert acc.strict


def refuse_exact_path(monkeypatch):
    def refuse(*args):
        raise AssertionError("the exact parser ran on a clean chunk")

    monkeypatch.setattr(delimited._DelimitedFile, "_exact", refuse)


def test_clean_files_never_take_the_exact_path(tmp_path, read, monkeypatch):
    refuse_exact_path(monkeypatch)
    (tmp_path / "a.csv").write_text('label,text\n' + '1,"a\n""b"",\nc"\n0,plain\n' * 200)
    rows, _ = read(tmp_path / "a.csv", block_size=100)
    assert [r["line"] for r in rows[:4]] == [2, 5, 6, 9]
    assert rows[-1]["line"] == 801 and rows[0]["text"] == 'a\n"b",\nc'


def test_real_clean_files_never_take_the_exact_path(read, monkeypatch, datasets):
    refuse_exact_path(monkeypatch)
    rows, _ = read(datasets / "20newsgroups" / "test.csv.gz", block_size=1 << 20)
    assert len(rows) == 7_532


def _all_bad_run(tmp_path, rows=200_000):
    """A CSV whose 200k data rows all have a field too many, then a file of 3 good rows."""
    bad = tmp_path / "bad.csv"
    with open(bad, "w") as f:
        f.write("id,text\n")
        f.writelines(f"r{i},x,y\n" for i in range(1, rows + 1))
    good = tmp_path / "good.csv"
    good.write_text("id,text\na,one\nb,two\nc,three\n")
    return bad, good


@pytest.mark.parametrize("with_id", [False, True])
def test_a_file_of_only_bad_rows_holds_one_chunk_of_skips_when_they_are_logged(tmp_path, with_id):
    bad, good = _all_bad_run(tmp_path)
    block_size = 64 << 10
    # A chunk holds at most block_size bytes of whole rows plus the row it cuts (rows >= 7 bytes).
    per_chunk = 2 * block_size // len("r1,x,y\n") + 1
    spec = SourceSpec((str(bad), str(good)), label=None, block_size=block_size,
                      id="id" if with_id else None)
    accounting = RowAccounting(log_skips=True)
    pending, taken, kept = [], [], []
    for batch in iter_records(spec, accounting):
        assert batch.schema.names == ["text", "label", "source", "line", *(["id"] if with_id else [])]
        pending.append(accounting.skips_pending)
        taken += [line for _, _, lines in accounting.take_skipped() for line in lines.tolist()]
        kept += batch.column("text").to_pylist()
    assert taken == list(range(2, 200_002))  # every bad row, in order, once
    assert kept == ["one", "two", "three"]
    assert len(pending) > 20 and max(pending) <= per_chunk
    assert accounting.skipped == {"wrong_field_count": 200_000}


def test_without_a_skip_log_batches_are_never_empty(tmp_path):
    bad, good = _all_bad_run(tmp_path, rows=20_000)
    accounting = RowAccounting()
    batches = list(iter_records(SourceSpec((str(bad), str(good)), label=None, block_size=4096),
                                accounting))
    assert [batch.num_rows for batch in batches] == [3]
    assert accounting.skips_pending == 0 and accounting.rows_read == 20_003
