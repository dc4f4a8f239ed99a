"""A full disk while preparing or saving: one line naming the folder, nothing half-written."""

import os
import subprocess

import pytest
from faults.processes import one_line_error, streamfit, write_big_corpus


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs at tmp_path/disk (needs root; skipped otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def looks_valid(folder):
    return any(p.name in ("manifest.json", "bundle.json") for p in folder.rglob("*"))


def test_prepare_on_a_full_disk(tmp_path, small_disk):
    data = write_big_corpus(tmp_path / "train.csv", 40_000)
    cache = small_disk / "cache"
    line = one_line_error(streamfit("prepare", data, "--cache", cache), small_disk)
    assert "space" in line or "full" in line
    assert not looks_valid(small_disk) and list(small_disk.iterdir()) == []


def test_saving_a_bundle_on_a_full_disk(tmp_path, small_disk):
    data = write_big_corpus(tmp_path / "train.csv", 4_000)
    model = small_disk / "model"
    result = streamfit("train", data, "--cache", tmp_path / "cache", "--output", model,
                       "--epochs", "1", "--units", "256")
    line = one_line_error(result, small_disk)
    assert "space" in line or "full" in line
    assert not looks_valid(small_disk)
