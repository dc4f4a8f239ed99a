"""Cache folders: private or refused; the default root."""

import os

import pytest

from streamfit.errors import UserError
from streamfit.prepare.folders import (
    cache_root,
    check_private,
    make_private_root,
)


@pytest.mark.parametrize("bits, who", [(0o020, "group"), (0o002, "others"), (0o022, "group and others")])
def test_a_folder_others_can_write_to_is_refused(tmp_path, bits, who):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700 | bits)
    with pytest.raises(UserError, match=f"writable by {who}") as error:
        check_private(folder)
    assert str(folder) in str(error.value) and "chmod go-w" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    check_private(folder)  # ours
    monkeypatch.setattr(os, "getuid", lambda: os.stat(folder).st_uid + 1)
    with pytest.raises(UserError, match="belongs to another user") as error:
        check_private(folder)
    assert str(folder) in str(error.value)


def test_an_absent_folder_passes_and_a_file_does_not(tmp_path):
    check_private(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_private(tmp_path / "file")


def test_the_default_root_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMFIT_CACHE", str(tmp_path / "deep" / "root"))
    old = os.umask(0)  # the most permissive umask: the root is 0o700 anyway
    try:
        make_private_root(cache_root())
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "deep" / "root").st_mode & 0o777) == oct(0o700)
    os.chmod(tmp_path / "deep" / "root", 0o777)
    with pytest.raises(UserError, match="writable by group and others"):
        make_private_root(cache_root())


def test_the_root_follows_streamfit_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("STREAMFIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "streamfit"
    monkeypatch.setenv("STREAMFIT_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


