"""The cache is vouched for, not trusted: never replace what is not ours, never use what is damaged."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pyarrow.ipc as ipc
import pytest

from streamfit.errors import UserError
from streamfit.prepare import cache as cache_module
from streamfit.prepare import pipeline
from streamfit.prepare.cache import (
    MARKER,
    CacheDamaged,
    Checksums,
    check_replaceable,
    verify_contents,
)
from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare, open_prepared, prepare
from streamfit.sources import SourceSpec

OPTIONS = PrepareOptions(validation_split=0.2)


def spec(path, **kw):
    return SourceSpec((str(path),), **kw)


@pytest.fixture
def data(tmp_path, write_corpus):
    return write_corpus(tmp_path / "a.csv", 300)


@pytest.fixture
def built(tmp_path, data):
    cache = tmp_path / "cache"
    load_or_prepare(spec(data), OPTIONS, cache)
    return cache


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def flip(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))


# --- what may be replaced ---------------------------------------------------------------------


def test_a_project_folder_is_refused_and_left_whole(tmp_path, data):
    (tmp_path / "notes.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError, match="holds files streamfit did not write") as error:
        load_or_prepare(spec(data), OPTIONS, tmp_path)
    assert str(tmp_path) in one_line(error) and "notes.txt" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no work folder left either
    assert data.exists()


def test_a_folder_with_a_cache_files_name_but_no_marker_is_refused(tmp_path, data):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "train.arrow").write_bytes(b"the user's own file")
    with pytest.raises(UserError, match="did not write"):
        load_or_prepare(spec(data), OPTIONS, folder)
    assert (folder / "train.arrow").read_bytes() == b"the user's own file"


def test_a_prepared_dataset_with_a_stranger_file_is_refused(built, data):
    (built / "thesis.tex").write_text("mine")
    with pytest.raises(UserError, match="thesis.tex"):
        load_or_prepare(spec(data), PrepareOptions(min_df=1), built)
    assert (built / "thesis.tex").exists()


def test_a_model_bundle_is_refused(tmp_path, data):
    bundle = tmp_path / "model"
    bundle.mkdir()
    (bundle / "bundle.json").write_text("{}")
    with pytest.raises(UserError, match="is a model bundle") as error:
        load_or_prepare(spec(data), OPTIONS, bundle)
    assert str(bundle) in one_line(error)
    assert (bundle / "bundle.json").exists()


def test_the_cache_root_is_refused_not_wiped(tmp_path, data, monkeypatch):
    root = tmp_path / "root"
    monkeypatch.setenv("STREAMFIT_CACHE", str(root))
    first = load_or_prepare(spec(data), OPTIONS)
    assert first.directory.parent == root and oct(root.stat().st_mode & 0o777) == oct(0o700)
    with pytest.raises(UserError, match="cache root") as error:
        load_or_prepare(spec(data), PrepareOptions(seed=4), root)
    assert str(root) in one_line(error) and first.directory.name in str(error.value)
    assert (first.directory / "manifest.json").is_file()


def test_an_empty_folder_and_a_file_path(tmp_path, data):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(load_or_prepare(spec(data), OPTIONS, empty).train) > 0
    with pytest.raises(UserError, match="is a file"):
        load_or_prepare(spec(data), OPTIONS, data)


def test_our_own_dataset_is_replaced_with_nothing_left_beside_it(built, data, tmp_path):
    assert not load_or_prepare(spec(data), PrepareOptions(min_df=1, validation_split=0.2), built).reused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "cache"]
    assert sorted(p.name for p in built.iterdir()) == sorted(
        [MARKER, "manifest.json", "ngrams.npz", "train.arrow", "validation.arrow", "vocabulary.arrow"])
    assert oct(built.stat().st_mode & 0o777) == oct(0o700)


def test_a_format_1_cache_is_recognised_as_ours(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format": 1, "key": {}}))
    (old / "train.arrow").write_bytes(b"")
    check_replaceable(old)
    (old / "manifest.json").write_text(json.dumps({"format": 1}))  # no key: not provably ours
    with pytest.raises(UserError):
        check_replaceable(old)


# --- private folders --------------------------------------------------------------------------


def test_a_group_writable_cache_is_refused_before_it_is_read(built, data):
    os.chmod(built, 0o770)
    with pytest.raises(UserError, match="writable by group") as error:
        load_or_prepare(spec(data), OPTIONS, built)
    assert str(built) in one_line(error)
    with pytest.raises(UserError, match="writable by group"):
        open_prepared(built)


def test_a_cache_of_another_user_is_refused(built, data, monkeypatch):
    monkeypatch.setattr(os, "getuid", lambda: os.stat(built).st_uid + 1)
    with pytest.raises(UserError, match="belongs to another user"):
        load_or_prepare(spec(data), OPTIONS, built)


def test_a_default_root_others_can_write_to_is_refused(tmp_path, data, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    os.chmod(root, 0o777)
    monkeypatch.setenv("STREAMFIT_CACHE", str(root))
    with pytest.raises(UserError, match="writable by group and others") as error:
        load_or_prepare(spec(data), OPTIONS)
    assert str(root) in one_line(error)
    assert list(root.iterdir()) == []


# --- checksums --------------------------------------------------------------------------------


def test_checksums_are_computed_while_writing_and_match_the_files(built):
    contents = json.loads((built / "manifest.json").read_text())["contents"]
    assert sorted(contents) == ["ngrams.npz", "train.arrow", "validation.arrow", "vocabulary.arrow"]
    for name, entry in contents.items():
        raw = (built / name).read_bytes()
        assert entry == {"size": len(raw), "crc32": f"{zlib.crc32(raw):08x}"}
    ds = open_prepared(built)  # and the files still read as before
    assert len(ds.train) + len(ds.validation) == 300 and ds.ngram_counts.class_counts.sum() == len(ds.train)


def test_a_hashing_file_records_nothing_when_its_write_fails(tmp_path):
    checksums = Checksums()
    with pytest.raises(OSError), checksums.open(tmp_path / "x.arrow") as file:
        file.write(b"abc")
        raise OSError(errno.EIO, "failed")
    assert checksums.contents == {}


@pytest.mark.parametrize("name, damage, problem", [
    ("train.arrow", flip, "train.arrow does not match its checksum"),
    ("train.arrow", lambda p: p.write_bytes(p.read_bytes()[:100]), "train.arrow has 100 bytes"),
    ("validation.arrow", lambda p: p.unlink(), "validation.arrow is missing"),
    ("vocabulary.arrow", flip, "vocabulary.arrow does not match"),
    ("ngrams.npz", lambda p: p.write_bytes(b""), "ngrams.npz has 0 bytes"),
])
def test_a_damaged_cache_is_rebuilt_saying_so_or_refused_under_strict(built, data, name, damage, problem):
    clean = {p.name: p.read_bytes() for p in built.iterdir()}
    damage(built / name)
    with pytest.raises(CacheDamaged, match=problem) as error:
        open_prepared(built)
    assert str(built) in one_line(error)
    with pytest.raises(UserError, match=f"damaged \\({problem}.*strict") as error:
        load_or_prepare(spec(data, strict=True), OPTIONS, built)
    assert str(built) in one_line(error)
    said = []
    rebuilt = load_or_prepare(spec(data), OPTIONS, built, progress=said.append)
    assert not rebuilt.reused
    assert said[0].startswith(f"{built}: the prepared dataset is damaged ({problem}")
    assert said[0].endswith("rebuilding it")
    for file, raw in clean.items():
        if file != "manifest.json":
            assert (built / file).read_bytes() == raw, file
    assert load_or_prepare(spec(data), OPTIONS, built).reused


@pytest.mark.parametrize("text", ["{not json", "[]", json.dumps({"format": 2})])
def test_an_unreadable_manifest_is_rebuilt_saying_so(built, data, text):
    (built / "manifest.json").write_text(text)
    with pytest.raises(CacheDamaged, match="manifest.json"):
        open_prepared(built)
    said = []
    assert not load_or_prepare(spec(data), OPTIONS, built, progress=said.append).reused
    assert said[0].startswith(f"{built}: the prepared dataset is damaged (manifest.json")


def test_a_file_that_fails_to_open_despite_its_checksum_is_one_line(built, monkeypatch):
    def broken(*_):
        raise OSError("Not an Arrow file")

    monkeypatch.setattr(ipc, "open_file", broken)
    with pytest.raises(CacheDamaged, match="Not an Arrow file") as error:
        open_prepared(built)
    assert str(built) in one_line(error)


def test_verify_names_a_manifest_listing_a_stranger(built):
    manifest = json.loads((built / "manifest.json").read_text())
    manifest["contents"]["../etc/passwd"] = {"size": 1, "crc32": "0"}
    assert "no file of a prepared dataset" in verify_contents(built, manifest)
    del manifest["contents"]["../etc/passwd"], manifest["contents"]["train.arrow"]
    assert verify_contents(built, manifest) == "manifest.json does not list train.arrow"


def test_a_train_has_validation_only_when_the_manifest_says_so(tmp_path, data):
    ds = load_or_prepare(spec(data), PrepareOptions(), tmp_path / "c")
    assert ds.validation is None and "validation.arrow" not in ds.manifest["contents"]


# --- the key, a full disk, a killed prepare ---------------------------------------------------


def test_the_key_covers_the_files_a_format_reads(tmp_path, write_corpus):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(2):
        write_corpus(shards / f"part-{i:04d}", 100, seed=i)
    folder = SourceSpec((str(shards),), format="csv")
    first = load_or_prepare(folder, PrepareOptions(), tmp_path / "cache")
    assert len(first.train) == 200
    assert load_or_prepare(folder, PrepareOptions(), tmp_path / "cache").reused
    with open(shards / "part-0001", "a") as f:
        f.write('"pos","great fun"\n' * 7)
    rebuilt = load_or_prepare(folder, PrepareOptions(), tmp_path / "cache")
    assert not rebuilt.reused and len(rebuilt.train) == 207


def test_a_full_disk_is_one_line_and_leaves_the_old_cache_alone(built, data, tmp_path, monkeypatch):
    before = {p.name: p.read_bytes() for p in built.iterdir()}
    real_open = Checksums.open

    def full(self, path):
        file = real_open(self, path)
        if path.name == "train.arrow":
            def no_room(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            file.write = no_room
        return file

    monkeypatch.setattr(Checksums, "open", full)
    with pytest.raises(UserError, match="no space left") as error:
        load_or_prepare(spec(data), PrepareOptions(min_df=1), built)
    message = one_line(error)
    assert str(tmp_path) in message and "needs about" in message and "written" in message
    assert {p.name: p.read_bytes() for p in built.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "cache"]


def test_other_write_errors_are_not_called_a_full_disk(tmp_path, data, monkeypatch):
    def failing(*_, **__):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(pipeline, "write_marker", failing)
    with pytest.raises(OSError, match="Input/output"):
        prepare(spec(data), OPTIONS, tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.fixture
def small_disk(tmp_path):
    """A 256 kB tmpfs (needs root; skipped otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_really_full_disk(tmp_path, small_disk, write_corpus):
    data = write_corpus(tmp_path / "big.csv", 20_000)
    with pytest.raises(UserError, match="no space left") as error:
        load_or_prepare(spec(data), OPTIONS, small_disk / "cache")
    assert str(small_disk) in one_line(error)
    assert list(small_disk.iterdir()) == []


KILLED = textwrap.dedent("""
    import sys
    from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare
    from streamfit.sources import SourceSpec
    load_or_prepare(SourceSpec((sys.argv[1],)), PrepareOptions(), sys.argv[2])
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL")
def test_a_sigkilled_prepares_work_folder_is_removed_by_the_next_prepare(tmp_path, data, write_corpus):
    small = write_corpus(tmp_path / "small.csv", 2000).read_text().splitlines(keepends=True)
    big = tmp_path / "big.csv"
    big.write_text("".join(small[:1] + small[1:] * 50))
    caches = tmp_path / "caches"
    process = subprocess.Popen([sys.executable, "-c", KILLED, str(big), str(caches / "big")])
    try:
        while not (caches.exists() and any(caches.iterdir())):
            assert process.poll() is None
        while not any((p / "new").exists() for p in caches.iterdir()):
            assert process.poll() is None
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    (left,) = caches.iterdir()
    assert left.name.startswith(f".big.streamfit-{process.pid}-")
    load_or_prepare(spec(data), OPTIONS, caches / "small")  # another dataset in the same parent
    assert [p.name for p in caches.iterdir()] == ["small"]


def test_a_dataset_installed_meanwhile_by_another_process_is_kept(tmp_path, data, monkeypatch):
    cache = tmp_path / "cache"
    real_build = pipeline._build

    def racing(*args):  # another process installs the same dataset while this one builds
        manifest = real_build(*args)
        monkeypatch.setattr(pipeline, "_build", real_build)
        load_or_prepare(spec(data), OPTIONS, cache)
        return manifest

    monkeypatch.setattr(pipeline, "_build", racing)
    installs = []
    real_install = pipeline.Workspace.install
    monkeypatch.setattr(pipeline.Workspace, "install", lambda self, *a: installs.append(a) or real_install(self, *a))
    ds = load_or_prepare(spec(data), OPTIONS, cache)
    assert ds.directory == cache and len(installs) == 1  # the other's; this one's build is dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "cache"]
    assert np.array_equal(ds.train.labels, open_prepared(cache).train.labels)


def test_the_marker_is_a_cache_directory_tag(built):
    assert (built / MARKER).read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert f"format {cache_module.CACHE_FORMAT}" in (built / MARKER).read_text()


def test_the_key_leaves_out_what_does_not_change_the_prepared_data(tmp_path):
    spec = SourceSpec((str(tmp_path / "a.csv"),))
    (tmp_path / "a.csv").write_text("label,text,id\npos,great,1\n")
    options = pipeline._spec_options(spec)
    assert "id" not in options and "strict" not in options and "paths" not in options
    assert pipeline._spec_options(SourceSpec(spec.paths, id="id", strict=True)) == options
