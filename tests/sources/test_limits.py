"""Bounded headers and field counts: a huge header fails fast, in bounded memory."""

import subprocess
import sys
import time

import pytest

from streamfit.errors import UserError
from streamfit.sources import delimited

PROBE = """
import resource, sys
from streamfit.errors import UserError
from streamfit.sources import RowAccounting, SourceSpec, iter_records
try:
    for _ in iter_records(SourceSpec((sys.argv[1],), text=(sys.argv[2],), label=None,
                                     header=sys.argv[3] == "1"), RowAccounting()):
        pass
    print("read")
except UserError as error:
    print("UserError", error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _probe(path, text="c0", header=True):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), text, "1" if header else "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *message, rss = done.stdout.strip().splitlines()
    return "\n".join(message), int(rss) * 1024, time.perf_counter() - start


def test_a_million_column_header_fails_fast_in_bounded_memory(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("c0,c1\nhello,world\n")
    _, base_rss, base_seconds = _probe(small)
    wide = tmp_path / "wide.csv"
    with open(wide, "w") as out:
        out.write(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
        out.write(",".join("x" for _ in range(1_000_000)) + "\n")
    message, rss, seconds = _probe(wide)
    assert message.startswith(f"UserError {wide}: the header has at least ")
    assert "more than the limit of 10000 columns" in message
    assert rss - base_rss < 150 << 20, (rss, base_rss)
    assert seconds - base_seconds < 10


@pytest.mark.parametrize("header", [True, False])
def test_too_many_columns_names_file_count_and_limit(tmp_path, read, header, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(12_000)) + "\n" + "x," * 11_999 + "x\n")
    what = "header" if header else "first row"
    with pytest.raises(UserError, match=rf"^{path}: the {what} has 12000 columns, more than the "
                                        r"limit of 10000 columns;"):
        read(path, text=(0,), label=None, header=header)


def test_quoted_commas_are_not_columns(tmp_path, read):
    path = tmp_path / "long.csv"
    path.write_text('1,"' + "a," * 20_000 + '"\n0,b\n')
    rows, _ = read(path, text=(1,), label=0, header=False)
    assert [r["label"] for r in rows] == ["1", "0"]


def test_a_header_line_longer_than_the_limit(tmp_path, read, monkeypatch):
    monkeypatch.setattr(delimited, "MAX_HEADER_BYTES", 1000)
    path = tmp_path / "long.csv"
    path.write_text("a" * 5000 + ",label\nx,y\n")
    with pytest.raises(UserError, match=rf"^{path}: the header line is longer than 1000 bytes"):
        read(path, text=(0,), block_size=64)


def test_a_data_row_with_many_fields_is_one_wrong_field_count(tmp_path, read):
    path = tmp_path / "a.csv"
    path.write_text("label,text\n1,a\n" + "," * 500_000 + "\n0,b\n")
    rows, acc = read(path)
    assert [r["text"] for r in rows] == ["a", "b"]
    assert acc.skipped == {"wrong_field_count": 1}
