"""StoreClock: a server keeps its time on the store's clock, to within one reading's accuracy."""

from __future__ import annotations

import time

from livejobs.clock import READING_RESOLUTION, StoreClock


async def test_an_offset_larger_than_a_reading_can_tell_is_applied():
    clock = StoreClock()

    async def store_ahead() -> float:
        return time.time() + 42.0

    await clock.sync(store_ahead)
    assert abs(clock.offset - 42.0) < 0.05
    assert abs(clock.now() - (time.time() + 42.0)) < 0.05


async def test_an_offset_within_the_readings_accuracy_is_taken_as_zero():
    """A store on this host reads the same clock: jitter must not move the server's time."""
    clock = StoreClock()

    async def same_host() -> float:
        return time.time() + READING_RESOLUTION / 2

    await clock.sync(same_host)
    assert clock.offset == 0.0
    assert clock.uncertainty >= READING_RESOLUTION


async def test_the_reading_with_the_shortest_round_trip_wins():
    clock = StoreClock()
    trips = iter([(0.2, 10.0), (0.0, 3.0), (0.1, 7.0)])

    async def reading() -> float:
        delay, offset = next(trips)
        started = time.time()
        while time.time() - started < delay:  # a slow round trip, whose reading is older
            pass
        return time.time() + offset

    await clock.sync(reading)
    assert abs(clock.offset - 3.0) < 0.01
