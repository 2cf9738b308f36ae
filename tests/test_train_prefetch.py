"""The background batch renderer: same items in the same order, errors re-raised, early stop is clean."""

import threading
import time

import pytest

from stnlab.train.prefetch import prefetch


def slow_numbers(n: int, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise RuntimeError(f"render failed at {i}")
        time.sleep(0.001)
        yield i


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_same_items_in_the_same_order(depth):
    assert list(prefetch(slow_numbers(50), depth)) == list(range(50))


def test_producer_errors_reach_the_consumer_after_the_good_items():
    got = []
    with pytest.raises(RuntimeError, match="render failed at 7"):
        for item in prefetch(slow_numbers(20, fail_at=7), 2):
            got.append(item)
    assert got == list(range(7))


def test_breaking_early_stops_the_thread():
    gen = prefetch(slow_numbers(10_000), 2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    time.sleep(0.05)
    assert not any(t.name == "stnlab-prefetch" and t.is_alive() for t in threading.enumerate())
