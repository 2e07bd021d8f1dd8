"""Fan-out of committed changes to every ``watch()`` iterator, shared by the backends.

Each watcher gets its own unbounded queue, so a slow consumer never stalls the store's commit
path (it only grows its own backlog). A watcher registers when ``watch()`` is called, not when it
is first iterated, so no change published after the call is missed. Watchers are held weakly:
one dropped without ``aclose()`` simply disappears.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Literal, NamedTuple

from livejobs.jobs.model import Job


class Change(NamedTuple):
    """One committed change, as every watcher sees it.

    ``op`` is ``insert``, ``update`` or ``delete``; ``doc`` is the full document after the change
    (``None`` for a delete). ``reset`` means the feed lost continuity (a change stream could not
    resume): watchers must rebuild their state from a fresh query. ``record`` says a small
    record was written or deleted (``id`` is ``"kind/record_id"``, ``doc`` is None), so that
    every server sharing the store re-reads rules another one changed.

    A named tuple, not a frozen dataclass: three are made per job, and a frozen dataclass
    costs three times as much to build.
    """

    op: Literal["insert", "update", "delete", "reset", "record"]
    id: str
    doc: Job | None = None


class Watcher:
    """An async iterator of ``Change``; ends when the store closes or on ``aclose()``."""

    __slots__ = ("_changes", "_waiter", "_closed", "_feed", "__weakref__")

    def __init__(self, feed: Feed) -> None:
        self._changes: deque[Change] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._feed = feed

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> Change:
        while not self._changes:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._changes.popleft()

    async def batch(self) -> list[Change]:
        """Every change published and not read yet, waiting for one if there is none; empty
        once the watcher has ended. The server's feed reads this way: one await per batch
        committed, not per change."""
        while not self._changes:
            if self._closed:
                return []
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        changes = list(self._changes)
        self._changes.clear()
        return changes

    def _push(self, changes: Iterable[Change]) -> None:
        self._changes.extend(changes)
        self._wake()

    def _end(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def aclose(self) -> None:
        """Stop receiving changes; pending ones are dropped."""
        self._feed._watchers.discard(self)
        self._changes.clear()
        self._end()

    @property
    def backlog(self) -> int:
        """Changes published but not yet consumed (for metrics)."""
        return len(self._changes)


class Feed:
    """The store side: ``publish`` committed changes in commit order; ``watch`` to receive."""

    def __init__(self) -> None:
        self._watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()
        self._closed = False

    def watch(self) -> Watcher:
        watcher = Watcher(self)
        if self._closed:
            watcher._end()
        else:
            self._watchers.add(watcher)
        return watcher

    @property
    def active(self) -> bool:
        """Whether anyone listens (stores skip building changes otherwise)."""
        return bool(self._watchers)

    def publish(self, changes: list[Change]) -> None:
        if changes:
            for watcher in list(self._watchers):
                watcher._push(changes)

    def close(self) -> None:
        self._closed = True
        for watcher in list(self._watchers):
            watcher._end()
        self._watchers.clear()
