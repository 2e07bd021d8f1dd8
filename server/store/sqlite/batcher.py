"""The SQLite store's queue and group commit: every call, read or write, is queued; a batcher
hands everything queued so far to the store's thread, which runs it in one transaction and
commits once (one fsync for many callers). Only then are callers answered and the changes
published to watchers, so nothing is acknowledged or broadcast that was not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from livejobs.errors import Unavailable
from livejobs.store.base import Change, ClaimRequest
from livejobs.store.feed import Feed
from livejobs.store.sqlite import ops, search
from livejobs.store.sqlite import peers as peering
from livejobs.store.sqlite.peers import Peers

log = logging.getLogger(__name__)

MAX_BATCH = 2000
"""Calls per transaction: large enough to amortise the commit, small enough to keep latency."""

#: batches up to this many documents run inline in the event loop (see SQLiteStore._inline)
INLINE_WEIGHT = 64
#: writes between two checkpoints of the WAL (SQLite's own default is about 1,000 pages): the
#: WAL stays under ~25 MB under steady claims and completions, and the loop pauses ~3 ms per
#: checkpoint (see SQLiteStore._checkpoint), every ~2,500 jobs run or 5,000 created
CHECKPOINT_EVERY = 5_000
#: seconds between a small batch and the search index's pass over what it left pending
SEARCH_PASS_DELAY = 0.2
#: how long a batch on the writer's thread waits for another process's write lock
BUSY_TIMEOUT_MS = 5_000
P = ParamSpec("P")
T = TypeVar("T")
OpFunction = Callable[Concatenate[sqlite3.Connection, ops.Changes, P], T]


@dataclass(slots=True)
class _Call:
    function: ops.Operation
    args: tuple[Any, ...]
    several: bool
    future: asyncio.Future[Any] = field(repr=False)
    #: its cost when its arguments do not tell (``_weight``)
    weight: int = 0


def _patiently(conn: sqlite3.Connection, function: Callable[..., T], *args: Any) -> T:
    """Run on the writer's thread, waiting for another process's write lock; the writer's
    connection itself does not wait, so that an inline batch never blocks the event loop."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        return function(conn, *args)
    finally:
        conn.execute("PRAGMA busy_timeout = 0")


