"""The PostgreSQL store's change feed: a log table every server reads, read by snapshot.

Every write transaction ends by appending its changes to ``changes`` in one statement (each
document as the server's JSON bytes: the log is only read back whole, so PostgreSQL need not
parse it as JSONB; migration 3), inside the transaction, so that no write commits without
its changes in the log (a lost connection between the two lost a change once). Each row
carries the id of the transaction that wrote it (``xid``, migration 7).

A reader does not rely on ``seq`` being in commit order (it is not: a lower seq may commit
after a higher one is read), so the appends need no lock and commits overlap, sharing their
WAL flushes. It remembers the snapshot of its last read instead (PgQ's way): the rows new to
it are those of transactions that snapshot did not see (``xid`` at or past its ``xmax``, or
in progress then), and one statement reads them together with the snapshot it saw them by.
Within a read, rows come in ``seq`` order; for any one job that is commit order, since its
writers take the row's lock in turn and each appends after its write.

A transaction that NOTIFYs holds PostgreSQL's notify lock through its commit and WAL flush,
one after the other, so the writes do not NOTIFY: after a commit, the committing server wakes
its own follower at once and ``Notifier`` sends ``NOTIFY livejobs_changes`` for the others on
a connection of its own, coalesced and with ``synchronous_commit`` off (it has nothing to
keep). A server that dies between a COMMIT and that NOTIFY leaves the others unaware of the
commit until the next NOTIFY, so a follower also reads every ``CATCH_UP`` seconds while its
last read found rows or saw transactions in progress; once a read finds nothing and nobody
writing, it waits for a NOTIFY alone: nothing is polled while idle.

Each server keeps one connection that LISTENs. When it is lost, ``Follower`` reconnects and
reads on from its last snapshot; if the log was trimmed past it meanwhile, it publishes
``Change("reset")`` so that watchers rebuild from a query. Rows older than ``KEEP_SECONDS``
(and older than every transaction in progress) are trimmed, at most every ``TRIM_EVERY``
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import msgspec

from livejobs.jobs.model import Job
from livejobs.store.base import Change
from livejobs.store.feed import Feed
from livejobs.store.postgres import counts
from livejobs.store.postgres.connections import FAILED

log = logging.getLogger(__name__)

CHANNEL = "livejobs_changes"
APPEND = (
    "INSERT INTO changes (op, id, doc) "
    "SELECT op, id, doc FROM unnest($1::text[], $2::text[], $3::bytea[]) "
    "WITH ORDINALITY AS c(op, id, doc, n) ORDER BY n"
)
# the rows the snapshot ($1 xmin, $2 xmax, $3 in progress) did not see, with the snapshot
# this statement sees them by, and whether the log was trimmed of rows it may not have seen
READ = """
SELECT s.snap::text AS snap, (SELECT upto_xid FROM changes_trimmed) >= $1::text::xid8 AS gap,
       c.seq, c.op, c.id, c.doc
FROM (SELECT pg_current_snapshot() AS snap) s
LEFT JOIN LATERAL (
    SELECT seq, op, id, doc FROM changes
    WHERE xid >= $2::text::xid8 OR xid = ANY($3::text[]::xid8[])
    ORDER BY seq) c ON TRUE
