"""Job counts from ``job_counts`` (migration 2) instead of a scan of every job.

``jobs.counts`` (the dashboard, the CLI, ``/metrics``, a producer waiting for its batch) would
otherwise read every stored job's document: 14 ms per grouping at 20,000 jobs, and a producer
polling every 20 ms kept half a core of PostgreSQL busy. Triggers append one row per group a
statement moved (``+n``/``-n``), in the write's own transaction, so a count is a sum over a
small table that is never behind; ``compact`` folds the rows into one per group. The usual
filters (nothing, or equality on type, status and owner) are answered here; any other filter
still scans.
"""

from __future__ import annotations

from typing import Any

from livejobs.store.base import Filter

COLUMNS = ("type", "status", "owner")
COMPACT_LOCK = 0x6C6A_636E  # "ljcn": one server folds the rows at a time


def answerable(filter: Filter) -> bool:
    """Whether ``filter`` is only equality on type, status and owner."""
    return all(key in COLUMNS and isinstance(value, str) for key, value in filter.items())


def _where(filter: Filter) -> tuple[str, list[Any]]:
    terms = [f"{column} = ${i + 1}" for i, column in enumerate(filter)]
    return (" AND ".join(terms) or "TRUE"), list(filter.values())


def count_sql(filter: Filter) -> tuple[str, list[Any]]:
    """The SQL and arguments of the number of jobs matching ``filter``."""
    where, args = _where(filter)
    return f"SELECT coalesce(sum(n), 0) FROM job_counts WHERE {where}", args


def count_by_sql(field: str, filter: Filter) -> tuple[str, list[Any]]:
    """The SQL and arguments of ``(k, n)`` rows: jobs matching ``filter`` by ``field``."""
    where, args = _where(filter)
    sql = (
        f"SELECT {field} AS k, sum(n) AS n FROM job_counts WHERE {where} "
        f"GROUP BY {field} HAVING sum(n) <> 0"
    )
    return sql, args


async def compact(conn: Any) -> None:
    """One row per group with jobs; rows appended meanwhile stay as they are."""
    async with conn.transaction():
        if await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", COMPACT_LOCK):
            await conn.execute(
                "WITH gone AS (DELETE FROM job_counts RETURNING *) "
                "INSERT INTO job_counts SELECT type, status, owner, sum(n) FROM gone "
                "GROUP BY 1, 2, 3 HAVING sum(n) <> 0"
            )
