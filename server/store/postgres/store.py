"""The PostgreSQL store: jobs as JSONB rows, claims under ``FOR UPDATE SKIP LOCKED``, and a
change log every server follows (``feed``), so that several servers on one database behave
as one.

Driver: asyncpg, measured against psycopg 3 on the loopback (bench/README.md, "PostgreSQL
drivers"): as fast or faster per round trip, with its pool and LISTEN built in.

Each operation is one transaction on a pooled connection; a write ends by appending its
changes to the log (``feed.APPEND``), which the feed publishes once committed: the server's
own follower is woken at once, the other servers by a NOTIFY sent after the commit. Flow rules are
read and counted inside the claim's transaction, after an advisory lock per counted type, so
two servers never admit more than the rules allow between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from livejobs.errors import Invalid, StoreRefused, Unavailable
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import Change, ClaimRequest, CreateRequest, Filter, Sort
from livejobs.store.feed import Feed, Watcher
from livejobs.store.postgres import batch, connections, counts, feed, flow, migrations, ops
from livejobs.store.postgres.rollups import PostgresRollups
from livejobs.store.postgres.sql import (
    DELETE_MANY,
    SWAP_NEW_RECORD,
    SWAP_RECORD,
    Params,
    order_by,
    where,
)

T = TypeVar("T")
COUNT_BY_FIELDS = ("status", "type", "owner")
POOL_SIZE = 10
CLOSE_SECONDS = 10.0
Write = Callable[[Any, ops.Log], Awaitable[T]]


class PostgresStore(PostgresRollups):
    """Jobs, records and the change log in one PostgreSQL database named by ``url``."""

    ordered_writes = True  # claims see the inserts called before them (batch.py)

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.where = f"the PostgreSQL database {connections.redacted(url)}"
        self.pool_size = pool_size
        self._pool: Any = None
        self._feed = Feed()
        self._follower: feed.Follower | None = None
        self._notifier = feed.Notifier(self._unflushed)
        self._written = feed.Written()  # what this server logged, for its own follower
        self._batcher = batch.Batcher(self._transaction, connections.committed_nothing)

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=0,  # no floor to restore (and log) while the database restarts
                max_size=self.pool_size,
                init=connections.init,
                connection_class=connections.Connection,
                # short statements: compiling one (JIT, decided on the plan's cost, which the
                # sorts ``connections.transaction`` avoids make huge) took 100s of ms
                server_settings={"jit": "off"},
            )
            async with self._pool.acquire() as conn:
                await migrations.migrate(conn, self.where)
                self._follower = feed.Follower(
                    self._listener, self._feed, lambda: self._notifier.pid, self._written
                )
                await self._follower.start(conn)
        except StoreRefused:
            await self.close()
            raise
        except (*connections.FAILED, ValueError) as exc:
            await self.close()
            raise StoreRefused(f"cannot open {self.where}: {exc}") from exc

    async def _listener(self) -> Any:
        conn = await asyncpg.connect(self.url)
        await connections.init(conn)
        return conn

    async def _unflushed(self) -> Any:
        """The notifier's connection: a NOTIFY's own transaction has nothing to keep, so its
        commit need not wait for a WAL flush."""
        return await asyncpg.connect(self.url, server_settings={"synchronous_commit": "off"})

    async def close(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await follower.stop()
        await self._batcher.close()
        await self._notifier.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:  # calls in flight finish first, for a while
                await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
            except TimeoutError:
                pool.terminate()
        self._feed.close()

    def _connected(self) -> Any:
        if self._pool is None:
            raise Unavailable(f"{self.where} is not open")
        return self._pool

    async def _write(self, work: Write[T], kind: str = "") -> T:
        """``work(conn, changes)`` in a transaction that ends appending ``changes``, shared
        with the writes called at the same time (``batch``)."""
        self._connected()
        result: T = await self._batcher.submit(work, kind)
        return result

    async def _transaction(self, works: list[batch.Work]) -> list[Any]:
        """The writes ``works``, in order, in one transaction ending with their appends; a
        run of replaces alone is one statement that logs its changes itself, so it needs no
        transaction around it (no BEGIN and COMMIT round trips)."""
        with connections.errors(self.where):
            async with self._connected().acquire() as conn, connections.dropped_if_lost(conn):
                changes = ops.Log(self._written)
                if ops.one_statement(works):
                    results = await ops.run_all(conn, changes, works)
                else:
                    async with connections.transaction(conn):
                        results = await ops.run_all(conn, changes, works)
                        if changes:
                            await feed.append(conn, changes, changes.written)
                if changes or changes.logged:
                    self._committed()
                return results

    def _committed(self) -> None:
        """Changes were committed: this server reads them now, the others when notified."""
        if self._follower is not None:
            self._follower.wake()
        self._notifier.notify()

    async def _read(self, method: str, sql: str, *args: Any) -> Any:
        """A read, sent again on a lost connection: the pool's connections all die when the
        database restarts or fails over, and the next connection is likely to work."""
        for pause in connections.READ_RETRIES:
            try:
                return await self._read_once(method, sql, *args)
            except Unavailable as exc:
                if not connections.connection_lost(exc.__cause__):
                    raise
                await asyncio.sleep(pause)
        return await self._read_once(method, sql, *args)

    async def _read_once(self, method: str, sql: str, *args: Any) -> Any:
        with connections.errors(self.where):
            async with self._connected().acquire() as conn, connections.dropped_if_lost(conn):
                return await getattr(conn, method)(sql, *args)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self._read("fetch", sql, *args))

    async def _value(self, sql: str, *args: Any) -> Any:
        return await self._read("fetchval", sql, *args)

    async def ping(self) -> None:
        await self._value("SELECT 1")

    async def store_time(self) -> float:
        return float(await self._value("SELECT extract(epoch FROM clock_timestamp())::float8"))

    def watch(self) -> Watcher:
        return self._feed.watch()

    # -- jobs --------------------------------------------------------------------------------

    async def insert(self, docs: Sequence[Job], request: CreateRequest | None = None) -> list[Job]:
        if not docs:
            return []

        async def work(conn: Any, changes: ops.Log) -> list[Job]:
            if request is None:
                return await ops.insert(conn, changes, docs)
            return await ops.remembered(conn, changes, docs, request)

        return await self._write(work, batch.INSERT)

    async def amend_answer(self, request: CreateRequest, job_ids: Sequence[str]) -> None:
        async def work(conn: Any, changes: ops.Log) -> None:
            await conn.execute(
                "UPDATE requests SET answer = $1::jsonb WHERE owner = $2 AND id = $3",
                list(job_ids),
                request.owner,
                request.id,
            )

        await self._write(work)

    async def get(self, job_id: str) -> Job | None:
        found = await self._value("SELECT doc FROM jobs WHERE id = $1", job_id)
        return found  # type: ignore[no-any-return]

    async def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        if not job_ids:
            return []
        rows = await self._fetch("SELECT id, doc FROM jobs WHERE id = ANY($1::text[])", job_ids)
        by_id = {r["id"]: r["doc"] for r in rows}
        return [by_id[i] for i in job_ids if i in by_id]

    async def find(
        self,
        filter: Filter,
        sort: Sort = (("created", 1),),
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Job]:
        if limit is not None and limit <= 0:
            return []
        params = Params()
        sql = f"SELECT doc FROM jobs WHERE {where(filter, params)} {order_by(sort)}"
        sql += f" LIMIT {params.add(limit)}::int8 OFFSET {params.add(max(skip, 0))}::int8"
        return [r["doc"] for r in await self._fetch(sql, *params)]

    async def count(self, filter: Filter) -> int:
        if counts.answerable(filter):
            sql, args = counts.count_sql(filter)
            return int(await self._value(sql, *args))
        params = Params()
        sql = f"SELECT count(*) FROM jobs WHERE {where(filter, params)}"
        return int(await self._value(sql, *params))

    async def count_by(self, field: str, filter: Filter) -> dict[str, int]:
        if field not in COUNT_BY_FIELDS:
            raise Invalid(f"counts can be grouped by {', '.join(COUNT_BY_FIELDS)}, not {field!r}")
        if counts.answerable(filter):
            sql, args = counts.count_by_sql(field, filter)
            return {r["k"]: int(r["n"]) for r in await self._fetch(sql, *args)}
        params = Params()
        sql = (
            f"SELECT {field} AS k, count(*) AS n FROM jobs WHERE {where(filter, params)} "
            f"AND {field} IS NOT NULL GROUP BY {field}"
        )
        return {r["k"]: int(r["n"]) for r in await self._fetch(sql, *params)}

    async def replace(self, doc: Job, expected_version: int, previous: Job | None = None) -> bool:
        if doc.get("version") != expected_version + 1:
            raise ValueError("replace: doc['version'] must be expected_version + 1")

        if previous is not None and previous.get("version") != expected_version:
            previous = None
        return await self._write(ops.Replace(doc, expected_version, previous))

    async def delete(self, job_id: str, expected_version: int) -> bool:
        async def work(conn: Any, changes: list[Change]) -> bool:
            sql = "DELETE FROM jobs WHERE id = $1 AND version = $2"
            if await conn.execute(sql, job_id, expected_version) != "DELETE 1":
                return False
            changes.append(Change("delete", job_id, None))
            return True

        return await self._write(work)

    async def delete_many(self, jobs: Sequence[tuple[str, int]]) -> int:
        async def work(conn: Any, changes: list[Change]) -> int:
            rows = await conn.fetch(DELETE_MANY, [i for i, _ in jobs], [v for _, v in jobs])
            changes.extend(Change("delete", r["id"], None) for r in rows)
            return len(rows)

        return await self._write(work) if jobs else 0

    async def claim(self, request: ClaimRequest) -> list[Job]:
        if request.limit <= 0 or not request.types:
            return []
        return await self._write(
            lambda conn, changes: ops.claim(conn, changes, request), batch.CLAIM
        )

    async def rate_opening(self, job_type: str, rules: TypeRules, now: float) -> float | None:
        with connections.errors(self.where):
            return await flow.next_opening(self._connected(), job_type, rules, now)

    async def due(self, now: float, limit: int = 500) -> list[Job]:
        sql = "SELECT doc FROM jobs WHERE due <= $1 ORDER BY due, id LIMIT $2"
        return [r["doc"] for r in await self._fetch(sql, now, limit)]

    async def next_due(self) -> float | None:
        earliest = await self._value("SELECT min(due) FROM jobs WHERE due IS NOT NULL")
        return None if earliest is None else float(earliest)

    # -- records -----------------------------------------------------------------------------

    async def put_record(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        async def work(conn: Any, changes: list[Change]) -> None:
            await conn.execute(
                "INSERT INTO records (kind, id, doc) VALUES ($1, $2, $3::jsonb) "
                "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc",
                kind,
                record_id,
                doc,
            )
            changes.append(Change("record", f"{kind}/{record_id}", None))

        await self._write(work)

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        sql = "SELECT doc FROM records WHERE kind = $1 AND id = $2"
        return await self._value(sql, kind, record_id)  # type: ignore[no-any-return]

    async def list_records(self, kind: str) -> list[dict[str, Any]]:
        rows = await self._fetch("SELECT doc FROM records WHERE kind = $1 ORDER BY id", kind)
        return [r["doc"] for r in rows]

    async def delete_record(self, kind: str, record_id: str) -> bool:
        async def work(conn: Any, changes: list[Change]) -> bool:
            sql = "DELETE FROM records WHERE kind = $1 AND id = $2"
            if await conn.execute(sql, kind, record_id) != "DELETE 1":
                return False
            changes.append(Change("record", f"{kind}/{record_id}", None))
            return True

        return await self._write(work)

    async def swap_record(self, kind: str, record_id: str, doc: dict[str, Any], rev: int) -> bool:
        """One statement each way: a write that waited for another's row lock tests the
        revision again on the row that one left (READ COMMITTED's re-check), so it loses."""

        async def work(conn: Any, changes: list[Change]) -> bool:
            if rev == 0:
                status = await conn.execute(SWAP_NEW_RECORD, kind, record_id, doc)
            else:
                status = await conn.execute(SWAP_RECORD, kind, record_id, doc, rev)
            if status not in ("INSERT 0 1", "UPDATE 1"):
                return False
            changes.append(Change("record", f"{kind}/{record_id}", None))
            return True

        return await self._write(work)


async def pending_at(url: str) -> list[Any]:
    """The migrations opening ``url`` would apply (``livejobs migrate``), changing nothing."""
    where = f"the PostgreSQL database {connections.redacted(url)}"
    try:
        conn = await asyncpg.connect(url)
    except (*connections.FAILED, ValueError) as exc:
        raise StoreRefused(f"cannot open {where}: {exc}") from exc
    try:
        return await migrations.pending(conn, where)
    finally:
        await conn.close()
