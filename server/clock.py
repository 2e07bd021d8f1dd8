"""The one source of time. Tests drive a ``ManualClock`` instead of sleeping.

Several servers sharing a store must agree on time: a lease written by one server is expired by
whichever server's scheduler wakes first, and a delay set by one is honoured by all. So a server
keeps its time on the store's clock (``StoreClock``), not on its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("livejobs.clock")

#: a reading's own resolution (SQLite and MongoDB both answer in milliseconds)
READING_RESOLUTION = 0.001
#: how often a server measures its offset from the store's clock again
RESYNC_SECONDS = 60.0
#: an offset larger than this is worth a warning: the host's clock needs NTP
WARN_OFFSET = 1.0


class Clock:
    """Wall-clock time (epoch seconds) and a cancellable wait until a moment."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        """Return at ``when`` or as soon as ``wake`` is set, whichever comes first."""
        delay = when - self.now()
        if delay <= 0:
            return
        try:
            await asyncio.wait_for(wake.wait(), timeout=delay)
        except TimeoutError:
            pass


class StoreClock(Clock):
    """This host's clock corrected by its measured offset from the store's clock.

    An offset within what one reading can tell apart (half the round trip plus the reading's
    resolution) is taken as zero, so that servers beside a local store keep the host's clock
    exactly; anything larger is applied, so servers on hosts whose clocks disagree still agree
    on every lease, delay and rate window to within that uncertainty.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        #: how far off the offset may be (seconds): half the best round trip plus resolution
        self.uncertainty = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    async def sync(self, reading: Callable[[], Awaitable[float]], samples: int = 3) -> None:
        """Measure the offset: the reading with the shortest round trip is the most exact."""
        best: tuple[float, float] | None = None
        for _ in range(samples):
            before = time.time()
            store_time = await reading()
            after = time.time()
            half_trip = (after - before) / 2
            if best is None or half_trip < best[0]:
                best = (half_trip, store_time - (before + half_trip))
        assert best is not None
        half_trip, offset = best
        self.uncertainty = half_trip + READING_RESOLUTION
        self.offset = offset if abs(offset) > self.uncertainty else 0.0
        if abs(self.offset) > WARN_OFFSET:
            log.warning(
                "this host's clock is %.3f s %s the store's; livejobs keeps the store's time "
                "(run NTP on this host)",
                abs(self.offset),
                "behind" if self.offset > 0 else "ahead of",
            )

    async def keep_synced(self, reading: Callable[[], Awaitable[float]]) -> None:
        """Measure again every ``RESYNC_SECONDS`` (hosts' clocks drift and get stepped)."""
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            try:
                await self.sync(reading)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away: keep the last offset
                log.warning("could not read the store's clock: %s", exc)


class ManualClock(Clock):
    """A clock that only moves when told; sleepers wake when it passes their moment."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._moved.set()
        self._moved = asyncio.Event()

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        while self._now < when and not wake.is_set():
            moved = asyncio.ensure_future(self._moved.wait())
            woken = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({moved, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                moved.cancel()
                woken.cancel()
