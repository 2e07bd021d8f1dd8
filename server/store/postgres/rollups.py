"""The PostgreSQL store's history rollups (``Store.add_rollups``): one row per (resolution,
start, type) whose ``counts`` (JSONB) merge by adding inside the upsert, under the row's lock,
so concurrent servers never lose each other's counts. Rows go in key order, so that two
servers adding the same minutes never wait for each other in a cycle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livejobs.store.base import Rollup

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollups (
    res text COLLATE "C" NOT NULL,
    start float8 NOT NULL,
    type text COLLATE "C" NOT NULL,
    counts jsonb NOT NULL,
    PRIMARY KEY (res, start, type)
);
"""

ADD = """
INSERT INTO rollups AS r (res, start, type, counts)
SELECT * FROM unnest($1::text[], $2::float8[], $3::text[], $4::jsonb[])
ON CONFLICT (res, start, type) DO UPDATE SET counts = (
    SELECT jsonb_object_agg(key, total) FROM (
        SELECT key, sum(value::float8) AS total FROM (
            SELECT key, value FROM jsonb_each_text(r.counts)
            UNION ALL SELECT key, value FROM jsonb_each_text(excluded.counts)) e
        GROUP BY key) s)
"""
READ = "SELECT start, type, counts FROM rollups WHERE res = $1 AND start >= $2"
READ_TYPES = READ + " AND type = ANY($3::text[])"


class PostgresRollups:
    """``PostgresStore``'s history methods."""

    async def _read_once(self, method: str, sql: str, *args: Any) -> Any:
        raise NotImplementedError

    async def add_rollups(self, rows: Sequence[Rollup]) -> None:
        """Not retried on a lost connection: the add may have committed."""
        if not rows:
            return
        ordered = sorted(rows, key=lambda r: (r.resolution, r.start, r.type))
        columns = [list(column) for column in zip(*ordered, strict=True)]
        await self._read_once("execute", ADD, *columns)

    async def rollups(
        self, resolution: str, since: float, types: Sequence[str] | None = None
    ) -> list[Rollup]:
        if types is None:
            found = await self._read_once("fetch", READ + " ORDER BY 1, 2", resolution, since)
        else:
            sql = READ_TYPES + " ORDER BY 1, 2"
            found = await self._read_once("fetch", sql, resolution, since, list(types))
        return [Rollup(resolution, row[0], row[1], row[2]) for row in found]

    async def prune_rollups(self, resolution: str, before: float) -> int:
        sql = "DELETE FROM rollups WHERE res = $1 AND start < $2"
        status = await self._read_once("execute", sql, resolution, before)
        return int(str(status).rpartition(" ")[2] or 0)
