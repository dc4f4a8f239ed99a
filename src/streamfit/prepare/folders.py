"""Cache folders: who may be trusted, where the default root is, and the locked work folders.

Three rules of the prepared-dataset cache live here (the format of what is
inside a dataset's folder lives in `streamfit.prepare.cache`):

- **Private.** A cache folder (a dataset's, and the root of the default
  ones) must belong to the current user and be writable by nobody else,
  as ssh refuses a world-writable key: anyone who can write there could
  plant a dataset that trains a different model. `check_private` refuses
  anything else with a one-line `UserError`; `cache_root` creates the
  default root with mode 0o700.
- **Built aside.** A dataset is built in a *workspace*, a hidden sibling of
  its folder named `.<name>.streamfit-<pid>-<random>`, and renamed into
  place at the end, so an interrupted build never leaves a half-written
  cache. The building process holds an exclusive `flock` on the workspace
  for as long as it lives; the lock is released by the kernel when the
  process ends, however it ends (SIGKILL included).
- **Swept, never stolen.** `sweep_stale` removes the workspaces in a folder
  whose lock is free (their process is dead) and that are this user's and
  hold only what a workspace holds. A workspace that a live process holds is
  never touched, nor anything that merely looks like one.

This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from streamfit.errors import UserError
from streamfit.files import fsync_directory

try:
    import fcntl
except ImportError:  # Windows: no locks, so no sweeping (workspaces still go away on errors)
    fcntl = None

#: A file every workspace holds once its lock is taken (a folder without it is swept only when empty).
WORKSPACE_MARKER = "streamfit-workspace"
#: What a workspace may hold: its marker, the dataset being built, the dataset it replaces.
WORKSPACE_ENTRIES = frozenset({WORKSPACE_MARKER, "dataset", "old"})
_WORKSPACE_NAME = re.compile(r"^\..+\.streamfit-[0-9]+-[0-9a-f]{8}$")


def cache_root() -> Path:
    """The root of the default cache folders: `$STREAMFIT_CACHE`, else `$XDG_CACHE_HOME/streamfit`
    or `~/.cache/streamfit`. It holds one folder per data and options (named by a digest)."""
    root = os.environ.get("STREAMFIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "streamfit")
    return Path(root)


def make_private_root(root: Path) -> None:
    """Create the default cache root with mode 0o700 (if absent) and check it is private.

    Raises:
        UserError: the root belongs to another user or others can write to it.
    """
    with contextlib.suppress(FileExistsError):
        root.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(root, 0o700)
    check_private(root)


def check_private(folder: Path) -> None:
    """Refuse a cache folder that another user owns or can write to (absent folders pass).

    Raises:
        UserError: one line naming the folder and the fix.
    """
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return
    except OSError as error:
        raise UserError(f"{folder}: cannot read the cache folder ({error.strerror}); "
                        "give a cache folder of your own") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UserError(f"{folder}: is a file, not a cache folder; give the path of a folder")
    if st.st_uid != os.getuid():
        raise UserError(f"{folder}: the cache folder belongs to another user (uid {st.st_uid}), who "
                        "could change what it holds; give a cache folder of your own")
    writable = [who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                if st.st_mode & bit]
    if writable:
        raise UserError(f"{folder}: the cache folder is writable by {' and '.join(writable)} "
                        f"(mode {stat.S_IMODE(st.st_mode):o}), who could plant a dataset in it; "
                        f"make it private (chmod go-w {folder}) or give another")


class Workspace:
    """A locked, hidden work folder beside `parent / name`, removed on exit.

    `with Workspace(parent, name) as workspace:` creates
    `parent/.<name>.streamfit-<pid>-<random>` (mode 0o700), takes an exclusive
    `flock` on it and writes its marker; leaving the block removes the folder
    (whatever is still in it) and releases the lock. A workspace whose
    process died without leaving the block is removed by the next
    `sweep_stale(parent)`.

    The lock is taken on the folder itself, after it is created, and the
    folder is then checked to be the one locked: a sweeper that saw the
    folder unlocked in between may have removed it, in which case another
    name is tried.
    """

    def __init__(self, parent: Path, name: str):
        self.parent, self.name = Path(parent), name
        self.path: Path | None = None
        self._fd: int | None = None

    def __enter__(self) -> Workspace:
        for _ in range(100):
            path = self.parent / f".{self.name}.streamfit-{os.getpid()}-{secrets.token_hex(4)}"
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            fd = None
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                if self._lock(path, fd):
                    self.path, self._fd = path, fd
                    (path / WORKSPACE_MARKER).write_bytes(f"{os.getpid()}\n".encode())
                    return self
                os.close(fd)
            except BaseException:
                if self.path is None:  # not yet ours to remove whole: only the empty folder we made
                    if fd is not None:
                        os.close(fd)
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
                self.__exit__(None, None, None)
                raise
        raise UserError(f"{self.parent}: cannot create a work folder there; check the folder")

    @staticmethod
    def _lock(path: Path, fd: int) -> bool:
        """Lock the new folder `path` (open as `fd`); False if a sweeper took or removed it first."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a sweeper holds it and will remove it
                return False
        try:
            return os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
        except FileNotFoundError:  # swept before we locked it
            return False

    def install(self, built: Path, directory: Path, check: Callable[[Path], None]) -> None:
        """Rename `built` (a folder in this workspace) to `directory`, replacing what is there.

        What `directory` holds is first moved into this workspace (to be
        removed with it), and `check` is called on it before and after the
        move: it raises to refuse, and a refused folder is moved back. A
        crash at any point leaves the old folder, the new one, or neither
        (then the next run prepares again), never a mix.
        """
        check(directory)
        old = self.path / "old"
        try:
            os.rename(directory, old)
        except FileNotFoundError:
            pass
        else:
            try:
                check(old)  # what was moved, in case it changed since the first look
            except BaseException:
                os.rename(old, directory)
                raise
        os.rename(built, directory)
        fsync_directory(directory.parent)

    def __exit__(self, *exc) -> None:
        try:
            if self.path is not None:
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            if self._fd is not None:
                os.close(self._fd)  # releases the lock
            self.path, self._fd = None, None


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the workspaces in `parent` that no live process holds; return those removed.

    A folder is removed only when all of these hold: its name is a
    workspace's, it is a real folder (not a link) of the current user, its
    lock can be taken (so its process has ended), and it holds nothing but
    what a workspace holds (it is empty or has the workspace marker). The lock
    is held while it is removed, so a process cannot take the folder over
    meanwhile.
    """
    removed: list[Path] = []
    if fcntl is None:
        return removed
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not _WORKSPACE_NAME.match(entry.name):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process is building in it
            names = set(os.listdir(entry.path))
            if names and (WORKSPACE_MARKER not in names or not names <= WORKSPACE_ENTRIES):
                continue  # not one of ours, whatever its name says
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed
