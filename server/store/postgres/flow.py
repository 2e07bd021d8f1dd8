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
from livejobs.jobs.model import Job
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


# -- groups within a type (the same steps as the SQLite store's, under the type's lock) ------

#: ``sql.CLAIM`` leaving out full groups and the jobs already taken
GROUP_CLAIM = """
SELECT doc FROM jobs
WHERE status = 'ready' AND type = $1
  AND (target IS NULL OR target = $2)
  AND (exclude IS NULL OR NOT exclude ? $2)
  AND (doc->>'group' IS NULL OR doc->>'group' <> ALL($3::text[]))
  AND id <> ALL($4::text[])
ORDER BY priority, created, id
LIMIT $5
FOR UPDATE SKIP LOCKED
"""


def _prefix(job_type: str) -> tuple[str, str]:
    return rules.group_key(job_type, ""), rules.group_key(job_type, "\U0010ffff")


async def group_counts(
    conn: Any, job_type: str, limit: TypeRules, now: float
) -> tuple[dict[str, int], dict[str, int]]:
    """Per group of the type: its running jobs, and its starts in its rate window."""
    running: dict[str, int] = {}
    if limit.group_concurrency is not None:
        rows = await conn.fetch(
            "SELECT doc->>'group' AS g, count(*) AS n FROM jobs WHERE status = 'running'"
            " AND type = $1 AND doc->>'group' IS NOT NULL GROUP BY 1",
            job_type,
        )
        running = {r["g"]: int(r["n"]) for r in rows}
    recent: dict[str, int] = {}
    since = rules.group_window_start(limit, now)
    if since is not None:
        low, high = _prefix(job_type)
        await conn.execute(
            "DELETE FROM flow_starts WHERE type > $1 AND type < $2 AND at <= $3", low, high, since
        )
        rows = await conn.fetch(
            "SELECT type, count(*) AS n FROM flow_starts WHERE type > $1 AND type < $2"
            " GROUP BY type",
            low,
            high,
        )
        recent = {r["type"][len(low) :]: int(r["n"]) for r in rows}
    return running, recent


async def grouped_candidates(
    conn: Any, job_type: str, limit: TypeRules, worker: str, room: int, now: float
) -> list[Job]:
    """Up to ``room`` ready jobs of the type that their groups admit, a batch at a time."""
    running, recent = await group_counts(conn, job_type, limit, now)
    full, taken = rules.full_groups(limit, running, recent), dict[str, int]()
    found: list[Job] = []
    while len(found) < room:
        seen, wanted = [d["id"] for d in found], room - len(found)
        rows = await conn.fetch(GROUP_CLAIM, job_type, worker, sorted(full), seen, wanted)
        docs = [r["doc"] for r in rows]
        admitted, filled = rules.admit(limit, docs, wanted, running, recent, taken)
        found.extend(admitted)
        full |= filled
        if len(rows) < wanted or not (admitted or filled):
            break
    return found


async def record_claimed(
    conn: Any, found: dict[str, TypeRules], claimed: list[Job], now: float
) -> None:
    """Keep the starts of a claim that rate windows count: per type, and per group."""
    for job_type, limit in found.items():
        mine = [doc for doc in claimed if doc["type"] == job_type]
        keys = [job_type] * len(mine) if limit.rated else []
        if limit.group_rated:
            keys += [rules.group_key(job_type, d["group"]) for d in mine if d.get("group")]
        if keys:
            await conn.executemany(
                "INSERT INTO flow_starts (type, at) VALUES ($1, $2)", [(k, now) for k in keys]
            )


async def next_opening(conn: Any, job_type: str, limit: TypeRules, now: float) -> float | None:
    """The earlier of the type's and its groups' rate openings."""
    at = await opening(conn, job_type, limit, now)
    since = rules.group_window_start(limit, now)
    if since is not None:
        low, high = _prefix(job_type)
        earliest = await conn.fetchval(
            "SELECT min(at) FROM flow_starts WHERE type > $1 AND type < $2 AND at > $3",
            low,
            high,
            since,
        )
        group_at = rules.group_opening(limit, earliest)
        at = group_at if at is None or (group_at is not None and group_at < at) else at
    return at
