"""Which PostgreSQL driver for the store: asyncpg or psycopg 3, by round trips on the loopback.

Run from the repository root: ``.venv/bin/python bench/pg_drivers.py`` (a throwaway cluster
from tests/pg.py; asyncpg and psycopg[binary] with psycopg_pool installed). Each driver gets
a fresh database and a pool of 4, and times, one call after the other, a single-row insert
followed by a select of that row, then a claim-like ``UPDATE ... RETURNING`` taking the best
ready row under ``FOR UPDATE SKIP LOCKED``; rounds alternate so that load hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import psycopg_pool  # noqa: E402

from tests.pg import Cluster  # noqa: E402

N = 2000
SETUP = (
    "CREATE TABLE jobs (id text PRIMARY KEY, status text, priority int, created float8, "
    "doc jsonb); CREATE INDEX ON jobs (priority, created) WHERE status = 'ready'"
)
INSERT = "INSERT INTO jobs VALUES ({0}, 'ready', 0, {1}, {2}::jsonb)"
SELECT = "SELECT doc FROM jobs WHERE id = {0}"
CLAIM = (
    "UPDATE jobs SET status = 'running' WHERE id = (SELECT id FROM jobs WHERE status = 'ready' "
    "ORDER BY priority, created LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING doc"
)


def _doc(i: int) -> str:
    return json.dumps({"id": f"j{i}", "data": {"x": i}})


async def with_asyncpg(url: str) -> tuple[float, float]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    await pool.execute(SETUP)
    insert, select = INSERT.format("$1", "$2", "$3"), SELECT.format("$1")
    start = time.perf_counter()
    for i in range(N):
        async with pool.acquire() as conn:
            await conn.execute(insert, f"j{i}", float(i), _doc(i))
            await conn.fetchval(select, f"j{i}")
    middle = time.perf_counter()
    for _ in range(N):
        await pool.fetchval(CLAIM)
    end = time.perf_counter()
    await pool.close()
    return (middle - start) / N * 1e6, (end - middle) / N * 1e6


async def with_psycopg(url: str) -> tuple[float, float]:
    kwargs: dict[str, Any] = {"autocommit": True}
    pool = psycopg_pool.AsyncConnectionPool(url, min_size=1, max_size=4, open=False, kwargs=kwargs)
    await pool.open()
    async with pool.connection() as conn:
        await conn.execute(SETUP)
    insert, select = INSERT.format("%s", "%s", "%s"), SELECT.format("%s")
    start = time.perf_counter()
    for i in range(N):
        async with pool.connection() as conn:
            await conn.execute(insert, (f"j{i}", float(i), _doc(i)), prepare=True)
            await (await conn.execute(select, (f"j{i}",), prepare=True)).fetchone()
    middle = time.perf_counter()
    for _ in range(N):
        async with pool.connection() as conn:
            await (await conn.execute(CLAIM, prepare=True)).fetchone()
    end = time.perf_counter()
    await pool.close()
    return (middle - start) / N * 1e6, (end - middle) / N * 1e6


async def main() -> None:
    cluster = Cluster()
    cluster.start()
    times: dict[str, list[tuple[float, float]]] = {"asyncpg": [], "psycopg": []}
    try:
        for _ in range(3):
            times["asyncpg"].append(await with_asyncpg(cluster.create_database()))
            times["psycopg"].append(await with_psycopg(cluster.create_database()))
    finally:
        cluster.stop()
    for name, rounds in times.items():
        insert = statistics.median(r[0] for r in rounds)
        claim = statistics.median(r[1] for r in rounds)
        print(f"{name}: insert+select {insert:.0f} µs, claim {claim:.0f} µs (medians of 3)")


if __name__ == "__main__":
    asyncio.run(main())
