import os

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


def test_the_same_file_reached_twice_is_read_once(shards, monkeypatch):
    d = str(shards)
    (shards / "link.csv").symlink_to(shards / "part-1.csv")
    (shards / "hard.csv").hardlink_to(shards / "part-2.csv")
    monkeypatch.chdir(shards)
    assert resolve_paths(["part-1.csv", "./part-1.csv", f"{d}/part-1.csv", "link.csv"]) == [
        "part-1.csv"]
    assert resolve_paths([f"{d}/part-2.csv", f"{d}/hard.csv"]) == [f"{d}/part-2.csv"]
    # sorted: hard.csv (= part-2), link.csv (= part-1), part-1.csv, part-2.csv
    assert resolve_paths(f"{d}/*.csv") == [f"{d}/hard.csv", f"{d}/link.csv"]


def test_a_recursive_glob_does_not_follow_a_link_cycle(shards):
    d = str(shards)
    (shards / "sub" / "loop").symlink_to(shards)
    (shards / "again").symlink_to(".")
    found = resolve_paths(f"{d}/**/*.csv")
    assert sorted(found) == found
    assert found == [f"{d}/part-1.csv", f"{d}/part-2.csv", f"{d}/sub/deeper.csv"]
    assert resolve_paths(f"{d}/**/deeper.csv") == [f"{d}/sub/deeper.csv"]


def test_a_recursive_glob_matches_as_glob_does(shards, monkeypatch):
    import glob
    (shards / "sub" / "x").mkdir()
    (shards / "sub" / "x" / "y.csv").write_text("label,text\n")
    (shards / ".hid").mkdir()
    (shards / ".hid" / "z.csv").write_text("label,text\n")
    monkeypatch.chdir(shards)
    for pattern in ["**/*.csv", "sub/**/*.csv", "**", "**/x/*.csv", f"{shards}/**/part-?.csv"]:
        expected = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        assert resolve_paths(pattern) == expected, pattern


def test_a_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    with pytest.raises(UserError, match=r"a.csv: a loop of symbolic links") as error:
        resolve_paths(str(tmp_path / "a.csv"))
    assert "\n" not in str(error.value)


def test_a_fifo_says_it_is_a_fifo(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match=r"pipe.csv: is a FIFO \(named pipe\).*copy"):
        resolve_paths(str(fifo))


def test_a_device_says_it_is_not_a_regular_file():
    with pytest.raises(UserError, match=r"/dev/null: is a character device"):
        resolve_paths("/dev/null")


def test_stdin_is_not_a_path_yet(tmp_path):
    with pytest.raises(UserError, match=r"-: reading from standard input is not supported"):
        resolve_paths("-")