"""
KEEP_SECONDS = 600.0
TRIM_EVERY = 60.0
COMPACT_EVERY = 2.0  # job_counts rows folded (counts.py), by whichever server comes first
CATCH_UP = 1.0  # seconds between reads while there may be changes nobody announced
RECONNECT_DELAY = 0.2
MAX_RECONNECT_DELAY = 5.0
RESET = Change("reset", "", None)

Connect = Callable[[], Coroutine[Any, Any, Any]]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class Snapshot:
    """What a read saw (``pg_snapshot``): every transaction before ``xmin`` had ended, those
    from ``xmax`` on had not begun, and ``running`` were in progress."""

    xmin: int
    xmax: int
    running: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, running = text.split(":")
        return cls(int(xmin), int(xmax), tuple(int(x) for x in running.split(",") if x))

    def args(self) -> tuple[str, str, list[str]]:
        return str(self.xmin), str(self.xmax), [str(x) for x in self.running]


class Written:
    """The documents this server logged lately, by their JSON bytes: its follower hands out
    the writer's own dict when it reads those bytes back, as the SQLite store's feed does,
    instead of decoding them again (a tenth of a batch create's work). Equal bytes decode to
    an equal document, so a hit is always right. An entry the follower never reads (a write
    rolled back, a log trimmed past a lagging follower) stays until newer ones push it out:
    at most ``LIMIT`` documents of ``LIMIT_BYTES`` encoded bytes in all are kept."""

    LIMIT = 20_000
    LIMIT_BYTES = 16 * 2**20

    def __init__(self) -> None:
        self._docs: dict[bytes, Job] = {}
        self._bytes = 0

    def remember(self, encoded: bytes, doc: Job) -> None:
        docs = self._docs
        if encoded not in docs:
            self._bytes += len(encoded)
        docs[encoded] = doc
        while docs and (len(docs) > self.LIMIT or self._bytes > self.LIMIT_BYTES):
            oldest = next(iter(docs))
            del docs[oldest]
            self._bytes -= len(oldest)

    def take(self, encoded: bytes) -> Job:
        """The document of ``encoded``: the one remembered (once), or decoded."""
        found = self._docs.pop(encoded, None)
        if found is None:
            return _decode(encoded)  # type: ignore[no-any-return]
        self._bytes -= len(encoded)
        return found

    def __len__(self) -> int:
        return len(self._docs)


def encode(doc: Job, written: Written | None) -> bytes:
    """``doc`` as the log keeps it, remembered in ``written`` for this server's follower."""
    encoded = _encode(doc)
    if written is not None:
        written.remember(encoded, doc)
    return encoded


def append_args(
    changes: list[Change], written: Written | None = None
) -> tuple[list[str], list[str], list[bytes | None]]:
    """The parameters of ``APPEND``: each document as JSON bytes (migration 3)."""
    docs = [None if c.doc is None else encode(c.doc, written) for c in changes]
    return [c.op for c in changes], [c.id for c in changes], docs


async def append(conn: Any, changes: list[Change], written: Written | None = None) -> None:
    """Log ``changes`` in the transaction open on ``conn``, the one that made them: appended
    after its commit, a connection lost in between would commit changes nobody hears of."""
    if not conn.is_in_transaction():
        raise RuntimeError("changes are appended inside the transaction that made them")
    await conn.execute(APPEND, *append_args(changes, written))


class Notifier:
    """Sends ``NOTIFY`` after commits, one at a time: the commits made while one is in flight
    share the next. A failed send is tried again on a new connection, a few times."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._conn: Any = None
        self._wanted = False
        self._task: asyncio.Task[None] | None = None
        self.pid: int | None = None  # its notifications are this server's own

    def notify(self) -> None:
        self._wanted = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name="livejobs-postgres-notify")

    async def _send(self) -> None:
        failures = 0
        while self._wanted:
            self._wanted = False
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                    self.pid = self._conn.get_server_pid()
                await self._conn.execute(f"NOTIFY {CHANNEL}")
                failures = 0
            except FAILED as exc:
                await self._drop()
                failures += 1
                if failures > 5:
                    log.warning("could not NOTIFY the other servers (%s)", exc)
                    return
                self._wanted = True
                await asyncio.sleep(RECONNECT_DELAY * failures)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)
            task.cancel()
        await self._drop()


class Follower:
    """Reads the log into ``feed``, from the snapshot at ``start`` on."""

    def __init__(
        self,
        connect: Connect,
        feed: Feed,
        own: Callable[[], int | None],
        written: Written | None = None,
    ) -> None:
        """``own()``: the backend pid whose notifications are this server's own (already
        followed by ``wake``); ``written``: the documents this server logged."""
        self._connect = connect
        self._feed = feed
        self._written = Written() if written is None else written
        self._own = own
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self.snapshot = Snapshot(0, 0)
        self._busy = False  # the last read found rows or transactions in progress
        self._trimmed_at = self._compacted_at = time.monotonic()

    async def start(self, conn: Any) -> None:
        """Start after the changes committed now (read on ``conn``, a pool connection)."""
        self.snapshot = Snapshot.parse(await conn.fetchval("SELECT pg_current_snapshot()::text"))
        await self._listen()  # the first LISTEN is made before open() returns
        self._task = asyncio.create_task(self._follow(), name="livejobs-postgres-feed")

    def wake(self) -> None:
        """Read now: this server committed changes."""
        self._wake.set()

    def _notified(self, _conn: Any, pid: int, *_: Any) -> None:
        if pid != self._own():
            self._wake.set()

    async def _listen(self) -> None:
        conn = await self._connect()
        lost = self._wake.set

        await conn.add_listener(CHANNEL, self._notified)
        conn.add_termination_listener(lambda *_: lost())
        self._conn = conn
        self._wake.set()  # read what was committed while not listening

    async def stop(self) -> None:
        """Python 3.11's ``wait_for`` can swallow a cancellation that meets its inner wait's
        end: cancel until the task is done (and the loop checks ``_task`` too)."""
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _follow(self) -> None:
        delay = RECONNECT_DELAY
        me = asyncio.current_task()
        while self._task is me:
            try:
                if self._conn is None or self._conn.is_closed():
                    await self._drop()
                    await self._listen()
                if self._busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), CATCH_UP)
                else:
                    await self._wake.wait()
                self._wake.clear()
                await self._read()
                delay = RECONNECT_DELAY
            except FAILED as exc:
                level = logging.WARNING if delay == RECONNECT_DELAY else logging.DEBUG
                log.log(level, "lost the PostgreSQL change feed (%s); reconnecting", exc)
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _read(self) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        before = self.snapshot
        rows = await conn.fetch(READ, *before.args())
        first = rows[0]
        if first["gap"]:
            log.warning("the change log was trimmed past this server; watchers will re-query")
            self._feed.publish([RESET])
        if self.snapshot is before:
            self.snapshot = Snapshot.parse(first["snap"])
        else:  # set back meanwhile (tests): read again from there
            self._wake.set()
        take = self._written.take
        found = [
            Change(r["op"], r["id"], None if r["doc"] is None else take(r["doc"]))
            for r in rows
            if r["seq"] is not None
        ]
        if found:
            self._feed.publish(found)
        self._busy = bool(found or self.snapshot.running)
        if time.monotonic() - self._compacted_at > COMPACT_EVERY:
            self._compacted_at = time.monotonic()
            await counts.compact(conn)
        if time.monotonic() - self._trimmed_at > TRIM_EVERY:
            self._trimmed_at = time.monotonic()
            await trim(conn)


# the rows older than $1 seconds written before every transaction in progress began (so
# that any reader may have seen them), noting the newest transaction trimmed
TRIM = """
WITH gone AS (
    DELETE FROM changes
    WHERE at < clock_timestamp() - make_interval(secs => $1)
      AND xid < pg_snapshot_xmin(pg_current_snapshot())
    RETURNING seq, xid)
UPDATE changes_trimmed SET upto = greatest(upto, (SELECT max(seq) FROM gone)),
    upto_xid = greatest(upto_xid, (SELECT max(xid) FROM gone))
WHERE EXISTS (SELECT FROM gone)
"""


async def trim(conn: Any, keep_seconds: float = KEEP_SECONDS) -> None:
    """Drop the log's rows older than ``keep_seconds``, noting how far it was trimmed."""
    await conn.execute(TRIM, keep_seconds)
