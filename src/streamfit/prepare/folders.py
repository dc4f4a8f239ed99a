"""Cache folders: who may be trusted, and where the default root is.

The rules of the prepared-dataset cache's folders live here (the format of
what is inside a dataset's folder lives in `streamfit.prepare.cache`; the
locked work folders a dataset is built in, in `streamfit.workspace`):

- **Private.** A cache folder (a dataset's, and the root of the default
  ones) must belong to the current user and be writable by nobody else,
  as ssh refuses a world-writable key: anyone who can write there could
  plant a dataset that trains a different model. `check_private` refuses
  anything else with a one-line `UserError`; `cache_root` creates the
  default root with mode 0o700.
This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from streamfit.errors import UserError


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
