"""Run the per-chunk work of a pass on several cores, keeping chunk order.

pyarrow.compute and numpy release the GIL in their kernels, so threads are
enough: while one chunk is counted, the next is tokenized.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 2, ahead: int = 1) -> Iterator[R]:
    """Yield `fn(item)` for each item, in order, computed by `workers` threads.

    Items are drawn from `items` in the calling thread (so the iterator needs
    no locking), and at most `ahead` results wait ahead of the consumer, which
    bounds memory. An exception in `fn` is raised here, at its item.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="streamfit-prepare") as pool:
        window: deque = deque()
        try:
            for item in items:
                window.append(pool.submit(fn, item))
                if len(window) > ahead:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()
