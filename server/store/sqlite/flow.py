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

from livejobs.jobs import rules
from livejobs.jobs.rules import TypeRules

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


def room(
    conn: sqlite3.Connection, job_type: str, limit: TypeRules | None, now: float, wanted: int
) -> int:
    """How many jobs of ``job_type`` may start now, at most ``wanted`` (``rules.room``)."""
    if limit is None or not rules.must_count(limit):
        return rules.room(limit, wanted)
    running = recent = 0
    if limit.concurrency is not None:
        (running,) = conn.execute(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND type = ?", (job_type,)
        ).fetchone()
    since = rules.window_start(limit, now)
    if since is not None:
        conn.execute("DELETE FROM flow_starts WHERE type = ? AND at <= ?", (job_type, since))
        (recent,) = conn.execute(
            "SELECT count(*) FROM flow_starts WHERE type = ?", (job_type,)
        ).fetchone()
    return rules.room(limit, wanted, running=running, recent=recent)


def record_starts(conn: sqlite3.Connection, job_type: str, count: int, now: float) -> None:
    conn.executemany("INSERT INTO flow_starts (type, at) VALUES (?, ?)", [(job_type, now)] * count)


def opening(conn: sqlite3.Connection, job_type: str, limit: TypeRules, now: float) -> float | None:
    """When the type's full rate window has room again (``rules.opening``)."""
    since, nth = rules.window_start(limit, now), rules.deciding_start(limit)
    if since is None or nth is None:
        return None
    found = conn.execute(
        "SELECT at FROM flow_starts WHERE type = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
        (job_type, since, nth),
    ).fetchone()
    return rules.opening(limit, None if found is None else float(found[0]))
