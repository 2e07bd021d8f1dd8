"""What reads finished jobs by type and status (the trimming of ``types.set_keep``,
``jobs.clean``) walks the index of finished jobs on PostgreSQL, never the whole table: the
filter's ``type`` and ``status`` also test their columns, the status as a literal that the
partial index's predicate matches."""

from __future__ import annotations

from typing import Any

from livejobs.jobs.model import FINISHED
from tests.integration.test_window_plans import seed
from tests.pg import Cluster

FILTERS: list[dict[str, Any]] = [
    {"type": "t3", "status": "completed"},  # a keep rule's pass
    {"$and": [{"type": "t3"}, {"status": {"$in": sorted(FINISHED)}}]},  # jobs.clean by type
]


async def test_postgres_finished_jobs_by_type_read_an_index(pg_cluster: Cluster) -> None:
    from livejobs.store.postgres import PostgresStore
    from livejobs.store.postgres.sql import Params, order_by, where

    url = pg_cluster.create_database()
    store = PostgresStore(url, pool_size=2)
    await store.open()
    try:
        await seed(store, 5000)
        async with store._pool.acquire() as conn:
            await conn.execute("ANALYZE jobs")
            for filter in FILTERS:
                params = Params()
                sql = f"SELECT doc FROM jobs WHERE {where(filter, params)} "
                sql += order_by([("finished", -1)])
                explain = await conn.fetch(f"EXPLAIN {sql} LIMIT 1000 OFFSET 10", *params)
                plan = "\n".join(row[0] for row in explain)
                assert "jobs_finished" in plan, plan
                assert "Seq Scan" not in plan, plan
        kept = await store.find(FILTERS[0], [("finished", -1)], limit=1000)
        assert kept and all(d["type"] == "t3" and d["status"] == "completed" for d in kept)
    finally:
        await store.close()
