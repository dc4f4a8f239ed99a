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
