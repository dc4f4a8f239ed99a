import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch  # noqa: F401  (loaded here, so this process prepares in-process)
from faults.processes import alive

from streamfit.errors import UserError
from streamfit.prepare.background import PrepareProcess, can_fork
from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare, open_prepared
from streamfit.sources import SourceSpec

# The child is forked only before torch is loaded, which this test process has
# done, so the forking path runs in a fresh interpreter.
CHILD = textwrap.dedent("""
    import json, sys
    from streamfit.errors import UserError
    from streamfit.prepare.background import PrepareProcess, can_fork
    from streamfit.prepare.pipeline import PrepareOptions
    from streamfit.sources import SourceSpec

    data, cache, label, cancel = sys.argv[1:5]
    assert can_fork()
    job = PrepareProcess(SourceSpec((data,), label=label), PrepareOptions(validation_split=0.2), cache)
    if cancel == "cancel":
        # Cancel once the child is writing its temporary folder beside the cache.
        import pathlib, time
        folder, deadline = pathlib.Path(cache).parent, time.monotonic() + 60
        while time.monotonic() < deadline and not (folder.exists() and any(folder.iterdir())):
            time.sleep(0.001)
        seen = sorted(p.name for p in folder.iterdir())
        job.cancel()
        print(json.dumps({"cancelled": True, "seen": seen}))
        sys.exit(0)
    try:
        dataset = job.result()
    except UserError as error:
        print(json.dumps({"error": str(error), "in_child": job.in_child, "type": type(error).__name__,
                          "option": [getattr(error, "option", None), getattr(error, "value", None)]}))
        sys.exit(0)
    print(json.dumps({"in_child": job.in_child, "directory": str(dataset.directory),
                      "reused": dataset.reused, "stats": dataset.stats,
                      "torch": "torch" in sys.modules}))
""")


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_forked_child_prepares_the_same_dataset_as_this_process(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 400)
    child = run_child(data, tmp_path / "forked", "label", "-")
    assert child["in_child"] and not child["reused"] and not child["torch"]
    here = load_or_prepare(SourceSpec((str(data),)), PrepareOptions(validation_split=0.2), tmp_path / "here")
    assert child["stats"] == json.loads(json.dumps(here.stats))
    forked = open_prepared(child["directory"])
    rows = np.arange(len(here.train))
    for a, b in zip(forked.train.take(rows), here.train.take(rows), strict=True):
        assert np.array_equal(a, b)
    assert forked.vocabulary.words.equals(here.vocabulary.words)
    # A second run finds the child's cache and reuses it.
    assert run_child(data, tmp_path / "forked", "label", "-")["reused"]


def test_the_childs_user_error_is_raised_here_with_its_message(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 50)
    child = run_child(data, tmp_path / "cache", "no_such_column", "-")
    assert child["in_child"]
    assert "no_such_column" in child["error"] and str(data) in child["error"]
    # An OptionError comes back as one, so the command line can name its flag.
    assert child["type"] == "OptionError" and child["option"] == ["label", "no_such_column"]


def test_a_cancelled_child_removes_its_unfinished_work(tmp_path, write_corpus):
    small = write_corpus(tmp_path / "small.csv", 2000).read_text().splitlines(keepends=True)
    data = tmp_path / "a.csv"
    data.write_text("".join(small[:1] + small[1:] * 50))  # 100,000 rows, enough to be cancelled mid-way
    child = run_child(data, tmp_path / "caches" / "one", "label", "cancel")
    assert child["cancelled"] and child["seen"][0].startswith(".one.")  # cancelled mid-work
    assert list((tmp_path / "caches").iterdir()) == []


def big_corpus(tmp_path, write_corpus, copies=50):
    small = write_corpus(tmp_path / "small.csv", 2000).read_text().splitlines(keepends=True)
    data = tmp_path / "a.csv"
    data.write_text("".join(small[:1] + small[1:] * copies))
    return data


# A parent that starts a prepare child, says the child's pid once it is at work, and waits.
PARENT = textwrap.dedent("""
    import pathlib, sys, time
    from streamfit.prepare.background import PrepareProcess
    from streamfit.prepare.pipeline import PrepareOptions
    from streamfit.sources import SourceSpec

    data, cache = sys.argv[1:3]
    job = PrepareProcess(SourceSpec((data,)), PrepareOptions(), cache)
    folder, deadline = pathlib.Path(cache).parent, time.monotonic() + 60
    while not (folder.exists() and any(folder.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.2)  # into the work
    print(job._process.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc")
def test_a_killed_parent_takes_its_prepare_child_and_its_work_with_it(tmp_path, write_corpus):
    data = big_corpus(tmp_path, write_corpus, copies=150)  # 300,000 rows: seconds of work
    caches = tmp_path / "caches"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(data), str(caches / "one")],
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while alive(child):
        assert time.monotonic() < deadline, "the prepare child outlived its parent"
        time.sleep(0.01)
    assert list(caches.iterdir()) == []  # it stopped mid-way and removed its work folder


def test_the_child_dies_at_once_if_its_parent_died_before_it_asked_to(monkeypatch):
    from streamfit.prepare import background

    monkeypatch.setattr(os, "getppid", lambda: 1)
    with pytest.raises(SystemExit) as exited:
        background._die_with_parent(os.getpid() + 1 if os.getpid() != 1 else 2)
    assert exited.value.code == 128 + signal.SIGTERM


CANCEL_AT_ONCE = textwrap.dedent("""
    import pathlib, sys, time
    from streamfit.prepare.background import PrepareProcess
    from streamfit.prepare.pipeline import PrepareOptions
    from streamfit.sources import SourceSpec

    data, caches, rounds = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
    for i in range(rounds):  # cancelled at every moment from the fork on
        job = PrepareProcess(SourceSpec((data,)), PrepareOptions(), caches / "one")
        if i % 3:
            folder = caches
            while not (folder.exists() and any(folder.iterdir())) and job._process.is_alive():
                pass
            if i % 3 == 2:
                time.sleep(0.05 * i)
            else:  # as if the signal came before the handler: the child dies without cleaning up
                job._process.kill()
        job.cancel()
        left = sorted(p.name for p in caches.iterdir()) if caches.exists() else []
        assert left in ([], ["one"]), (i, left)  # nothing, or the finished dataset
    print("ok")
""")


def test_a_child_cancelled_at_any_moment_leaves_nothing(tmp_path, write_corpus):
    data = big_corpus(tmp_path, write_corpus, copies=5)
    done = subprocess.run([sys.executable, "-c", CANCEL_AT_ONCE, str(data), str(tmp_path / "caches"), "12"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_with_torch_loaded_it_prepares_in_this_process_when_asked(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 100)
    assert not can_fork()  # torch is loaded here
    job = PrepareProcess(SourceSpec((str(data),)), PrepareOptions(), tmp_path / "cache")
    assert not job.in_child and not (tmp_path / "cache").exists()  # nothing until asked
    dataset = job.result()
    assert len(dataset.train) == 100 and not dataset.reused
    job.cancel()  # nothing to stop
    with pytest.raises(UserError, match="no_such_column"):
        PrepareProcess(SourceSpec((str(data),), label="no_such_column"), PrepareOptions(),
                       tmp_path / "other").result()
