"""Turn path arguments (files, globs, folders) into the list of files to read.

Files are identified by device and inode, not by spelling: `a.csv`,
`./a.csv`, a symbolic link to it and a hard link are one file, read once, at
its first place. A recursive glob (`**`) follows links to folders but enters
each folder once, so a link cycle (`sub -> .`) cannot make it read a file
again or walk forever. Only regular files are read: a FIFO, a device or a
socket named as a path, and a loop of symbolic links, are one-line errors (a
glob or a folder takes only its regular files); standard input (`-`) is not
supported yet.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat
from collections.abc import Iterable, Iterator

from streamfit.errors import UserError
from streamfit.sources.spec import COMPRESSIONS, EXTENSIONS, guess_format

GLOB_CHARS = "*?["

_NOT_REGULAR = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]


def resolve_paths(paths: str | Iterable[str], format: str | None = None) -> list[str]:
    """Expand files, globs and folders into files, in reading order.

    Arguments keep their order; a glob's matches and a folder's files are
    sorted by path, so shards are read in order. A folder contributes its
    (non-hidden, non-recursive) files with a known data extension, or every
    non-hidden file when `format` is given. A file reached twice (named
    twice, or through a symbolic or hard link) is read once, where it first
    comes.

    Args:
        paths: one path or several.
        format: the spec's format, if any (widens what a folder contributes).

    Returns:
        The file paths, as given or as the glob spelled them.

    Raises:
        UserError: for a missing file, a glob that matches no file, a folder
            without data files, a loop of symbolic links, a path that is not a
            regular file (a FIFO, a device), or `-` (standard input).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    seen: set[tuple[int, int]] = set()
    for raw in paths:
        path = os.fspath(raw)
        info = _stat(path)
        if info is None and any(char in path for char in GLOB_CHARS):
            found = sorted(_glob(path))
            if not found:
                raise UserError(f"{path}: the pattern matches no file; check the glob "
                                "(quote it so the shell does not expand it)")
        elif info is None:
            if path == "-":
                raise UserError("-: reading from standard input is not supported yet; save "
                                "the data to a file and pass its path")
            raise UserError(f"{path}: no such file or folder; check the path")
        elif stat.S_ISDIR(info.st_mode):
            found = sorted(_folder_files(path, format))
            if not found:
                known = ", ".join(sorted(EXTENSIONS))
                raise UserError(f"{path}: the folder has no data files ({known}, optionally "
                                f"{'/'.join(COMPRESSIONS)}); pass files or a glob, or give the "
                                "format to read every file of the folder")
        elif stat.S_ISREG(info.st_mode):
            found = [path]
        else:
            kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)),
                        "not a regular file")
            raise UserError(f"{path}: is {kind}, and streamfit reads only regular files "
                            "(standard input is not supported yet); copy the data to a file "
                            "and pass that")
        for file in found:
            key = _identity(file)
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files


def _stat(path: str) -> os.stat_result | None:
    """`os.stat(path)`, or None when nothing is there; UserError for a link loop."""
    try:
        return os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UserError(f"{path}: a loop of symbolic links (a link that leads back to "
                            "itself); fix or remove the link") from None
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise UserError(f"{path}: cannot read it ({error.strerror}); check the path and "
                        "its permissions") from None


def _identity(path: str) -> tuple[int, int]:
    info = _stat(path)
    if info is None:  # removed meanwhile
        raise UserError(f"{path}: no such file or folder; check the path")
    return info.st_dev, info.st_ino


def _glob(pattern: str) -> Iterator[str]:
    """The regular files `pattern` matches (glob's rules; `**` without link cycles)."""
    if "**" not in pattern:
        for path in glob.glob(pattern):
            if _is_regular(path):
                yield path
        return
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    prefix = os.sep.join(parts[:first])
    if pattern.startswith(os.sep) and not prefix:
        prefix = os.sep
    rest = parts[first:]
    root = prefix or os.curdir
    if not os.path.isdir(root):
        return
    visited: set[tuple[int, int]] = set()
    for folder, folders, names in os.walk(root, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            folders[:] = []
            continue
        if (info.st_dev, info.st_ino) in visited:
            folders[:] = []
            continue
        visited.add((info.st_dev, info.st_ino))
        folders.sort()
        relative = os.path.relpath(folder, root)
        segments = [] if relative == os.curdir else relative.split(os.sep)
        for name in [*folders, *names]:
            if _matches([*segments, name], rest):
                path = os.path.join(prefix, *segments, name) if prefix else os.path.join(
                    *segments, name)
                if _is_regular(path):
                    yield path


def _matches(segments: list[str], patterns: list[str]) -> bool:
    """Glob's rule: `**` is any number of folders; hidden names need a pattern with a dot."""
    if not patterns:
        return not segments
    head = patterns[0]
    if head == "**":
        if _matches(segments, patterns[1:]):
            return True
        return bool(segments) and not segments[0].startswith(".") and _matches(
            segments[1:], patterns)
    if not segments:
        return False
    if segments[0].startswith(".") and not head.startswith("."):
        return False
    return fnmatch.fnmatchcase(segments[0], head) and _matches(segments[1:], patterns[1:])


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _folder_files(folder: str, format: str | None) -> Iterable[str]:
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if format is not None or guess_format(entry.name) is not None:
            yield entry.path
