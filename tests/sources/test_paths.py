import pytest

from streamfit.errors import UserError
from streamfit.sources import resolve_paths


@pytest.fixture
def shards(tmp_path):
    for name in ["part-2.csv", "part-10.csv.gz", "part-1.csv", "notes.md", ".hidden.csv"]:
        (tmp_path / name).write_text("label,text\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deeper.csv").write_text("label,text\n")
    return tmp_path


def test_file_glob_and_folder_in_order(shards):
    d = str(shards)
    assert resolve_paths(f"{d}/part-2.csv") == [f"{d}/part-2.csv"]
    assert resolve_paths(f"{d}/part-*.csv") == [f"{d}/part-1.csv", f"{d}/part-2.csv"]
    assert resolve_paths(d) == [f"{d}/part-1.csv", f"{d}/part-10.csv.gz", f"{d}/part-2.csv"]


def test_arguments_keep_their_order_and_files_are_read_once(shards):
    d = str(shards)
    assert resolve_paths([f"{d}/part-2.csv", f"{d}/part-*.csv"]) == [
        f"{d}/part-2.csv", f"{d}/part-1.csv"]


def test_folder_with_a_format_takes_every_visible_file(shards):
    d = str(shards)
    assert resolve_paths(d, format="csv") == [
        f"{d}/notes.md", f"{d}/part-1.csv", f"{d}/part-10.csv.gz", f"{d}/part-2.csv"]


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"nope.csv: no such file or folder"):
        resolve_paths(str(tmp_path / "nope.csv"))


def test_glob_without_match(tmp_path):
    with pytest.raises(UserError, match=r"\*.jsonl: the pattern matches no file"):
        resolve_paths(str(tmp_path / "*.jsonl"))


def test_empty_folder(tmp_path):
    (tmp_path / "readme.md").write_text("hi")
    with pytest.raises(UserError, match="the folder has no data files"):
        resolve_paths(str(tmp_path))
