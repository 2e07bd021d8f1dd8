"""The live windows' default order is read from an index on every SQL store: the query plan of
``find`` newest first (filtered by nothing, a status or a type) names an index and sorts
nothing in a temporary b-tree (SQLite), or walks an index instead of a sequential scan
(PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from livejobs.jobs.model import blank_job
from livejobs.store.base import Store
from tests.pg import Cluster

NEWEST = [("created", -1)]
FILTERS: list[dict[str, Any]] = [{}, {"status": "failed"}, {"type": "t3"}]


async def seed(store: Store, n: int) -> None:
    docs = []
    for i in range(n):
        doc = blank_job(f"t{i % 7}", {"i": i}, owner="u", now=1000.0 + i)
        doc["status"] = ("ready", "failed", "completed")[i % 3]
        docs.append(doc)
    await store.insert(docs)


async def test_sqlite_window_plans(tmp_path: Path) -> None:
    from livejobs.store.sqlite import SQLiteStore
    from livejobs.store.sqlite.sql import order_by, where

    store = SQLiteStore(str(tmp_path / "jobs.db"))
    await store.open()
    try:
        await seed(store, 2000)
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "jobs.db")
    try:
        for filter in FILTERS:
            params: list[Any] = []
            sql = f"SELECT doc FROM jobs WHERE {where(filter, params)} {order_by(NEWEST)} LIMIT 51"
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            assert any("USING INDEX jobs_window" in step for step in plan), (filter, plan)
            assert not any("TEMP B-TREE" in step for step in plan), (filter, plan)
    finally:
        conn.close()


async def test_sqlite_window_indexes_take_new_jobs_at_their_end(tmp_path: Path) -> None:
    """Each window index holds ``created`` ascending (read backwards for newest first), so a
    new job is appended to its last page rather than written at its start: fewer pages a
    commit (bench/README.md, "December 7, fifth round")."""
    from livejobs.store.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "jobs.db"))
    await store.open()
    await store.close()
    conn = sqlite3.connect(tmp_path / "jobs.db")
    try:
        for index in ("jobs_window", "jobs_window_status", "jobs_window_type"):
            descending = {
                name: bool(desc)
                for _, _, name, desc, *_ in conn.execute(f"PRAGMA index_xinfo({index})")
                if name is not None
            }
            assert descending.get("created") is False and descending.get("id") is True, (
                index,
                descending,
            )
    finally:
        conn.close()


async def test_postgres_window_plan(pg_cluster: Cluster) -> None:
    from livejobs.store.postgres import PostgresStore
    from livejobs.store.postgres.sql import Params, order_by, where

    url = pg_cluster.create_database()
    store = PostgresStore(url, pool_size=2)
    await store.open()
    try:
        await seed(store, 5000)
        async with store._pool.acquire() as conn:  # its codecs: jsonb parameters as values
            await conn.execute("ANALYZE jobs")
            for filter in FILTERS:
                params = Params()
                sql = f"SELECT doc FROM jobs WHERE {where(filter, params)} {order_by(NEWEST)}"
                explain = await conn.fetch(f"EXPLAIN {sql} LIMIT 51", *params)
                plan = "\n".join(row[0] for row in explain)
                assert "Index Scan using jobs_window" in plan, plan
                assert "Seq Scan" not in plan and "Sort" not in plan, plan
    finally:
        await store.close()
