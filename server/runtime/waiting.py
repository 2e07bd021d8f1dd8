"""Claims that wait for work (``jobs.claim`` with ``wait``): woken by the same change feed and
announcements that feed pushed workers, so an HTTP worker's claim answers the moment a job of
its types is ready, without polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator


class Waiting:
    """Per job type, the events of the claims waiting for one."""

    def __init__(self) -> None:
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def wake(self, job_type: str) -> None:
        for event in self._events.get(job_type, ()):
            event.set()

    def wake_all(self) -> None:
        for job_type in list(self._events):
            self.wake(job_type)

    def __bool__(self) -> bool:
        """Whether any claim waits."""
        return bool(self._events)

    def types(self) -> list[str]:
        """The types some claim waits for."""
        return list(self._events)

    @contextlib.contextmanager
    def watching(self, types: Iterable[str]) -> Iterator[asyncio.Event]:
        """An event set when a job of one of ``types`` may have become ready: a claim watches
        before it claims, so no job slips between its claim and its wait."""
        event, watched = asyncio.Event(), list(dict.fromkeys(types))
        for job_type in watched:
            self._events[job_type].add(event)
        try:
            yield event
        finally:
            for job_type in watched:
                self._events[job_type].discard(event)
                if not self._events[job_type]:
                    del self._events[job_type]
