import errno

import pytest

from streamfit.files import is_disk_full, write_json


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
