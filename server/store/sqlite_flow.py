"""Flow rules in the SQLite store: read and counted inside the claim's own write transaction.

SQLite lets one writer in at a time, whichever process it is, so reading a type's rules,
counting its running jobs and recent starts and then claiming, all in that transaction, can
never overshoot or start a paused type — however many servers share the file. Starts are kept
in their own small table (a job's ``started`` is overwritten when it runs again, so the jobs
cannot count them) and pruned as windows pass.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import msgspec

from livejobs.store.base import TypeRules

SCHEMA = """
CREATE TABLE IF NOT EXISTS flow_starts (type TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS flow_starts_type ON flow_starts (type, at);
"""


def rules_of(conn: sqlite3.Connection, kind: str, job_types: Iterable[str]) -> dict[str, TypeRules]:
    """The types' rules as stored now; a type without a record is left out."""
    found: dict[str, TypeRules] = {}
    for job_type in job_types:
        row = conn.execute(
            "SELECT doc FROM records WHERE kind = ? AND id = ?", (kind, job_type)
        ).fetchone()
        if row is not None:
            found[job_type] = TypeRules.from_record(msgspec.json.decode(row[0]))
    return found


def room(conn: sqlite3.Connection, job_type: str, limit: TypeRules, now: float, wanted: int) -> int:
    """How many jobs of ``job_type`` may start now, at most ``wanted``."""
    if limit.concurrency is not None:
        (running,) = conn.execute(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND type = ?", (job_type,)
        ).fetchone()
        wanted = min(wanted, limit.concurrency - running)
    if limit.rate_limit is not None and limit.rate_per is not None and wanted > 0:
        conn.execute(
            "DELETE FROM flow_starts WHERE type = ? AND at <= ?", (job_type, now - limit.rate_per)
        )
        (recent,) = conn.execute(
            "SELECT count(*) FROM flow_starts WHERE type = ?", (job_type,)
        ).fetchone()
        wanted = min(wanted, limit.rate_limit - recent)
    return max(wanted, 0)


def record_starts(conn: sqlite3.Connection, job_type: str, count: int, now: float) -> None:
    conn.executemany("INSERT INTO flow_starts (type, at) VALUES (?, ?)", [(job_type, now)] * count)


def opening(conn: sqlite3.Connection, job_type: str, limit: TypeRules, now: float) -> float | None:
    """The rate window has room again once the ``rate_limit``-th latest start leaves it."""
    if limit.rate_limit is None or limit.rate_per is None:
        return None
    found = conn.execute(
        "SELECT at FROM flow_starts WHERE type = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
        (job_type, now - limit.rate_per, max(limit.rate_limit - 1, 0)),
    ).fetchone()
    return None if found is None else float(found[0]) + limit.rate_per
