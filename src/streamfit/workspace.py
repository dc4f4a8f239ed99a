"""Work folders: built aside, renamed into place, swept when their process is dead.

streamfit writes a prepared dataset or a bundle in a *workspace*, a hidden
sibling of its folder named `.<name>.streamfit-<pid>-<random>`, and renames
it into place at the end, so an interrupted write never leaves a
half-written folder where a good one was. Only streamfit's own folders are
replaced (the caller's `check` says which are).

- **Locked while alive.** The writing process holds an exclusive `flock` on
  its workspace for as long as it lives; the kernel releases it when the
  process ends, however it ends (SIGKILL included).
- **Swept, never stolen.** `sweep_stale` removes the workspaces in a folder
  whose lock is free (their process is dead), that are this user's and hold
  only what a workspace holds: its marker, `new` (what was being written)
  and `old` (what it replaces, moved aside). A workspace that a live process
  holds is never touched, nor anything that merely looks like one.
- **Put back, not lost.** A process killed between moving the old folder
  aside and renaming the new one in leaves `old` in its workspace and no
  folder in its place: the sweep renames `old` back. A workspace holding a
  `checkpoints` folder (a bundle's training run) is never removed: only
  left for the user to see.

This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
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
#: What a workspace may hold: its marker, the folder being written, the folder it replaces.
WORKSPACE_ENTRIES = frozenset({WORKSPACE_MARKER, "new", "old"})
_WORKSPACE_NAME = re.compile(r"^\.(.+)\.streamfit-[0-9]+-[0-9a-f]{8}$")
#: A folder a sweep never removes, wherever it lies in a workspace (a run's checkpoints).
_KEPT = "checkpoints"


class Workspace:
    """A locked, hidden work folder beside `parent / name`, removed on exit.

    `with Workspace(parent, name) as workspace:` creates
    `parent/.<name>.streamfit-<pid>-<random>` (mode 0o700), takes an exclusive
    `flock` on it and writes its marker; the caller writes into
    `workspace.new` and `install`s it. Leaving the block removes the folder
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

    @property
    def new(self) -> Path:
        """Where the caller writes the folder that `install` puts in place (not created)."""
        return self.path / "new"

    @property
    def old(self) -> Path:
        """Where `install` moved the folder it replaced (removed with the workspace)."""
        return self.path / "old"

    def install(self, directory: Path, check: Callable[[Path], None]) -> None:
        """Rename `self.new` to `directory`, replacing what is there.

        What `directory` holds is first moved to `self.old` (to be removed
        with the workspace), and `check` is called on it before and after the
        move: it raises to refuse, and a refused folder is moved back, as it
        is when the last rename fails. A crash at any point leaves the old
        folder, the new one, or the old one in this workspace (which the next
        sweep puts back), never a mix.
        """
        check(directory)
        moved = False
        try:
            os.rename(directory, self.old)
            moved = True
        except FileNotFoundError:
            pass
        try:
            if moved:
                check(self.old)  # what was moved, in case it changed since the first look
            os.rename(self.new, directory)
        except BaseException:
            if moved:
                os.rename(self.old, directory)
            raise
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
    lock can be taken (so its process has ended), it holds nothing but what a
    workspace holds (it is empty or has the workspace marker), and no
    `checkpoints` folder. Its `old` folder goes back to its place first when
    that place is empty (the process died mid-install). The lock is held
    while it is removed, so a process cannot take the folder over meanwhile.
    """
    removed: list[Path] = []
    if fcntl is None:
        return removed
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        match = _WORKSPACE_NAME.match(entry.name)
        if not match:
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
            if any(os.path.lexists(os.path.join(entry.path, name, _KEPT)) for name in names):
                continue  # a training run's checkpoints: never ours to remove
            place = os.path.join(parent, match.group(1))
            if "old" in names and not os.path.lexists(place):
                os.rename(os.path.join(entry.path, "old"), place)  # killed mid-install: put it back
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed
