"""The embedded store: SQLite on one connection, one thread, with group commit (``batcher``).

Documents returned and published are shared, not copied:
treat them as read-only (``lifecycle`` functions copy before changing). SQL and the per-call
operations live in ``sql`` and ``ops``; ``peers`` brings the commits of
other processes sharing the file onto this store's feed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from livejobs import search
from livejobs.errors import Invalid, StoreRefused
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import ClaimRequest, CreateRequest, Filter, Sort
from livejobs.store.feed import Watcher
from livejobs.store.sqlite import migrations, ops, purge, records, requests
from livejobs.store.sqlite import peers as peering
from livejobs.store.sqlite.batcher import BUSY_TIMEOUT_MS
from livejobs.store.sqlite.peers import Peers
from livejobs.store.sqlite.rollups import SQLiteRollups

log = logging.getLogger(__name__)

COUNT_BY_FIELDS = ("status", "type", "owner")


class SQLiteStore(SQLiteRollups):
    """SQLite in WAL mode; ``path`` may be ``":memory:"`` for quick tests.

    ``synchronous="NORMAL"`` (default) syncs only at checkpoints: a process crash loses nothing
    committed, but a power loss or OS crash may lose the last transactions. ``"FULL"`` syncs the
    WAL on every commit (group commit keeps that to one fsync per batch) and survives both.
    """

    ordered_writes = True

    def __init__(self, path: str, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be 'NORMAL' or 'FULL'")
        super().__init__(path)
        self.synchronous = synchronous

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livejobs-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._executor, self._connect)
        except (sqlite3.Error, StoreRefused) as exc:
            self._executor.shutdown(wait=False)
            if isinstance(exc, StoreRefused):
                raise
            raise StoreRefused(f"cannot open the SQLite database {self.path!r}: {exc}") from exc
        self._wakeup = asyncio.Event()
        if self.path != ":memory:" and not self.path.startswith("file::memory:"):
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livejobs-read")
            self._read_conn = await loop.run_in_executor(self._reader, self._connect_reader)
            try:
                await self._join()
            except (sqlite3.Error, OSError) as exc:
                raise StoreRefused(
                    f"cannot share the SQLite database {self.path!r} with other servers: {exc}"
                ) from exc
            # SQLite's own checkpoints are off: a commit that crossed the threshold paid for
            # one; _checkpoint does it mostly beside the writer instead. And an inline batch
            # never waits for another process's write lock in the loop: it moves to the
            # writer's thread instead (see _execute)
            self._inline = self.synchronous == "NORMAL"
            if self._inline:
                await loop.run_in_executor(
                    self._executor,
                    self._conn.executescript,
                    "PRAGMA wal_autocheckpoint = 0; PRAGMA busy_timeout = 0;",
                )
        self._batcher = asyncio.create_task(self._run_batches(), name="livejobs-sqlite-batcher")

    async def _join(self) -> None:
        """Take a place among the processes sharing the file, to hear of their commits."""
        peers = Peers(self._wake, lambda origin: self._read(peering.peer_ports, origin))
        port = await peers.listen()
        conn = self._conn
        assert conn is not None
        try:
            membership = await asyncio.get_running_loop().run_in_executor(
                self._executor, peering.register, conn, port
            )
        except BaseException:
            peers.leave()
            raise
        peers.joined(membership)
        self._peers = peers

    def _connect_reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, cached_statements=256)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA cache_size = -32000")
        return conn

    def _connect(self) -> sqlite3.Connection:
        # used from the loop for small batches, from the writer thread for large ones; the
        # batcher never lets the two overlap
        conn = sqlite3.connect(
            self.path, isolation_level=None, cached_statements=256, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -32000")
            migrations.migrate(conn, f"the SQLite database {self.path!r}")
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        """Finish every queued call, then close the connection and stop the thread."""
        if self._batcher is None or self._closing:
            return
        self._last_search_pass()
        self._closing = True
        assert self._wakeup is not None and self._executor is not None
        self._wakeup.set()
        await self._batcher
        peers, self._peers = self._peers, None
        if peers is not None:
            try:
                await self._on_writer(peering.unregister, peers.origin)
            except sqlite3.Error as exc:  # the next server to open drops the row of a dead pid
                log.warning("could not leave the peers of %r: %s", self.path, exc)
            peers.leave()
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        read_conn, self._read_conn = self._read_conn, None
        if read_conn is not None and self._reader is not None:
            await asyncio.get_running_loop().run_in_executor(self._reader, read_conn.close)
            self._reader.shutdown(wait=True)
        self._feed.close()

    async def ping(self) -> None:
        await self._run(ops.ping)

    async def store_time(self) -> float:
        # on the reader, beside the writer's queue, so that the round trip stays short
        return await self._read(ops.store_time)

    # -- jobs --------------------------------------------------------------------------------

    async def insert(self, docs: Sequence[Job], request: CreateRequest | None = None) -> list[Job]:
        if not docs:
            return []
        run = self._run_atomic if len(docs) > 1 or request is not None else self._run
        return await run(requests.insert, list(docs), request)

    async def amend_answer(self, request: CreateRequest, job_ids: Sequence[str]) -> None:
        await self._run(requests.amend, request, list(job_ids))

    async def get(self, job_id: str) -> Job | None:
        return await self._read(ops.get, job_id)

    async def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        """The stored jobs among ``job_ids``, in that order (unknown ids are left out)."""
        if not job_ids:
            return []
        return await self._read(ops.get_many, list(job_ids))

    async def find(
        self,
        filter: Filter,
        sort: Sort = (("created", 1),),
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Job]:
        if limit is not None and limit <= 0:
            return []
        if search.in_filter(filter):
            await self.search_ready()
        return await self._read(ops.find, filter, sort, limit, skip)

    async def count(self, filter: Filter) -> int:
        if search.in_filter(filter):
            await self.search_ready()
        return await self._read(ops.count, filter)

    async def count_by(self, field: str, filter: Filter) -> dict[str, int]:
        if field not in COUNT_BY_FIELDS:
            raise Invalid(f"counts can be grouped by {', '.join(COUNT_BY_FIELDS)}, not {field!r}")
        if search.in_filter(filter):
            await self.search_ready()
        return await self._read(ops.count_by, field, filter)

    async def replace(self, doc: Job, expected_version: int, previous: Job | None = None) -> bool:
        if doc.get("version") != expected_version + 1:
            raise ValueError("replace: doc['version'] must be expected_version + 1")
        if previous is not None and previous.get("version") != expected_version:
            previous = None
        return await self._run(ops.replace, doc, expected_version, previous)

    async def delete(self, job_id: str, expected_version: int) -> bool:
        return await self._run(ops.delete, job_id, expected_version)

    async def delete_many(self, jobs: Sequence[tuple[str, int]]) -> int:
        return await self._run_atomic(purge.delete_many, list(jobs)) if jobs else 0

    async def claim(self, request: ClaimRequest) -> list[Job]:
        if request.limit <= 0 or not request.types:
            return []
        return await self._run_atomic(ops.claim, request)

    async def rate_opening(self, job_type: str, limit: TypeRules, now: float) -> float | None:
        return await self._read(ops.rate_opening, job_type, limit, now)

    async def due(self, now: float, limit: int = 500) -> list[Job]:
        return await self._read(ops.due, now, limit)

    async def next_due(self) -> float | None:
        return await self._read(ops.next_due)

    def watch(self) -> Watcher:
        """Changes committed from now on, in commit order; ``aclose()`` it when done."""
        return self._feed.watch()

    # -- records -----------------------------------------------------------------------------

    async def put_record(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        await self._run(records.put_record, kind, record_id, doc)

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        return await self._read(records.get_record, kind, record_id)

    async def list_records(self, kind: str) -> list[dict[str, Any]]:
        return await self._read(records.list_records, kind)

    async def delete_record(self, kind: str, record_id: str) -> bool:
        return await self._run(records.delete_record, kind, record_id)

    async def swap_record(self, kind: str, record_id: str, doc: dict[str, Any], rev: int) -> bool:
        return await self._run(records.swap_record, kind, record_id, doc, rev)
