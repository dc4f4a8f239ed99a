import contextlib
import multiprocessing
import os
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

from streamfit.batches import ArrayBatches, BatchSet
from streamfit.errors import UserError
from streamfit.loader import BatchLoader

MODES = [(1, False), (2, False), (4, False), (1, True), (2, True), (4, True)]


def child_pids():
    """Live or zombie children of this process, read from /proc (no psutil)."""
    me = os.getpid()
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            children.append(int(stat.parent.name))
    return children


def assert_no_children():
    assert multiprocessing.active_children() == []
    if Path("/proc/self/stat").exists():
        assert child_pids() == []


class LoggedBatches(BatchSet):
    """Batch i of epoch e is (e, i); every call appends "e i" to a log file."""

    def __init__(self, n, log):
        self.n, self.log = n, str(log)

    def __len__(self):
        return self.n

    def batch(self, epoch, index):
        with open(self.log, "a") as f:
            f.write(f"{epoch} {index}\n")
        return np.array([epoch, index]), None


class FailingBatches(BatchSet):
    def __len__(self):
        return 20

    def batch(self, epoch, index):
        if index == 5:
            raise ValueError(f"bad batch {index}")
        return np.array([index]), None


def logged_calls(log):
    return sorted(tuple(map(int, line.split())) for line in Path(log).read_text().splitlines())


@pytest.mark.parametrize("workers,processes", MODES)
def test_every_batch_once_in_order(tmp_path, workers, processes):
    log = tmp_path / "log"
    with BatchLoader(LoggedBatches(23, log), workers=workers, use_multiprocessing=processes,
                     max_queue_size=3) as loader:
        for epoch in range(2):
            got = [x.tolist() for x, _ in loader.iterate(epoch, 23)]
            assert got == [[epoch, i] for i in range(23)]
        assert [x.tolist() for x, _ in loader.iterate(2, 10, start=4)] == [[2, i] for i in range(4, 10)]
    assert logged_calls(log) == sorted([(e, i) for e in range(2) for i in range(23)]
                                       + [(2, i) for i in range(4, 10)])
    assert_no_children()


@pytest.mark.parametrize("workers,processes", MODES)
def test_array_batches_identical_to_serial(workers, processes):
    x = np.arange(1000).reshape(500, 2)
    batches = ArrayBatches(x, x[:, 0] % 3, batch_size=32, seed=5)
    expected = list(BatchLoader(batches).iterate(1, len(batches)))
    with BatchLoader(batches, workers=workers, use_multiprocessing=processes) as loader:
        got = list(loader.iterate(1, len(batches)))
    assert len(got) == len(expected) == 16
    for (gx, gy), (ex, ey) in zip(got, expected, strict=True):
        assert np.array_equal(gx, ex) and np.array_equal(gy, ey)
    assert_no_children()


@pytest.mark.parametrize("workers,processes", [(1, False), (2, False), (2, True)])
def test_worker_exception_surfaces_with_its_traceback(workers, processes):
    loader = BatchLoader(FailingBatches(), workers=workers, use_multiprocessing=processes)
    got = []
    with pytest.raises(ValueError, match="bad batch 5") as info:
        for x, _ in loader.iterate(0, 20):
            got.append(int(x[0]))
    assert got == [0, 1, 2, 3, 4]
    text = "".join(traceback.format_exception(info.value))
    assert 'raise ValueError(f"bad batch {index}")' in text
    assert "in batch" in text
    assert_no_children()


@pytest.mark.parametrize("workers,processes", [(2, False), (2, True), (4, True)])
def test_breaking_out_early_leaves_no_worker(tmp_path, workers, processes):
    loader = BatchLoader(LoggedBatches(100, tmp_path / "log"), workers=workers,
                         use_multiprocessing=processes, max_queue_size=4)
    batches = loader.iterate(0, 100)
    for x, _ in batches:
        if x[1] == 3:
            break
    batches.close()
    assert_no_children()
    # At most the window ahead was computed, not the whole epoch.
    assert len(logged_calls(tmp_path / "log")) <= 4 + 4


