"""Durable file writes (the one atomic writer every layer uses), and opening files one did not write.

A file is written to a hidden temporary name beside it, flushed, fsynced,
renamed over the target with `os.replace`, and its directory is fsynced, so
that a crash (or power loss) at any moment leaves either the old file or
the new one, never half of one. Checkpoints, model files, prepared-cache
manifests and bundles all go through `write_atomic`.

`is_disk_full` tells a full disk (or quota) from other write errors, so each
writer can say which folder is full and how much it needed, in one line.
`open_regular` opens a file of a bundle, saved model or checkpoint, refusing
a symbolic link (to `/etc/passwd`, say) or anything but a regular file.

This module imports nothing heavy (the command line uses it before torch loads).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from streamfit.errors import OptionError, UserError

#: The errors of a write that found no room: a full device, an exhausted quota.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(error: BaseException | None) -> bool:
    """Whether `error` is a write that found no room, or was raised while handling one.

    pyarrow's write errors carry the errno; `torch.save` turns the `OSError`
    into a `RuntimeError` ("unexpected pos") as it closes the zip file, so
    the errors it was raised during count too.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def fsync_directory(directory: Path) -> None:
    """Make the renames in `directory` durable (a no-op where directories cannot be opened)."""
    # Windows cannot open a directory, and makes renames durable itself.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write `path` through a temporary file: flushed, fsynced, renamed, directory fsynced.

    The temporary file is `.NAME.tmp` beside `path`, created exclusively: a
    file already there (a killed run's, or anyone's) is left alone and a
    fresh `.NAME.<random>.tmp` is used instead. It is removed if `write` fails.

    Args:
        path: the file to write (its directory must exist).
        write: called with the temporary file, open for binary writing.
    """
    path = Path(path)
    temporary, file = _create_exclusive(path)
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    fsync_directory(path.parent)


def _create_exclusive(path: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file beside `path`, open for writing; never one that was there."""
    names = [f".{path.name}.tmp"] + [f".{path.name}.{secrets.token_hex(4)}.tmp" for _ in range(100)]
    for name in names:
        try:
            return path.with_name(name), open(path.with_name(name), "xb")  # noqa: SIM115
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: cannot create a temporary file for {path.name}")


def open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading; a symbolic link or anything but a regular file is refused.

    Raises:
        UserError: `PATH: ...` missing, a symbolic link, or not a regular file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise UserError(f"{path}: missing") from None
    except OSError as error:
        if error.errno == errno.ELOOP or path.is_symlink():
            raise UserError(f"{path}: is a symbolic link, which streamfit does not follow inside a "
                            "saved model, bundle or checkpoint (copy the file in place of the link)") from None
        raise UserError(f"{path}: cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path}: is not a regular file")
    return os.fdopen(fd, "rb")


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically and durably (`write_atomic`)."""
    text = json.dumps(data, indent=1) + "\n"
    write_atomic(path, lambda file: file.write(text.encode()))


def check_writable_parent(directory: Path, option: str) -> None:
    """Create `directory`'s parent if needed and prove a file can be made there.

    Raises:
        OptionError: naming `option`, when it cannot (read-only, no permission).
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory.parent).close()
    except OSError as e:
        raise OptionError(option, str(directory), f"cannot be written ({e.strerror}); "
                          "choose a writable directory") from None
