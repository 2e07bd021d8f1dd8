"""Claims that wait for work (``jobs.claim`` with ``wait``): woken by the same change feed and
announcements that feed pushed workers, so an HTTP worker's claim answers the moment a job of
its types is ready, without polling.

A job made ready wakes one waiting claim, not all of them: each claim woken runs a claim in the
store, so waking every one for each job made a job's creation cost as many store claims as
there were claims waiting. No wake is lost on the way: a claim armed again before it claims,
and one that leaves with a wake it did not claim with hands it to the next (``watching``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator


class Waiter:
    """One waiting claim: ``event`` is set when it is woken, and it leaves every queue then."""

    __slots__ = ("_waiting", "event", "types", "woken_by")

    def __init__(self, waiting: Waiting, types: list[str]) -> None:
        self._waiting = waiting
        self.types = types
        self.event = asyncio.Event()
        #: the type of the last wake it got (a wake it leaves with unused goes back there)
        self.woken_by: str | None = None

    def arm(self) -> None:
        """Wait (again): before each claim, so that no job made ready between the claim and
        the wait goes unnoticed."""
        self._waiting.arm(self)


class Waiting:
    """Per job type, the waiting claims not woken yet, in the order they began to wait."""

    def __init__(self) -> None:
        self._queues: dict[str, dict[Waiter, None]] = {}

    def wake(self, job_type: str, count: int | None = 1) -> None:
        """Wake ``count`` waiting claims of ``job_type`` (``None``: every one), the longest
        waiting first: ``count`` jobs of the type may have become ready."""
        queue = self._queues.get(job_type)
        while queue and (count is None or count > 0):
            waiter = next(iter(queue))
            self._disarm(waiter)
            waiter.woken_by = job_type
            waiter.event.set()
            if count is not None:
                count -= 1
            queue = self._queues.get(job_type)

    def wake_all(self) -> None:
        for job_type in list(self._queues):
            self.wake(job_type, None)

    def __bool__(self) -> bool:
        """Whether any claim waits."""
        return bool(self._queues)

    def __len__(self) -> int:
        """The claims waiting, not woken yet."""
        return len({waiter for queue in self._queues.values() for waiter in queue})

    def types(self) -> list[str]:
        """The types some claim waits for."""
        return list(self._queues)

    def arm(self, waiter: Waiter) -> None:
        waiter.event.clear()
        for job_type in waiter.types:
            self._queues.setdefault(job_type, {})[waiter] = None

    def _disarm(self, waiter: Waiter) -> None:
        for job_type in waiter.types:
            queue = self._queues.get(job_type)
            if queue is not None:
                queue.pop(waiter, None)
                if not queue:
                    del self._queues[job_type]

    @contextlib.contextmanager
    def watching(self, types: Iterable[str]) -> Iterator[Waiter]:
        """A waiting claim of ``types``, armed. One that leaves woken and unclaimed (its wait
        ended as it was woken, it found its jobs and a wake came meanwhile) or by an error (it
        was cancelled during its claim, which may not have committed) passes its wake on."""
        waiter = Waiter(self, list(dict.fromkeys(types)))
        waiter.arm()
        failed = True
        try:
            yield waiter
            failed = False
        finally:
            self._disarm(waiter)
            if waiter.woken_by is not None and (failed or waiter.event.is_set()):
                self.wake(waiter.woken_by)