@pytest.mark.parametrize("processes", [False, True])
def test_ctrl_c_in_consumer_shuts_down_through_close(tmp_path, processes):
    baseline_threads = threading.active_count()
    with pytest.raises(KeyboardInterrupt), \
            BatchLoader(LoggedBatches(100, tmp_path / "log"), workers=2,
                        use_multiprocessing=processes) as loader:
        batches = loader.iterate(0, 100)
        for x, _ in batches:
            if x[1] == 2:
                raise KeyboardInterrupt
    assert_no_children()
    assert threading.active_count() == baseline_threads


class SlowBatches(LoggedBatches):
    def batch(self, epoch, index):
        time.sleep(0.02)
        return super().batch(epoch, index)


@pytest.mark.parametrize("workers", [0, 2])
def test_wait_seconds_accumulates(tmp_path, workers):
    loader = BatchLoader(SlowBatches(5, tmp_path / "log"), workers=workers)
    assert loader.wait_seconds == 0.0
    list(loader.iterate(0, 5))
    first = loader.wait_seconds
    # the consumer does nothing, so it waits for (nearly) every batch's 20 ms
    assert first >= (0.09 if workers == 0 else 0.04)
    list(loader.iterate(1, 5))
    assert loader.wait_seconds >= first + (0.09 if workers == 0 else 0.04)


def test_too_many_steps_for_batch_set(tmp_path):
    with pytest.raises(UserError, match="steps=6 is more than the 5 batches"):
        BatchLoader(LoggedBatches(5, tmp_path / "log")).iterate(0, 6)


@pytest.mark.parametrize("name,value", [("workers", -1), ("max_queue_size", 0)])
def test_bad_loader_arguments(name, value):
    with pytest.raises(UserError, match=name):
        BatchLoader(iter([]), **{name: value})


def test_workers_zero_computes_in_the_consumer_thread(tmp_path):
    loader = BatchLoader(LoggedBatches(3, tmp_path / "log"), workers=0)
    assert [x.tolist() for x, _ in loader.iterate(0, 3)] == [[0, 0], [0, 1], [0, 2]]


def counting_generator(n):
    yield from range(n)


def test_generator_with_workers_warns_once_and_keeps_order():
    loader = BatchLoader(counting_generator(10), workers=2, max_queue_size=2)
    with pytest.warns(UserWarning, match="wrap the data in a batch set") as record:
        first = list(loader.iterate(0, 4))
        second = list(loader.iterate(1, 4))
    assert len(record) == 1
    assert first + second == list(range(8))
    assert all(t.name != "streamfit-generator" for t in threading.enumerate())


@pytest.mark.parametrize("workers", [1, 2])
def test_generator_running_dry_raises_user_error(workers):
    loader = BatchLoader(counting_generator(3), workers=workers)
    with pytest.warns(UserWarning) if workers > 1 else contextlib.nullcontext(), \
            pytest.raises(UserError, match="ran out of data after 3 of 5 steps"):
        list(loader.iterate(0, 5))


def test_generator_error_reaches_consumer():
    def broken():
        yield 1
        raise RuntimeError("generator broke")

    loader = BatchLoader(broken(), workers=2)
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="generator broke") as info:
        list(loader.iterate(0, 3))
    assert "in broken" in "".join(traceback.format_exception(info.value))


def test_generator_consumer_stops_early_joins_producer():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    loader = BatchLoader(endless(), workers=2, max_queue_size=2)
    with pytest.warns(UserWarning):
        batches = loader.iterate(0, 1000)
    assert next(batches) == 0
    batches.close()
    assert all(t.name != "streamfit-generator" for t in threading.enumerate())
    # Up to the queue's worth was pulled ahead; the generator keeps going after that.
    assert list(loader.iterate(1, 2))[0] <= 4

