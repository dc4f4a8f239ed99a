import itertools
import threading

import pytest

from streamfit.prefetch import END, Prefetcher, prefetch


def test_prefetch_keeps_order_and_raises_in_place():
    def items():
        yield from range(5)
        raise ValueError("bad row 5")

    out = []
    with pytest.raises(ValueError, match="bad row 5"):
        for item in prefetch(items(), depth=2):
            out.append(item)
    assert out == [0, 1, 2, 3, 4]


def test_prefetch_stops_its_thread_when_closed():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    stream = prefetch(endless(), depth=1, name="streamfit-test-prefetch")
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed.wait(5)
    assert not any(t.name == "streamfit-test-prefetch" for t in threading.enumerate())


def test_an_islice_pulls_exactly_n_items_and_leaves_the_iterator_open():
    pulled = []

    def endless():
        for n in itertools.count():
            pulled.append(n)
            yield n

    iterator = endless()
    ahead = Prefetcher(itertools.islice(iterator, 3), depth=10)
    assert list(iter(ahead.get, END)) == [0, 1, 2]
    ahead.close()
    assert pulled == [0, 1, 2]
    assert next(iterator) == 3  # not closed: the next epoch goes on from here


def test_items_are_handed_over_as_they_are():
    items = [(1, None), None, END is END]
    ahead = Prefetcher(items, depth=1)
    assert [ahead.get() for _ in range(3)] == items and ahead.get() is END
    ahead.close()
