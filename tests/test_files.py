import errno

import pytest

from streamfit.files import is_disk_full, write_atomic, write_json


@pytest.mark.parametrize("error, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EIO, "Input/output error"), False),
    (OSError("no errno"), False),
    (ValueError("not an OSError"), False),
])
def test_is_disk_full_tells_a_full_disk_from_other_errors(error, full):
    assert is_disk_full(error) is full


def test_write_json_leaves_no_temporary(tmp_path):
    write_json(tmp_path / "a.json", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_runtime_error_raised_while_handling_a_full_disk_is_a_full_disk():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("unexpected pos 748672 vs 748624") from None
    except RuntimeError as error:
        assert error.__cause__ is None and error.__context__ is not None
        assert is_disk_full(error)
    assert not is_disk_full(RuntimeError("unrelated"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_write_atomic_leaves_a_file_that_has_its_temporary_name_alone(tmp_path):
    target = tmp_path / "out.csv"
    (tmp_path / ".out.csv.tmp").write_text("someone's")
    write_atomic(target, lambda file: file.write(b"new"))
    assert target.read_bytes() == b"new"
    assert (tmp_path / ".out.csv.tmp").read_text() == "someone's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.csv.tmp", "out.csv"]


def test_write_atomic_removes_its_temporary_file_when_writing_fails(tmp_path):
    def fail(file):
        file.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(tmp_path / "out.csv", fail)
    assert list(tmp_path.iterdir()) == []


def test_open_regular_refuses_links_and_what_is_not_a_file(tmp_path):
    from streamfit.errors import UserError
    from streamfit.files import open_regular

    (tmp_path / "weights.pt").write_bytes(b"w")
    with open_regular(tmp_path / "weights.pt") as file:
        assert file.read() == b"w"
    (tmp_path / "link.pt").symlink_to("/etc/passwd")
    with pytest.raises(UserError, match="is a symbolic link"):
        open_regular(tmp_path / "link.pt")
    with pytest.raises(UserError, match="missing"):
        open_regular(tmp_path / "absent.pt")
    with pytest.raises(UserError, match="not a regular file"):
        open_regular(tmp_path)
