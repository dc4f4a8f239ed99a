"""SIGKILL at any point of prepare or train leaves nothing damaged and nothing behind."""

import signal
import time

import pytest
from faults.processes import (
    alive,
    children,
    one_line_error,
    start,
    streamfit,
    temporaries,
    wait_for,
    write_big_corpus,
)

pytestmark = pytest.mark.skipif(not __import__("sys").platform.startswith("linux"),
                                reason="uses /proc and SIGKILL")


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpora")
    small = write_big_corpus(tmp / "small.csv", 2_000, seed=1)
    big = write_big_corpus(tmp / "big.csv", 150_000)
    started = time.monotonic()
    result = streamfit("prepare", big, "--cache", tmp / "timing" / "c")
    assert result.returncode == 0, result.stderr
    return small, big, time.monotonic() - started


@pytest.mark.parametrize("fraction", [0.0, 0.35, 0.7])
def test_a_prepare_killed_anywhere_keeps_the_old_cache_and_the_next_run_cleans_up(
        tmp_path, corpora, fraction):
    small, big, seconds = corpora
    cache = tmp_path / "caches" / "c"
    assert streamfit("prepare", small, "--cache", cache).returncode == 0
    before = (cache / "manifest.json").read_bytes()
    process = start("prepare", big, "--cache", cache)
    wait_for(lambda: temporaries(cache.parent), process=process)  # its work folder exists
    time.sleep(fraction * seconds)
    process.kill()
    process.communicate()
    # The old cache whole, or (when the kill came after the rename) the new one whole: never a mix.
    old = (cache / "manifest.json").read_bytes() == before
    again = streamfit("prepare", small if old else big, "--cache", cache)
    assert again.returncode == 0 and "reused" in again.stdout, again.stdout + again.stderr
    result = streamfit("prepare", big, "--cache", cache)
    assert result.returncode == 0, result.stderr
    assert "read 150000 rows" in result.stdout
    assert temporaries(cache.parent) == []  # the killed run's work folder is gone too


def test_a_killed_train_takes_its_prepare_child_with_it(tmp_path, corpora):
    _, big, _ = corpora
    cache = tmp_path / "caches" / "c"
    process = start("train", big, "--cache", cache, "--output", tmp_path / "model")
    wait_for(lambda: temporaries(cache.parent), process=process)  # the child is preparing
    prepare = children(process.pid)
    assert prepare, "train prepares in a child process while it imports torch"
    process.send_signal(signal.SIGKILL)
    process.communicate()
    wait_for(lambda: not any(alive(pid) for pid in prepare), timeout=30)
    assert not (tmp_path / "model").exists()


def test_a_train_killed_while_training_leaves_the_old_bundle_whole(tmp_path, corpora):
    small, big, _ = corpora
    model = tmp_path / "model"
    assert streamfit("train", small, "--cache", tmp_path / "c1", "--output", model,
                     "--epochs", "1").returncode == 0
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    process = start("train", big, "--cache", tmp_path / "c2", "--output", model, "--epochs", "20")
    wait_for(lambda: (tmp_path / "c2" / "manifest.json").exists(), process=process)
    time.sleep(1.0)  # into training
    process.kill()
    process.communicate()
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == before
    assert streamfit("evaluate", model, small).returncode == 0


def test_the_cache_root_itself_is_never_wiped(tmp_path, corpora):
    small, _, _ = corpora
    root = tmp_path / "root"
    env = {"STREAMFIT_CACHE": str(root)}
    assert streamfit("prepare", small, env=env).returncode == 0
    (dataset,) = [p for p in root.iterdir() if not p.name.startswith(".")]
    one_line_error(streamfit("prepare", small, "--cache", root, "--seed", "4", env=env), root)
    assert (dataset / "manifest.json").is_file()
