import time

import pytest

from streamfit.prepare.parallel import ordered_map


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_results_come_in_item_order(workers):
    def slow_square(i):
        time.sleep(0.002 * (7 - i % 7))  # later items often finish first
        return i * i

    assert list(ordered_map(slow_square, range(40), workers=workers)) == [i * i for i in range(40)]


def test_an_exception_is_raised_at_its_item():
    def fail_at_5(i):
        if i == 5:
            raise ValueError("bad item 5")
        return i

    seen = []
    with pytest.raises(ValueError, match="bad item 5"):
        for value in ordered_map(fail_at_5, range(20), workers=2):
            seen.append(value)
    assert seen == [0, 1, 2, 3, 4]


def test_items_are_drawn_lazily_and_at_most_ahead_in_front():
    drawn = []

    def items():
        for i in range(100):
            drawn.append(i)
            yield i

    results = ordered_map(lambda i: i, items(), workers=2, ahead=3)
    assert next(results) == 0
    assert len(drawn) <= 5
