"""Reads by filter take turns per user, so that one user cannot fill the store's queue.

A read by filter (``jobs.find``, ``jobs.counts``, ``schedules.list``, a subscription's snapshot)
may be slow: an order or a filter no index serves reads every job the caller may see. A store
answers reads in order (SQLite from one reader thread; a PostgreSQL pool has a few
connections), so a hundred such calls sent at once by one client queued ahead of every other
user's read, which then waited seconds. Here at most ``PER_USER`` reads by filter of one user
run at once, on a server; the others wait their turn in the server, not in the store's queue,
so another user's read waits behind at most that many.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

#: reads by filter one user may have in the store at once, across its connections
PER_USER = 2


class UserReads:
    def __init__(self, per_user: int = PER_USER) -> None:
        self.per_user = per_user
        #: user → its semaphore and how many of its reads hold or wait for it
        self._users: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, user: str) -> AsyncIterator[None]:
        """Hold one of ``user``'s read slots for the duration of the block."""
        slots, holders = self._users.setdefault(user, (asyncio.Semaphore(self.per_user), [0]))
        holders[0] += 1
        try:
            async with slots:
                yield
        finally:
            holders[0] -= 1
            if not holders[0]:
                del self._users[user]
