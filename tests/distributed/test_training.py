"""`streamfit train` with two processes (gloo on the CPU): rows, metrics, writes, resume."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
ARGS = ["--epochs", "3", "--batch-size", "16", "--verbose", "2", "--seed", "3"]


def run(*argv, env=ENV, **kw):
    return subprocess.run([sys.executable, *map(str, argv)], env=env, capture_output=True,
                          text=True, timeout=300, **kw)


def streamfit(*argv, **kw):
    return run("-m", "streamfit", *argv, **kw)


def history(bundle):
    return json.loads((bundle / "bundle.json").read_text())["info"]["history"]


def records(directory, kind, rank):
    path = directory / f"{kind}-{rank}.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines] if kind == "rows" else lines


@pytest.fixture(scope="module")
def data(tmp_path_factory, write_corpus):
    tmp = tmp_path_factory.mktemp("data")
    return (write_corpus(tmp / "train.csv", 600), write_corpus(tmp / "test.csv", 100, seed=5),
            tmp / "cache")


def test_each_rank_reads_its_own_rows_and_only_rank_0_prints_and_writes(tmp_path, data):
    train, _, cache = data
    record = tmp_path / "record"
    record.mkdir()
    done = run("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               HERE / "recording_rank.py", "train", train, "--output", tmp_path / "m", "--cache", cache,
               *ARGS, "--epochs", "2", "--checkpoint-every", "10",
               env={**ENV, "STREAMFIT_TEST_RECORD": str(record)})
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^Epoch 1/2 ", done.stdout, re.M)) == 1
    assert len(re.findall(r"^saved ", done.stdout, re.M)) == 1

    batches = {rank: records(record, "rows", rank) for rank in (0, 1)}
    split = re.search(r"\((\d+) training rows, (\d+) validation\)", done.stdout)
    train_rows, validation_rows = int(split[1]), int(split[2])
    assert train_rows + validation_rows == 600
    for epoch in (0, 1):
        shards = [[row for b in batches[rank] if b["split"] == "train" and b["epoch"] == epoch
                   for row in b["rows"]] for rank in (0, 1)]
        assert sorted(shards[0] + shards[1]) == list(range(train_rows))
        assert not set(shards[0]) & set(shards[1])
        assert (len(shards[0]), len(shards[1])) == ((train_rows + 1) // 2, train_rows // 2)
    # Validation is sharded too: each pass (one per epoch) reads every row once.
    seen = [[row for b in batches[rank] if b["split"] == "validation" for row in b["rows"]]
            for rank in (0, 1)]
    assert sorted(seen[0] + seen[1]) == sorted(list(range(validation_rows)) * 2)
    assert not set(seen[0]) & set(seen[1])
    # A step is one batch of 16 split in two: the same step counts on both ranks.
    steps = [sorted((b["epoch"], b["step"]) for b in batches[r] if b["split"] == "train") for r in (0, 1)]
    assert steps[0] == steps[1] == [(e, s) for e in (0, 1) for s in range(-(-train_rows // 16))]

    written = records(record, "writes", 0)
    assert records(record, "writes", 1) == []
    assert written[-1] == str(tmp_path / "m")  # the bundle, after the checkpoints
    assert {Path(path).suffix for path in written[:-1]} == {".pt", ".json"}


def test_two_processes_end_where_one_process_with_the_same_global_batch_ends(tmp_path, data):
    train, _, cache = data
    # Without dropout the runs differ only by the order of float sums.
    results = {n: streamfit("train", train, "--output", tmp_path / f"m{n}", "--cache", cache, *ARGS,
                            "--dropout", "0", "--nproc", n) for n in (1, 2)}
    for done in results.values():
        assert done.returncode == 0, done.stderr
    one, two = history(tmp_path / "m1"), history(tmp_path / "m2")
    assert one.keys() == two.keys() == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-5)
    assert "33 steps per epoch on 2 processes of 8 rows" in results[2].stdout  # 523 rows


def _checkpoints(directory):
    serials = [int(m.group(1)) for p in directory.glob("ckpt-*.json")
               if (m := re.match(r"ckpt-(\d+)-", p.name))]
    return max(serials, default=0)


def _ranks_of(output):
    """Process ids whose command line names `output` (the launcher's ranks)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(output).encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _interrupt(argv, output, count, sig):
    """Start a 2-process run, send `sig` to its launcher once `count` checkpoints exist."""
    process = subprocess.Popen([sys.executable, "-m", "streamfit", *map(str, argv)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while _checkpoints(output / "checkpoints") < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    if sig == signal.SIGKILL:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    # The ranks run in sessions of their own: they end on seeing their launcher gone.
    while _ranks_of(output):
        assert time.monotonic() < deadline + 60
        time.sleep(0.05)
    return process.returncode, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data):
    train, test, cache = data
    output = tmp_path_factory.mktemp("reference") / "m"
    argv = ["train", train, "--output", output, "--cache", cache, *ARGS, "--nproc", "2",
            "--checkpoint-every", "1"]
    done = streamfit(*argv)
    assert done.returncode == 0, done.stderr
    return streamfit("predict", output, test).stdout


def test_a_killed_run_resumes_where_it_stopped_and_another_world_size_restarts_its_epoch(
        tmp_path, data, reference):
    train, test, cache = data
    output = tmp_path / "m"
    argv = ["train", train, "--output", output, "--cache", cache, *ARGS, "--nproc", "2",
            "--checkpoint-every", "1"]
    code, _ = _interrupt(argv, output, 45, signal.SIGKILL)  # epoch 2 of 33 steps each
    assert code == -signal.SIGKILL
    assert not (output / "bundle.json").exists()
    alone = tmp_path / "alone"
    shutil.copytree(output / "checkpoints", alone / "checkpoints")

    resumed = streamfit(*argv, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert streamfit("predict", output, test).stdout == reference

    # The checkpoints of 2 processes, resumed by 1: the same global batch, restarted epoch.
    one = streamfit("train", train, "--output", alone, "--cache", cache, *ARGS, "--resume",
                    env={**ENV, "PYTHONWARNINGS": "default"})
    assert one.returncode == 0, one.stderr
    assert re.search(r"ckpt-\d+-e0002-s0000\d\d\.json was written by 2 processes and this run has 1: "
                     r"resuming at the start of epoch 2; its \d+ steps done in that epoch are "
                     r"trained again", one.stderr)
    assert len(history(alone)["loss"]) == 3


def test_ctrl_c_stops_every_rank_at_one_step_and_rank_0_says_how_to_resume(tmp_path, data, reference):
    train, test, cache = data
    output = tmp_path / "m"
    argv = ["train", train, "--output", output, "--cache", cache, *ARGS, "--nproc", "2",
            "--checkpoint-every", "1"]
    code, err = _interrupt(argv, output, 20, signal.SIGINT)
    assert code == 130
    assert len(re.findall(r"^streamfit: training interrupted at epoch 1 step \d+; checkpoint saved",
                          err, re.M)) == 1
    assert "Traceback" not in err
    assert streamfit(*argv, "--resume").returncode == 0
    assert streamfit("predict", output, test).stdout == reference


def test_a_batch_the_processes_cannot_share_is_refused_before_launching(tmp_path, data):
    train, _, cache = data
    done = streamfit("train", train, "--output", tmp_path / "m", "--cache", cache,
                     "--batch-size", "15", "--nproc", "2")
    assert done.returncode == 2
    assert done.stderr == ("streamfit: error: --batch-size 15 is split between --nproc 2 processes; "
                           "use a multiple of 2\n")


def test_a_user_error_on_rank_0_ends_every_rank_with_one_message_and_status_2(tmp_path, data):
    train, _, cache = data
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    done = streamfit("train", train, "--output", tmp_path / "m", "--cache", cache, "--nproc", "2")
    assert done.returncode == 2
    assert done.stderr.count("streamfit: error: --output") == 1
    assert "Traceback" not in done.stderr
