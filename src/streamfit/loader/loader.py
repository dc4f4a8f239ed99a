"""Deliver the batches of an epoch to the trainer, in order, timing the wait.

Placeholder serial version with the final interface; the parallel version
(threads or processes into a bounded queue) replaces the body.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from streamfit.batches.base import Batch, BatchSet
from streamfit.errors import UserError


class BatchLoader:
    """Fetch batches of a batch set (or pull a plain generator) for one consumer.

    Args:
        source: a `BatchSet`, fetched by index, or a plain iterator of batches,
            pulled by a single producer.
        workers: how many threads or processes produce batches ahead.
        use_multiprocessing: processes instead of threads.
        max_queue_size: how many batches may wait ready ahead of the consumer.
    """

    def __init__(self, source, *, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        self.source = source
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size
        self.wait_seconds = 0.0

    def iterate(self, epoch: int, steps: int, start: int = 0) -> Iterator[Batch]:
        """Yield batches `start .. steps-1` of `epoch`, in order.

        The time the consumer spends blocked in this iterator is added to
        `wait_seconds`.
        """
        if isinstance(self.source, BatchSet):
            if steps > len(self.source):
                raise UserError(
                    f"steps={steps} is more than the {len(self.source)} batches per epoch "
                    "of the batch set; leave steps unset to use them all")
            for index in range(start, steps):
                t0 = time.perf_counter()
                item = self.source.batch(epoch, index)
                self.wait_seconds += time.perf_counter() - t0
                yield item
        else:
            for done in range(start, steps):
                t0 = time.perf_counter()
                try:
                    item = next(self.source)
                except StopIteration:
                    raise UserError(
                        f"the generator ran out of data after {done} of {steps} steps; "
                        "make it loop forever (`while True:`) or lower steps_per_epoch") from None
                self.wait_seconds += time.perf_counter() - t0
                yield item

    def close(self) -> None:
        """Stop producers and release their resources."""

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
