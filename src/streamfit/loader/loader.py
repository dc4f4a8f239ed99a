"""Deliver the batches of an epoch to the trainer, in order, timing the wait.

Which rows form a batch is the sampler's question, how to compute one is the
batch set's; this module only answers how to compute them ahead, in parallel,
and hand them over in order:

| batches | workers=0 or 1 | workers>1 |
| --- | --- | --- |
| `BatchSet` | computed when needed, in the consumer's thread | a sliding window of `max_queue_size` futures over N threads or N processes |
| plain iterator | pulled when needed | pulled ahead by ONE thread (`streamfit.prefetch`, never cloned), with a warning |

Every producer lives only as long as one `iterate` call: when the consumer is
done, stops early, or an error or Ctrl-C goes through, the pending batches
are cancelled and the threads and processes are joined before `iterate`
returns, so nothing hangs and no child process outlives it.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from itertools import islice
from typing import Any

from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import OptionError, UserError, check_number
from streamfit.prefetch import END, Prefetcher

# The batch set of this worker process, set once by `_init_worker`.
_worker_batch_set: BatchSet | None = None


def _init_worker(batch_set: BatchSet) -> None:
    global _worker_batch_set
    _worker_batch_set = batch_set
    # Ctrl-C reaches the whole process group; only the consumer should react,
    # then shut the pool down. A worker that died on it would break the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _batch_in_worker(epoch: int, step: int) -> Batch:
    return _worker_batch_set.batch(epoch, step)


def _process_context() -> multiprocessing.context.BaseContext:
    # fork shares in-memory arrays copy-on-write with no pickling; elsewhere
    # (macOS, Windows) fork is unsafe or missing, and the batch set is pickled
    # once per worker, which file-backed batch sets keep cheap.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


class BatchLoader:
    """Fetch batches of a batch set (or pull a plain generator) for one consumer.

    With a `BatchSet`, batch `i` is computed by its step, so with `workers > 1`
    threads (or processes, with `use_multiprocessing=True`) compute up to
    `max_queue_size` batches ahead; the consumer still gets every batch of the
    epoch exactly once, in order, identical to `workers=1`. Process
    workers receive the batch set once at start (by fork on Linux, shared
    copy-on-write, so big arrays are not copied per batch); only finished
    batches travel back.

    A plain iterator (a Keras-style generator) cannot be split between workers
    without duplicating batches, so with `workers > 1` a single thread pulls it
    ahead into the bounded queue and a warning says that parallelism needs a
    batch set. Batches pulled ahead when the consumer stops early are lost to
    the iterator, as in Keras.

    Example:
        >>> from streamfit.batches import ArrayBatches
        >>> import numpy as np
        >>> batches = ArrayBatches(np.arange(10), batch_size=4, shuffle=False)
        >>> with BatchLoader(batches, workers=2) as loader:
        ...     [x.tolist() for x, _ in loader.iterate(epoch=0, steps=len(batches))]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]

    Args:
        batches: a `BatchSet`, fetched by step, or a plain iterator of batches,
            pulled by a single producer.
        workers: how many threads or processes produce batches ahead; 0 or 1
            computes each batch in the consumer's thread when it asks for it
            (except `workers=1, use_multiprocessing=True`, where one process
            computes ahead).
        use_multiprocessing: processes instead of threads (for batch sets whose
            `batch` holds the GIL, such as per-line Python parsing).
        max_queue_size: how many batches may be in flight or wait ready ahead
            of the consumer; workers beyond it sit idle.

    Attributes:
        wait_seconds: total time the consumer has spent blocked waiting for
            the next batch, over all `iterate` calls.

    Raises:
        OptionError: `workers` below 0 or `max_queue_size` below 1.
    """

    def __init__(self, batches, *, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        check_number("workers", workers, minimum=0)
        check_number("max_queue_size", max_queue_size, minimum=1)
        self.batches = batches
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size
        self.wait_seconds = 0.0
        self._iterator = None if isinstance(batches, BatchSet) else iter(batches)
        self._warned = False
        self._live: weakref.WeakSet = weakref.WeakSet()

    def iterate(self, epoch: int, steps: int, start: int = 0) -> Iterator[Batch]:
        """Yield batches `start .. steps-1` of `epoch`, in order.

        The time the consumer spends blocked in this iterator is added to
        `wait_seconds`. Closing the returned iterator early (`break`, early
        stopping) stops its producers.

        Args:
            epoch: 0-based epoch (ignored by plain iterators).
            steps: batches in this epoch.
            start: first batch to deliver (resuming mid-epoch).

        Raises:
            OptionError: `steps` is more than a batch set has, or `start` is out
                of range.
            UserError: a plain iterator runs dry before `steps` batches.
        """
        if not 0 <= start <= steps:
            raise OptionError("start", start, f"must be in [0, steps={steps}]")
        if isinstance(self.batches, BatchSet):
            if steps > len(self.batches):
                raise OptionError(
                    "steps", steps, f"is more than the {len(self.batches)} batches per epoch "
                    "of the batch set; leave steps unset to use them all")
            if self.workers > 1 or (self.workers == 1 and self.use_multiprocessing):
                batches = self._compute_ahead(epoch, steps, start)
            else:
                batches = self._compute_in_turn(epoch, steps, start)
        elif self.workers > 1:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"workers={self.workers} cannot split a plain generator without duplicating "
                    "batches, so one thread pulls it ahead; wrap the data in a batch set "
                    "(ArrayBatches, LineBatches, or a BatchSet subclass) to build batches in "
                    "parallel", UserWarning, stacklevel=2)
            batches = self._pull_ahead(steps, start)
        else:
            batches = self._pull_in_turn(steps, start)
        self._live.add(batches)
        return batches

    def _timed(self, get: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return get()
        finally:
            self.wait_seconds += time.perf_counter() - t0

    def _compute_in_turn(self, epoch: int, steps: int, start: int) -> Iterator[Batch]:
        for step in range(start, steps):
            yield self._timed(lambda step=step: self.batches.batch(epoch, step))

    def _make_executor(self) -> Executor:
        if self.use_multiprocessing:
            return ProcessPoolExecutor(self.workers, mp_context=_process_context(),
                                       initializer=_init_worker, initargs=(self.batches,))
        return ThreadPoolExecutor(self.workers, thread_name_prefix="streamfit-batch")

    def _compute_ahead(self, epoch: int, steps: int, start: int) -> Iterator[Batch]:
        executor = self._make_executor()
        compute = _batch_in_worker if self.use_multiprocessing else self.batches.batch
        pending: deque = deque()
        steps_left = iter(range(start, steps))

        def fill() -> None:
            for step in steps_left:
                pending.append(executor.submit(compute, epoch, step))
                if len(pending) >= self.max_queue_size:
                    return

        try:
            fill()
            while pending:
                # A worker's exception is raised here, with its traceback: the
                # worker's own frames for threads, the remote traceback text
                # chained as `__cause__` for processes.
                batch = self._timed(pending.popleft().result)
                fill()
                yield batch
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _pull_in_turn(self, steps: int, start: int) -> Iterator[Batch]:
        return self._pull(partial(next, self._iterator, END), steps, start)

    def _pull_ahead(self, steps: int, start: int) -> Iterator[Batch]:
        # islice has no `close`, so the prefetcher leaves the generator open:
        # the next epoch pulls on from where this one stopped.
        ahead = Prefetcher(islice(self._iterator, steps - start), self.max_queue_size,
                           name="streamfit-generator")
        try:
            yield from self._pull(ahead.get, steps, start)
        finally:
            # The generator must not be running when the next epoch pulls it.
            ahead.close()

    def _pull(self, get: Callable[[], Any], steps: int, start: int) -> Iterator[Batch]:
        for done in range(start, steps):
            item = self._timed(get)
            if item is END:
                raise self._ran_out(done, steps)
            yield item

    @staticmethod
    def _ran_out(done: int, steps: int) -> UserError:
        return UserError(
            f"the generator ran out of data after {done} of {steps} steps; "
            "make it loop forever (`while True:`) or lower steps_per_epoch")

    def close(self) -> None:
        """Stop producers and release their resources (threads, processes)."""
        for batches in list(self._live):
            batches.close()

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
