"""The SQLite store's history rollups (``Store.add_rollups``): one row per (resolution,
start, type) whose ``counts`` (a JSON object) merge by adding, in SQL, within the upsert, so
that processes sharing the file never lose each other's counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from livejobs.store.base import Rollup
from livejobs.store.sqlite.batcher import Batcher
from livejobs.store.sqlite.ops import Changes
from livejobs.store.sqlite.sql import decode, encode

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollups (
    res TEXT NOT NULL,
    start REAL NOT NULL,
    type TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (res, start, type)
) WITHOUT ROWID
"""

ADD = """
INSERT INTO rollups (res, start, type, counts) VALUES (?, ?, ?, ?)
ON CONFLICT (res, start, type) DO UPDATE SET counts = (
    SELECT json_group_object(key, total) FROM (
        SELECT key, sum(value) AS total FROM (
            SELECT key, value FROM json_each(rollups.counts)
            UNION ALL SELECT key, value FROM json_each(excluded.counts))
        GROUP BY key))
"""


def create(conn: sqlite3.Connection) -> None:
    conn.execute(SCHEMA)


def add(conn: sqlite3.Connection, changes: Changes, rows: Sequence[Rollup]) -> None:
    conn.executemany(
        ADD, [(r.resolution, r.start, r.type, encode(r.counts).decode()) for r in rows]
    )


def read(
    conn: sqlite3.Connection,
    changes: Changes,
    resolution: str,
    since: float,
    types: Sequence[str] | None,
) -> list[Rollup]:
    sql = "SELECT start, type, counts FROM rollups WHERE res = ? AND start >= ?"
    args: list[object] = [resolution, since]
    if types is not None:
        sql += " AND type IN (SELECT value FROM json_each(?))"
        args.append(encode(list(types)).decode())
    cursor = conn.execute(sql + " ORDER BY start, type", args)
    return [Rollup(resolution, start, kind, decode(counts)) for start, kind, counts in cursor]


def prune(conn: sqlite3.Connection, changes: Changes, resolution: str, before: float) -> int:
    cursor = conn.execute("DELETE FROM rollups WHERE res = ? AND start < ?", (resolution, before))
    return cursor.rowcount


class SQLiteRollups(Batcher):
    """``SQLiteStore``'s history methods, on its queue."""

    async def add_rollups(self, rows: Sequence[Rollup]) -> None:
        if rows:
            await self._run_atomic(add, list(rows))

    async def rollups(
        self, resolution: str, since: float, types: Sequence[str] | None = None
    ) -> list[Rollup]:
        return await self._read(read, resolution, since, types)

    async def prune_rollups(self, resolution: str, before: float) -> int:
        return await self._run(prune, resolution, before)
