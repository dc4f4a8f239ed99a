"""The one bounded prefetch thread: items of an iterator, produced up to `depth` ahead.

Two layers pull a stream ahead of its consumer: sources parse the next
chunks of a file while the consumer tokenizes the last one (pyarrow and
numpy release the GIL), and the loader pulls a plain generator of batches
ahead of the trainer. Both use `Prefetcher`; nothing else starts such a
thread.

This module imports nothing heavy: sources use it before torch is loaded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

END = object()
"""What `Prefetcher.get` returns once the items are exhausted (and `next(it, END)` elsewhere)."""


class _Failed:
    """An exception raised by the producer thread, carried to the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher:
    """Items of `items`, produced on one background thread up to `depth` ahead.

    Items and the producer's exception arrive in order, as they are, with no
    wrapper per item. When the items are exhausted or failed, the thread
    closes the iterator if it has a `close` method (a generator's cleanup then
    runs on the thread that ran it); pass `itertools.islice(iterator, n)` to
    pull `n` items from an iterator that must live on.

    Example:
        >>> ahead = Prefetcher(range(3), depth=2)
        >>> [item for item in iter(ahead.get, END)]
        [0, 1, 2]
        >>> ahead.close()

    Args:
        items: what to produce.
        depth: the most items produced and not yet taken.
        name: the thread's name (seen in debuggers and `threading.enumerate`).
    """

    def __init__(self, items: Iterable, depth: int, name: str = "streamfit-prefetch"):
        self._ready: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(iter(items),), name=name,
                                        daemon=True)
        self._thread.start()

    def _put(self, entry: Any) -> bool:
        # Poll, so that a consumer that stopped early never leaves this thread
        # blocked on a full queue.
        while not self._stop.is_set():
            try:
                self._ready.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, iterator: Iterator) -> None:
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(END)
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Failed(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def get(self) -> Any:
        """The next item, waiting for it; `END` once the items are exhausted.

        Raises:
            BaseException: what the iterator raised, once its earlier items are taken.
        """
        item = self._ready.get()
        if type(item) is _Failed:
            raise item.error
        return item

    def close(self) -> None:
        """Stop the thread and wait for it (items produced ahead are dropped)."""
        self._stop.set()
        self._thread.join()


def prefetch(items: Iterable, depth: int = 2, name: str = "streamfit-prefetch") -> Iterator:
    """Yield `items`, produced by a `Prefetcher` up to `depth` items ahead.

    Closing the returned generator (or leaving a `for` loop over it) stops the thread.
    """
    ahead = Prefetcher(items, depth, name)
    try:
        yield from iter(ahead.get, END)
    finally:
        ahead.close()
