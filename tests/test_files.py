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
