"""The PostgreSQL store's change feed: a log table every server reads, woken by NOTIFY.

Every write transaction ends by appending its changes to ``changes`` in one statement (each
document as the server's JSON bytes: the log is only read back whole, so PostgreSQL need not
parse it as JSONB; migration 3), inside the transaction, so that no write commits without
its changes in the log (a lost connection between the two lost a change once); a
statement trigger first takes a transaction-level advisory lock (held until the commit), and
another NOTIFYs ``livejobs_changes``. The lock serialises the appends with their commits, so
``seq`` order is commit order: a row with a lower seq is always committed, and visible, before
a higher one, and a reader that remembers only the last seq it read never skips a change
(a bigserial alone gives no such promise: a lower seq may commit after a higher one is read).
PostgreSQL serialises the commits of NOTIFYing transactions anyway, so the lock costs little.

Each server keeps one connection that LISTENs, and reads the rows after the last one it saw
whenever it is notified: nothing is polled while idle. Its own changes reach its watchers the
same way, so every server publishes the same changes in the same order. When that connection
is lost, ``Follower`` reconnects and reads on from the last seq seen; if the log was trimmed
past it meanwhile, it publishes ``Change("reset")`` so that watchers rebuild from a query.
Rows older than ``KEEP_SECONDS`` are trimmed, at most every ``TRIM_EVERY`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import msgspec

from livejobs.store.base import Change
from livejobs.store.feed import Feed
from livejobs.store.postgres import counts

log = logging.getLogger(__name__)

CHANNEL = "livejobs_changes"
APPEND = (
    "INSERT INTO changes (op, id, doc) "
    "SELECT op, id, doc FROM unnest($1::text[], $2::text[], $3::bytea[]) "
    "WITH ORDINALITY AS c(op, id, doc, n) ORDER BY n"
)
TRIMMED = "trimmed"
# the rows after $1, after a row saying how far the log was trimmed if that is past $1
READ = f"""
SELECT * FROM (SELECT upto AS seq, '{TRIMMED}' AS op, '' AS id, NULL::bytea AS doc, 0 AS k
               FROM changes_trimmed WHERE upto > $1
               UNION ALL
               (SELECT seq, op, id, doc, 1 FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2)) r
ORDER BY k, seq
"""
READ_ROWS = 2000
KEEP_SECONDS = 600.0
TRIM_EVERY = 60.0
COMPACT_EVERY = 2.0  # job_counts rows folded (counts.py), by whichever server comes first
RECONNECT_DELAY = 0.2
MAX_RECONNECT_DELAY = 5.0
RESET = Change("reset", "", None)

Connect = Callable[[], Coroutine[Any, Any, Any]]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def append_args(changes: list[Change]) -> tuple[list[str], list[str], list[bytes | None]]:
    """The parameters of ``APPEND``: each document as JSON bytes (migration 3)."""
    docs = [None if c.doc is None else _encode(c.doc) for c in changes]
    return [c.op for c in changes], [c.id for c in changes], docs


async def append(conn: Any, changes: list[Change]) -> None:
    """Log ``changes`` in the transaction open on ``conn``, the one that made them: appended
    after its commit, a connection lost in between would commit changes nobody hears of."""
    if not conn.is_in_transaction():
        raise RuntimeError("changes are appended inside the transaction that made them")
    await conn.execute(APPEND, *append_args(changes))


def _change(row: Any) -> Change:
    doc = row["doc"]
    return Change(row["op"], row["id"], None if doc is None else _decode(doc))


class Follower:
    """Reads the log into ``feed``, from the last seq at ``start`` on."""

    def __init__(self, connect: Connect, feed: Feed) -> None:
        self._connect = connect
        self._feed = feed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self.seen = 0
        self._trimmed_at = self._compacted_at = time.monotonic()

    async def start(self, conn: Any) -> None:
        """Start after the last change committed now (read on ``conn``, a pool connection)."""
        self.seen = int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM changes"))
        await self._listen()  # the first LISTEN is made before open() returns
        self._task = asyncio.create_task(self._follow(), name="livejobs-postgres-feed")

    async def _listen(self) -> None:
        conn = await self._connect()
        lost = self._wake.set

        await conn.add_listener(CHANNEL, lambda *_: self._wake.set())
        conn.add_termination_listener(lambda *_: lost())
        self._conn = conn
        self._wake.set()  # read what was committed while not listening

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _follow(self) -> None:
        delay = RECONNECT_DELAY
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    await self._drop()
                    await self._listen()
                await self._wake.wait()
                self._wake.clear()
                await self._read()
                delay = RECONNECT_DELAY
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
            ) as exc:
                level = logging.WARNING if delay == RECONNECT_DELAY else logging.DEBUG
                log.log(level, "lost the PostgreSQL change feed (%s); reconnecting", exc)
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _read(self) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        while True:
            rows = await conn.fetch(READ, self.seen, READ_ROWS)
            if rows and rows[0]["op"] == TRIMMED:
                log.warning("the change log was trimmed past this server; watchers will re-query")
                self.seen = rows[0]["seq"]
                self._feed.publish([RESET])
                rows = [r for r in rows[1:] if r["seq"] > self.seen]
            if rows:
                self.seen = rows[-1]["seq"]
                self._feed.publish([_change(r) for r in rows])
            if len(rows) < READ_ROWS:
                break
        if time.monotonic() - self._compacted_at > COMPACT_EVERY:
            self._compacted_at = time.monotonic()
            await counts.compact(conn)
        if time.monotonic() - self._trimmed_at > TRIM_EVERY:
            self._trimmed_at = time.monotonic()
            await trim(conn)


async def trim(conn: Any, keep_seconds: float = KEEP_SECONDS) -> None:
    """Drop the log's rows older than ``keep_seconds``, noting how far it was trimmed."""
    async with conn.transaction():
        upto = await conn.fetchval(
            "SELECT max(seq) FROM changes WHERE at < clock_timestamp() - make_interval(secs => $1)",
            keep_seconds,
        )
        if upto is not None:
            await conn.execute("DELETE FROM changes WHERE seq <= $1", upto)
            await conn.execute("UPDATE changes_trimmed SET upto = greatest(upto, $1)", upto)
