"""Turn path arguments (files, globs, folders) into the list of files to read."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from streamfit.errors import UserError
from streamfit.sources.spec import COMPRESSIONS, EXTENSIONS, guess_format

GLOB_CHARS = "*?["


def resolve_paths(paths: str | Iterable[str], format: str | None = None) -> list[str]:
    """Expand files, globs and folders into files, in reading order.

    Arguments keep their order; a glob's matches and a folder's files are
    sorted by path, so shards are read in order. A folder contributes its
    (non-hidden, non-recursive) files with a known data extension, or every
    non-hidden file when `format` is given. A file named twice is read once.

    Args:
        paths: one path or several.
        format: the spec's format, if any (widens what a folder contributes).

    Returns:
        The file paths, as given or as the glob spelled them.

    Raises:
        UserError: for a missing file, a glob that matches no file, or a folder
            without data files.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    for raw in paths:
        path = os.fspath(raw)
        if any(char in path for char in GLOB_CHARS) and not os.path.exists(path):
            found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
            if not found:
                raise UserError(f"{path}: the pattern matches no file; check the glob "
                                "(quote it so the shell does not expand it)")
        elif os.path.isdir(path):
            found = sorted(_folder_files(path, format))
            if not found:
                known = ", ".join(sorted(EXTENSIONS))
                raise UserError(f"{path}: the folder has no data files ({known}, optionally "
                                f"{'/'.join(COMPRESSIONS)}); pass files or a glob, or give the "
                                "format to read every file of the folder")
        elif os.path.isfile(path):
            found = [path]
        else:
            raise UserError(f"{path}: no such file or folder; check the path")
        files.extend(found)
    return list(dict.fromkeys(files))


def _folder_files(folder: str, format: str | None) -> Iterable[str]:
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if format is not None or guess_format(entry.name) is not None:
            yield entry.path
