"""A damaged prepared dataset is never trained on: it is rebuilt (saying so) or refused."""

import shutil

import pytest
from faults.processes import one_line_error, streamfit, write_big_corpus


def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def delete(path):
    path.unlink()


DAMAGES = [("train.arrow", flip), ("train.arrow", truncate), ("validation.arrow", delete),
           ("validation.arrow", flip), ("vocabulary.arrow", flip), ("vocabulary.arrow", truncate),
           ("ngrams.npz", truncate), ("ngrams.npz", flip)]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prepared")
    data = write_big_corpus(tmp / "train.csv", 3_000)
    cache = tmp / "cache"
    result = streamfit("prepare", data, "--cache", cache, "--validation-split", "0.2")
    assert result.returncode == 0, result.stderr
    return data, cache


@pytest.mark.parametrize(("name", "damage"), DAMAGES, ids=[f"{n}-{d.__name__}" for n, d in DAMAGES])
def test_a_damaged_file_is_rebuilt_or_refused_with_strict(tmp_path, prepared, name, damage):
    data, clean = prepared
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    damage(cache / name)
    one_line_error(streamfit("prepare", data, "--cache", cache, "--validation-split", "0.2",
                             "--strict"), cache)
    result = streamfit("prepare", data, "--cache", cache, "--validation-split", "0.2")
    assert result.returncode == 0, result.stderr
    assert "reused" not in result.stdout.splitlines()[-1]
    assert str(cache) in result.stdout and name in result.stdout  # it says what it rebuilt and why
    for file in clean.iterdir():  # the rebuilt cache holds what a clean build wrote
        if file.suffix in (".arrow", ".npz"):
            assert (cache / file.name).read_bytes() == file.read_bytes(), file.name
    assert "reused" in streamfit("prepare", data, "--cache", cache, "--validation-split",
                                 "0.2").stdout


def test_train_on_a_flipped_byte_trains_the_model_a_clean_cache_gives(tmp_path, prepared):
    data, clean = prepared
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    flip(cache / "train.arrow")
    options = ["--validation-split", "0.2", "--epochs", "2", "--seed", "1"]
    assert streamfit("train", data, "--cache", cache, "--output", tmp_path / "a", *options).returncode == 0
    assert streamfit("train", data, "--cache", clean, "--output", tmp_path / "b", *options).returncode == 0
    assert (tmp_path / "a" / "weights.npz").read_bytes() == (tmp_path / "b" / "weights.npz").read_bytes()
