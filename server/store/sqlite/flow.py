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
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.sqlite.sql import decode

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


# -- groups within a type -----------------------------------------------------------------

_GROUP = "json_extract(doc, '$.group')"
#: ``sql.CLAIM`` leaving out full groups and the rows already taken (both JSON arrays)
GROUP_CLAIM = f"""
SELECT rowid, doc FROM jobs
WHERE status = 'ready' AND type = ?
  AND (target IS NULL OR target = ?)
  AND (exclude IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(exclude) WHERE value = ?))
  AND ({_GROUP} IS NULL OR {_GROUP} NOT IN (SELECT value FROM json_each(?)))
  AND rowid NOT IN (SELECT value FROM json_each(?))
ORDER BY priority, created, id
LIMIT ?
"""


def group_counts(
    conn: sqlite3.Connection, job_type: str, limit: TypeRules, now: float
) -> tuple[dict[str, int], dict[str, int]]:
    """Per group of the type: its running jobs, and its starts in its rate window."""
    running: dict[str, int] = {}
    if limit.group_concurrency is not None:
        running = dict(
            conn.execute(
                f"SELECT {_GROUP} AS g, count(*) FROM jobs WHERE status = 'running' AND type = ?"
                " AND g IS NOT NULL GROUP BY g",
                (job_type,),
            ).fetchall()
        )
    recent: dict[str, int] = {}
    since = rules.group_window_start(limit, now)
    if since is not None:
        low, high = rules.group_key(job_type, ""), rules.group_key(job_type, "\U0010ffff")
        conn.execute("DELETE FROM flow_starts WHERE type > ? AND type < ? AND at <= ?",
                     (low, high, since))  # fmt: skip
        for key, count in conn.execute(
            "SELECT type, count(*) FROM flow_starts WHERE type > ? AND type < ? GROUP BY type",
            (low, high),
        ):
            recent[key[len(low) :]] = count
    return running, recent


def grouped_candidates(
    conn: sqlite3.Connection, job_type: str, limit: TypeRules, worker: str, room: int, now: float
) -> list[tuple[int, Job]]:
    """Up to ``room`` ready jobs of the type that their groups admit (``rules.admit``), read a
    batch at a time: each batch leaves out the groups full so far, so a full group's backlog
    is read at most once."""
    running, recent = group_counts(conn, job_type, limit, now)
    full, taken = rules.full_groups(limit, running, recent), dict[str, int]()
    found: list[tuple[int, Job]] = []
    while len(found) < room:
        seen = [rowid for rowid, _ in found]
        args = (job_type, worker, worker, json_list(full), json_list(seen), room - len(found))
        rows = [(rowid, decode(text)) for rowid, text in conn.execute(GROUP_CLAIM, args)]
        by_id = {doc["id"]: rowid for rowid, doc in rows}
        docs = [doc for _, doc in rows]
        admitted, filled = rules.admit(limit, docs, room - len(found), running, recent, taken)
        found.extend((by_id[doc["id"]], doc) for doc in admitted)
        full |= filled
        if len(rows) < room - len(seen) or not (admitted or filled):
            break
    return found


def record_claimed(
    conn: sqlite3.Connection, found: dict[str, TypeRules], claimed: list[Job], now: float
) -> None:
    """Keep the starts of a claim that rate windows count: per type, and per group."""
    for job_type, limit in found.items():
        mine = [doc for doc in claimed if doc["type"] == job_type]
        if limit.rated and mine:
            record_starts(conn, job_type, len(mine), now)
        if limit.group_rated:
            for doc in mine:
                if doc.get("group") is not None:
                    record_starts(conn, rules.group_key(job_type, doc["group"]), 1, now)


def next_opening(
    conn: sqlite3.Connection, job_type: str, limit: TypeRules, now: float
) -> float | None:
    """The earlier of the type's and its groups' rate openings."""
    both = (opening(conn, job_type, limit, now), group_opening(conn, job_type, limit, now))
    return min((at for at in both if at is not None), default=None)


def group_opening(
    conn: sqlite3.Connection, job_type: str, limit: TypeRules, now: float
) -> float | None:
    """When some group's rate window may have room again (``rules.group_opening``)."""
    since = rules.group_window_start(limit, now)
    if since is None:
        return None
    low, high = rules.group_key(job_type, ""), rules.group_key(job_type, "\U0010ffff")
    (earliest,) = conn.execute(
        "SELECT min(at) FROM flow_starts WHERE type > ? AND type < ? AND at > ?",
        (low, high, since),
    ).fetchone()
    return rules.group_opening(limit, earliest)


def json_list(values: Iterable[object]) -> str:
    return msgspec.json.encode(list(values)).decode()
