"""Work folders: locked while their process lives, swept after it dies, put back when cut short."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from streamfit import workspace as workspace_module
from streamfit.errors import UserError
from streamfit.workspace import WORKSPACE_MARKER, Workspace, sweep_stale

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock and /proc")

# Holds a workspace in `parent` until killed; prints its path once it holds it.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from streamfit.workspace import Workspace
    with Workspace(Path(sys.argv[1]), "data") as workspace:
        workspace.new.mkdir()
        (workspace.new / "train.arrow").write_bytes(b"x" * 1000)
        print(workspace.path, flush=True)
        time.sleep(600)
""")


def hold(parent):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(parent)], stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def test_a_workspace_is_named_for_its_process_and_removed_on_exit(tmp_path):
    with Workspace(tmp_path, "data") as workspace:
        assert workspace.path.parent == tmp_path
        assert workspace.path.name.startswith(f".data.streamfit-{os.getpid()}-")
        assert (workspace.path / WORKSPACE_MARKER).exists()
        assert oct(os.stat(workspace.path).st_mode & 0o777) == oct(0o700)
        workspace.new.mkdir()
        assert sweep_stale(tmp_path) == []  # held by this live process
    assert list(tmp_path.iterdir()) == []


def test_an_error_in_the_block_removes_the_workspace(tmp_path):
    with pytest.raises(RuntimeError), Workspace(tmp_path, "data") as workspace:
        workspace.new.mkdir()
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


@linux_only
def test_a_sigkilled_holders_workspace_is_swept_and_a_live_ones_is_not(tmp_path):
    live, live_path = hold(tmp_path)
    dead, dead_path = hold(tmp_path)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            os.path.basename(p) for p in (live_path, dead_path))  # the killed one left its folder
        assert [str(p) for p in sweep_stale(tmp_path)] == [dead_path]
        assert [str(p) for p in tmp_path.iterdir()] == [live_path]  # the live one is untouched
        assert (tmp_path / live_path / "new" / "train.arrow").stat().st_size == 1000
    finally:
        live.kill()
        live.wait()
    assert [str(p) for p in sweep_stale(tmp_path)] == [live_path]
    assert list(tmp_path.iterdir()) == []


@linux_only
def test_only_what_is_provably_a_workspace_is_swept(tmp_path, monkeypatch):
    looks = tmp_path / ".data.streamfit-1-0123abcd"  # a workspace's name...
    looks.mkdir()
    (looks / "thesis.tex").write_text("mine")  # ...but not a workspace's contents
    other = tmp_path / ".data.streamfit-2-0123abcd"
    other.mkdir()
    (other / WORKSPACE_MARKER).write_text("2\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "file.streamfit-3-0123abcd").write_text("")
    empty = tmp_path / ".data.streamfit-4-0123abcd"  # made, but its process died before locking it
    empty.mkdir()
    link = tmp_path / ".link.streamfit-5-0123abcd"
    link.symlink_to(other)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    assert sweep_stale(tmp_path) == []  # another user's workspaces are theirs to remove
    monkeypatch.undo()
    assert sorted(p.name for p in sweep_stale(tmp_path)) == [other.name, empty.name]
    assert (looks / "thesis.tex").exists() and (tmp_path / ".hidden").exists() and link.is_symlink()


@linux_only
def test_a_workspace_swept_before_it_is_locked_is_given_up_for_another(tmp_path, monkeypatch):
    made = []
    real_lock = Workspace._lock

    def swept_first(path, fd):  # a sweeper removes the empty new folder before the lock is taken
        if not made:
            made.append(path)
            assert sweep_stale(tmp_path) == [path]
        return real_lock(path, fd)

    monkeypatch.setattr(Workspace, "_lock", staticmethod(swept_first))
    with Workspace(tmp_path, "data") as workspace:
        assert workspace.path != made[0] and workspace.path.exists()
        assert not made[0].exists()
    assert list(tmp_path.iterdir()) == []


def test_no_locks_means_no_sweeping(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace_module, "fcntl", None)
    stale = tmp_path / ".data.streamfit-1-0123abcd"
    stale.mkdir()
    assert sweep_stale(tmp_path) == [] and stale.exists()


def test_an_installed_dataset_replaces_what_was_there(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "old").write_text("old")
    checked = []
    with Workspace(tmp_path, "data") as workspace:
        workspace.new.mkdir()
        (workspace.new / "new").write_text("new")
        workspace.install(target, checked.append)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert checked[0] == target and checked[1].name == "old"  # before and after moving it aside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_folder_refused_after_it_was_moved_aside_is_moved_back(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "keep").write_text("mine")

    def refuse_the_second_look(path):
        if path != target:
            raise UserError("not ours")

    with pytest.raises(UserError), Workspace(tmp_path, "data") as workspace:
        workspace.new.mkdir()
        workspace.install(target, refuse_the_second_look)
    assert (target / "keep").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_sweeping_a_missing_folder_does_nothing(tmp_path):
    assert sweep_stale(tmp_path / "absent") == []


def test_a_held_workspace_survives_many_sweeps_from_other_processes(tmp_path):
    live, path = hold(tmp_path)
    try:
        code = "import sys; from pathlib import Path; from streamfit.workspace import sweep_stale; " \
               "print(len(sweep_stale(Path(sys.argv[1]))))"
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
            assert out.stdout.strip() == "0", out.stderr
        time.sleep(0.05)
        assert os.path.isdir(path)
    finally:
        live.kill()
        live.wait()


def _dead_workspace(parent, name, *entries):
    """A workspace of a process that died, holding `entries` (folders, each with a file)."""
    path = parent / f".{name}.streamfit-1-0123abcd"
    path.mkdir()
    (path / WORKSPACE_MARKER).write_text("1\n")
    for entry in entries:
        (path / entry).mkdir(parents=True)
        (path / entry / "file").write_text(entry)
    return path


@linux_only
def test_a_process_killed_mid_install_gets_its_old_folder_back(tmp_path):
    stale = _dead_workspace(tmp_path, "model", "old", "new")
    assert sweep_stale(tmp_path) == [stale]
    assert (tmp_path / "model" / "file").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@linux_only
def test_an_old_folder_whose_place_is_taken_goes(tmp_path):
    (tmp_path / "model").mkdir()
    stale = _dead_workspace(tmp_path, "model", "old")
    assert sweep_stale(tmp_path) == [stale]
    assert list((tmp_path / "model").iterdir()) == []


@linux_only
def test_a_workspace_holding_a_runs_checkpoints_is_never_swept(tmp_path):
    stale = _dead_workspace(tmp_path, "model", "old/checkpoints")
    (tmp_path / "model").mkdir()
    assert sweep_stale(tmp_path) == []
    assert (stale / "old" / "checkpoints" / "file").exists()


def test_a_failed_last_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "data"
    target.mkdir()
    (target / "keep").write_text("mine")
    real_rename = os.rename

    def failing(source, destination):
        if str(source).endswith("/new"):
            raise OSError(28, "No space left on device")
        real_rename(source, destination)

    with pytest.raises(OSError), Workspace(tmp_path, "data") as workspace:
        workspace.new.mkdir()
        monkeypatch.setattr(os, "rename", failing)
        workspace.install(target, lambda path: None)
    monkeypatch.undo()
    assert (target / "keep").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
