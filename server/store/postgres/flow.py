"""Flow rules in the PostgreSQL store: read and counted inside the claim's own transaction.

Several connections claim at once, so a type's rules are read and its running jobs and
recent starts counted only after taking a transaction-level advisory lock for that type
(``lock_types``, in one order, so two claims never wait on each other in a circle). Under
READ COMMITTED each statement after the lock sees every claim committed before it, so two
servers never admit more than the rules allow between them. Starts are kept in
``flow_starts`` (a job's ``started`` is overwritten when it runs again) and pruned as windows
pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from livejobs.jobs import rules
from livejobs.jobs.rules import TypeRules


async def rules_of(conn: Any, kind: str, job_types: Iterable[str]) -> dict[str, TypeRules]:
    """The types' rules as stored now, locking each counted type for the rest of the claim;
    a type without a record is left out."""
    rows = await conn.fetch(
        "SELECT id, doc FROM records WHERE kind = $1 AND id = ANY($2::text[])",
        kind,
        list(job_types),
    )
    found = {r["id"]: TypeRules.from_record(r["doc"]) for r in rows}
    counted = sorted(t for t, found_rules in found.items() if found_rules.counted)
    if counted:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('livejobs-flow:' || t, 7)) "
            "FROM unnest($1::text[]) AS t ORDER BY t",
            counted,
        )
        # read again after the lock: a rule written meanwhile binds this claim
        rows = await conn.fetch(
            "SELECT id, doc FROM records WHERE kind = $1 AND id = ANY($2::text[])",
            kind,
            list(job_types),
        )
        found = {r["id"]: TypeRules.from_record(r["doc"]) for r in rows}
    return found


async def room(conn: Any, job_type: str, limit: TypeRules | None, now: float, wanted: int) -> int:
    """How many jobs of ``job_type`` may start now, at most ``wanted`` (``rules.room``)."""
    if limit is None or not rules.must_count(limit):
        return rules.room(limit, wanted)
    running = recent = 0
    if limit.concurrency is not None:
        running = await conn.fetchval(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND type = $1", job_type
        )
    since = rules.window_start(limit, now)
    if since is not None:
        await conn.execute("DELETE FROM flow_starts WHERE type = $1 AND at <= $2", job_type, since)
        recent = await conn.fetchval("SELECT count(*) FROM flow_starts WHERE type = $1", job_type)
    return rules.room(limit, wanted, running=int(running), recent=int(recent))


async def record_starts(conn: Any, job_type: str, count: int, now: float) -> None:
    await conn.executemany(
        "INSERT INTO flow_starts (type, at) VALUES ($1, $2)", [(job_type, now)] * count
    )


async def opening(conn: Any, job_type: str, limit: TypeRules, now: float) -> float | None:
    """When the type's full rate window has room again (``rules.opening``)."""
    since, nth = rules.window_start(limit, now), rules.deciding_start(limit)
    if since is None or nth is None:
        return None
    found = await conn.fetchval(
        "SELECT at FROM flow_starts WHERE type = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
        job_type,
        since,
        nth,
    )
    return rules.opening(limit, None if found is None else float(found))
