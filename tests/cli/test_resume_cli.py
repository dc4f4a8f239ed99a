"""`streamfit train --resume` after SIGKILL or Ctrl-C ends where an uninterrupted run ends."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def streamfit(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "streamfit", *map(str, argv)], env=ENV,
                          capture_output=True, text=True, **kw)


def train_args(data, output, cache):
    return ["train", data, "--output", output, "--cache", cache, "--epochs", "3", "--batch-size", "16",
            "--checkpoint-every", "1", "--verbose", "0", "--seed", "3"]


def checkpoints_written(directory):
    serials = [int(m.group(1)) for p in directory.glob("ckpt-*.json")
               if (m := re.match(r"ckpt-(\d+)-", p.name))]
    return max(serials, default=0)


def interrupt_after(argv, checkpoints, count, sig):
    process = subprocess.Popen([sys.executable, "-m", "streamfit", *map(str, argv)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while checkpoints_written(checkpoints) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory, write_corpus):
    tmp = tmp_path_factory.mktemp("reference")
    data = write_corpus(tmp / "train.csv", 600)
    test = write_corpus(tmp / "test.csv", 100, seed=5)
    assert streamfit(*train_args(data, tmp / "m", tmp / "c")).returncode == 0
    predictions = streamfit("predict", tmp / "m", test).stdout
    return data, test, tmp / "c", predictions


@pytest.mark.parametrize("kill_after", [7, 38, 60])  # mid-epoch, an epoch boundary (38 steps), later
def test_sigkill_then_resume_predicts_byte_identically(tmp_path, reference, kill_after):
    data, test, cache, expected = reference
    argv = train_args(data, tmp_path / "m", cache)
    code, _ = interrupt_after(argv, tmp_path / "m" / "checkpoints", kill_after, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (tmp_path / "m" / "bundle.json").exists()
    resumed = streamfit(*argv, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert streamfit("predict", tmp_path / "m", test).stdout == expected


def test_ctrl_c_saves_says_how_to_resume_and_resume_matches(tmp_path, reference):
    data, test, cache, expected = reference
    argv = train_args(data, tmp_path / "m", cache)
    code, err = interrupt_after(argv, tmp_path / "m" / "checkpoints", 20, signal.SIGINT)
    assert code == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("streamfit: training interrupted") and "--resume" in last
    assert "Traceback" not in err
    assert streamfit(*argv, "--resume").returncode == 0
    assert streamfit("predict", tmp_path / "m", test).stdout == expected


def test_resume_without_checkpoints_simply_starts(tmp_path, reference):
    data, test, cache, expected = reference
    assert streamfit(*train_args(data, tmp_path / "m", cache), "--resume").returncode == 0
    assert streamfit("predict", tmp_path / "m", test).stdout == expected


def test_resume_with_other_options_is_refused_naming_the_difference(tmp_path, reference):
    data, _, cache, _ = reference
    argv = train_args(data, tmp_path / "m", cache)
    interrupt_after(argv, tmp_path / "m" / "checkpoints", 5, signal.SIGKILL)
    refused = streamfit(*argv, "--resume", "--dropout", "0.5")
    assert refused.returncode == 2
    assert "dropout" in refused.stderr and refused.stderr.count("\n") == 1
