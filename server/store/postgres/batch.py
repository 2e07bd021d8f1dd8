"""Group commit for the PostgreSQL store: the writes that arrive together share a transaction.

A write alone costs BEGIN, its statements, the append to the change log and COMMIT, and its
commit waits for the WAL flush while holding the log's append lock (feed.py): one write per
flush at best. ``Batcher`` queues writes and runs up to ``MAX_BATCH`` of them, in the order
they were called, in one transaction on one connection, with one append and one commit; a few
``LANES`` run side by side so that one batch is built while another commits. A write called
while the store is idle runs at once, alone, so a lone call waits for nothing.

Claims see the inserts called before them (``ordered_writes``: the dispatcher claims for a new
job as it is inserted): a claim runs in the insert's transaction when they were queued
together, and otherwise waits for the batches with inserts already running to commit.

Every write is a function of (connection, changes) that can run again: when a batch fails (a
clash in one write aborts the whole transaction, or a deadlock with another server), nothing of
it was committed, and each of its writes runs again in a transaction of its own, so that only
the write at fault sees its error.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

LANES = 3
MAX_BATCH = 64
Work = Callable[[Any, Any], Awaitable[Any]]  # (connection, ops.Log) → result
Run = Callable[[list[Work]], Awaitable[list[Any]]]
Alone = Callable[[BaseException], bool]


INSERT, CLAIM = "insert", "claim"


class Batcher:
    """Runs queued writes through ``run`` (one transaction for a list of writes)."""

    def __init__(self, run: Run, alone: Alone) -> None:
        """``alone(error)``: whether a batch that failed so surely committed nothing and its
        writes may run again one by one (a lost connection may have committed it)."""
        self._run = run
        self._alone = alone
        self._queue: deque[tuple[Work, asyncio.Future[Any]]] = deque()
        self._kinds: dict[asyncio.Future[Any], str] = {}
        self._inserting: set[asyncio.Future[None]] = set()  # batches with inserts, running
        self._lanes: set[asyncio.Task[None]] = set()

    async def submit(self, work: Work, kind: str = "") -> Any:
        """``kind``: ``INSERT`` or ``CLAIM`` for the writes ordered between them."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if kind:
            self._kinds[future] = kind
        self._queue.append((work, future))
        if len(self._lanes) < LANES:
            lane = asyncio.create_task(self._lane(), name="livejobs-postgres-commit")
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        return await future

    async def _lane(self) -> None:
        while self._queue:
            size = min(len(self._queue), MAX_BATCH)
            batch = [self._queue.popleft() for _ in range(size)]
            kinds = {self._kinds.pop(future, "") for _, future in batch}
            before = list(self._inserting) if CLAIM in kinds else []
            inserting = None
            if INSERT in kinds:
                inserting = asyncio.get_running_loop().create_future()
                self._inserting.add(inserting)
            try:
                if before:
                    await asyncio.wait(before)
                await self._settle(batch)
            finally:
                if inserting is not None:
                    self._inserting.discard(inserting)
                    inserting.set_result(None)

    async def _settle(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._run([work for work, _ in batch])
        except BaseException as exc:
            if len(batch) == 1 or not isinstance(exc, Exception) or not self._alone(exc):
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for one in batch:  # alone, each write meets only its own error
                await self._settle([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the writes already queued."""
        while self._lanes:
            await asyncio.gather(*self._lanes, return_exceptions=True)