def _quietly(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("the search index's pass failed (it runs again later): %s", exc)


def _busy(exc: BaseException) -> bool:
    """The batch failed because another process held the write lock (nothing was saved)."""
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def _weight(call: _Call) -> int:
    """Rough cost of a call: documents it writes or claims."""
    if call.weight:
        return call.weight
    first = call.args[0] if call.args else None
    if isinstance(first, list):
        return len(first)
    if isinstance(first, ClaimRequest):
        return first.limit
    return 1


class Batcher:
    """The queue, the batches and the checkpoints of one SQLite file (``SQLiteStore``'s base)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        #: reads run on a second connection and thread, beside the writer (WAL allows it), so
        #: a long query never holds up a group commit; a file-less database has no second view
        self._read_conn: sqlite3.Connection | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._queue: list[_Call] = []
        self._wakeup: asyncio.Event | None = None
        self._batcher: asyncio.Task[None] | None = None
        self._closing = False
        self._feed = Feed()
        #: small batches run in the event loop itself: with synchronous=NORMAL a commit does not
        #: wait for the disk, and the hop to a thread and back cost more than the batch
        self._inline = False
        self._written = 0
        #: a checkpoint's first step, running on the reader's thread (see _checkpoint)
        self._backfill: asyncio.Future[None] | None = None
        #: the other processes sharing the file; None for a file-less database
        self._peers: Peers | None = None
        #: the search index's next pass over the jobs small batches left to it
        self._search_pass: asyncio.TimerHandle | None = None
        self._deferred = 0

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _read(self, function: OpFunction[P, T], *args: P.args, **_: P.kwargs) -> asyncio.Future[T]:
        """A read on the reader connection: it sees every commit acknowledged before it."""
        if self._read_conn is None or self._reader is None:
            return self._enqueue(function, args, several=False)
        if self._closing:
            raise Unavailable(f"the SQLite store {self.path!r} is closed")
        loop = asyncio.get_running_loop()
        reader, conn = self._reader, self._read_conn
        return loop.run_in_executor(reader, ops.run_read, conn, function, args)

    # -- the queue ---------------------------------------------------------------------------

    def _run(self, function: OpFunction[P, T], *args: P.args, **_: P.kwargs) -> asyncio.Future[T]:
        """Queue an operation of one SQL write at most (SQLite undoes a failed statement)."""
        return self._enqueue(function, args, several=False)

    def _run_atomic(
        self, function: OpFunction[P, T], *args: P.args, **_: P.kwargs
    ) -> asyncio.Future[T]:
        """Queue an operation of several writes, in a savepoint so a failure undoes them all."""
        return self._enqueue(function, args, several=True)

    def _enqueue(
        self, function: ops.Operation, args: tuple[Any, ...], several: bool, weight: int = 0
    ) -> asyncio.Future[Any]:
        if self._wakeup is None or self._closing:
            state = "closed" if self._closing else "not open yet"
            raise Unavailable(f"the SQLite store {self.path!r} is {state}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(function, args, several, future, weight))
        self._wakeup.set()
        return future

    async def _run_batches(self) -> None:
        assert self._wakeup is not None
        while True:
            peers = self._peers
            if peers is not None and peers.behind and not self._closing:
                await self._catch_up(peers)
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                if peers is None or not peers.behind:  # a datagram may have come meanwhile
                    await self._wakeup.wait()
                continue
            size = self._inline_size() if self._inline else MAX_BATCH
            batch = [call for call in self._queue[:size] if not call.future.cancelled()]
            del self._queue[:size]
            if batch:
                await self._commit(batch)

    def _inline_size(self) -> int:
        """How many queued calls the next batch takes when small batches run inline: up to
        ``INLINE_WEIGHT`` in all, so that a crowd of small calls (many workers' reports and
        claims) runs as a few commits in the loop instead of one on the writer's thread, where
        the hop and the thread's contention for the GIL cost more than the extra commits. A
        call heavier than that alone (a batch create) still goes to the thread."""
        weight = 0
        for size, call in enumerate(self._queue[:MAX_BATCH]):
            weight += _weight(call)
            if weight > INLINE_WEIGHT:
                return max(size, 1)
        return MAX_BATCH

    async def _commit(self, batch: list[_Call]) -> None:
        work = [(call.function, call.args, call.several) for call in batch]
        weight = sum(_weight(call) for call in batch)
        inline = self._inline and weight <= INLINE_WEIGHT
        peers = self._peers
        if peers is not None:
            if peers.prune_due:
                peers.prune_due = False
                work.append((peering.prune_log, (), False))
                inline = False  # deleting thousands of rows is no work for the loop
            # last, so that it sees every change of the batch
            work.append((peering.log_changes, (peers.origin,), False))
        try:
            outcomes, changes = await self._execute(work, inline)
        except Exception as exc:  # noqa: BLE001 - reported to every caller below
            self._fail(batch, exc)
            return
        self._settle(batch, outcomes[: len(batch)], changes)
        if changes.search_deferred:
            self._plan_search_pass(changes.search_deferred)
        if peers is not None and outcomes[-1] == (True, True):  # log_changes logged them
            peers.logged(len(changes))
        self._written += weight
        if self._inline:
            self._checkpoint()
        if inline:
            await asyncio.sleep(0)  # let callers queue more: the next batch groups them

    async def _execute(
        self, work: list[tuple[ops.Operation, tuple[Any, ...], bool]], inline: bool
    ) -> tuple[list[tuple[bool, Any]], ops.Changes]:
        assert self._conn is not None
        if inline:
            try:
                return ops.run_batch(self._conn, work)
            except ops.BatchFailed as exc:
                if not _busy(exc):
                    raise
                # another process holds the write lock: wait for it on the thread instead
        return await self._on_writer(ops.run_batch, work)

    async def _on_writer(self, function: Callable[..., T], *args: Any) -> T:
        """``function(conn, *args)`` on the writer's thread, waiting for the write lock."""
        loop, conn = asyncio.get_running_loop(), self._conn
        assert conn is not None
        if self._inline:
            return await loop.run_in_executor(self._executor, _patiently, conn, function, *args)
        return await loop.run_in_executor(self._executor, function, conn, *args)

    async def _catch_up(self, peers: Peers) -> None:
        """Publish what the other processes committed, between two of this store's batches
        (so at its place in this store's commit order, see ``peers``). A few rows are
        read inline, as small batches run: a thread hop would delay every change by one."""
        peers.behind = False
        read, origin, cursor = peering.read_since, peers.origin, peers.cursor
        result: peering.CatchUp | None = None
        if self._inline and not peers.deep:
            assert self._conn is not None
            with contextlib.suppress(sqlite3.Error):  # busy, say: the thread waits for it
                result = read(self._conn, origin, cursor, INLINE_WEIGHT)
        try:
            if result is None:
                result = await self._on_writer(read, origin, cursor, peering.CATCH_UP_ROWS)
        except Exception as exc:  # noqa: BLE001 - the next datagram tries again
            log.warning("could not read the changes of the servers sharing %r: %s", self.path, exc)
            return
        peers.caught_up(result)
        self._feed.publish(result.changes)

    def _plan_search_pass(self, deferred: int) -> None:
        """A large batch's jobs are indexed now, on the writer's thread while the loop answers
        and reads the next call; a small batch's a moment later, with the next ones'."""
        self._deferred += deferred
        if self._search_pass is not None and self._deferred <= INLINE_WEIGHT:
            return
        if self._search_pass is not None:
            self._search_pass.cancel()
        delay = 0.0 if self._deferred > INLINE_WEIGHT else SEARCH_PASS_DELAY
        self._search_pass = asyncio.get_running_loop().call_later(delay, self._index_deferred)

    def _index_deferred(self) -> None:
        self._search_pass, weight, self._deferred = None, self._deferred, 0
        if not self._closing:  # a failed pass leaves the rows pending for the next one
            future = self._enqueue(search.flush, (), several=True, weight=weight)
            future.add_done_callback(_quietly)

    def _last_search_pass(self) -> None:
        """Closing: the pass that was due runs as the queue's last call."""
        if self._search_pass is not None:
            self._search_pass.cancel()
            self._index_deferred()

    async def search_ready(self) -> None:
        """Index what is pending before a ``$search`` read (from any process's batches); a
        store that cannot write (a full disk) still answers, from the index as it is."""
        try:
            await self._run_atomic(search.flush)
        except Unavailable as exc:
            log.warning("searching without the jobs still to index: %s", exc)

    def _checkpoint(self) -> None:
        """Fold the WAL back into the database every ``CHECKPOINT_EVERY`` writes, in two steps.
        First on the reader's thread, beside the writer: it copies most of the WAL while
        batches go on committing. Then, once that is done, in the loop between two batches, as
        inline batches run: it copies what was committed meanwhile (~3 ms), and as no commit
        lands while it runs, it finishes, so the next commit starts the WAL over from its
        beginning.

        The first step alone never caught up under steady writes: the WAL was never started
        over and grew without end (600 MB after 60,000 jobs), every commit appending to it.
        The whole checkpoint between two batches held them up ~12 ms each time. The second
        step on the writer's thread took ~5 ms, most of it waiting for the busy loop to hand
        the thread the GIL back."""
        backfill = self._backfill
        if backfill is None:
            if self._written >= CHECKPOINT_EVERY:
                assert self._reader is not None and self._read_conn is not None
                self._written = 0
                self._backfill = asyncio.get_running_loop().run_in_executor(
                    self._reader, ops.checkpoint, self._read_conn
                )
            return
        if not backfill.done():
            return
        self._backfill = None
        assert self._conn is not None
        try:
            backfill.result()
            ops.checkpoint(self._conn)
        except Exception as exc:  # noqa: BLE001 - the next one will catch up
            log.warning("checkpoint of %r failed: %s", self.path, exc)

    def _fail(self, batch: list[_Call], exc: Exception) -> None:
        message = (
            f"the SQLite database {self.path!r} could not commit ({exc}); "
            "nothing from this request was saved"
        )
        log.error("%s (%d calls failed)", message, len(batch))
        for call in batch:
            if not call.future.done():
                call.future.set_exception(Unavailable(message))

    def _settle(
        self, batch: list[_Call], outcomes: list[tuple[bool, Any]], changes: ops.Changes
    ) -> None:
        for call, (ok, value) in zip(batch, outcomes, strict=True):
            if call.future.done():
                continue
            if ok:
                call.future.set_result(value)
            else:
                call.future.set_exception(value)
        if changes and self._feed.active:
            self._feed.publish([Change(op, job_id, doc) for op, job_id, doc in changes])
