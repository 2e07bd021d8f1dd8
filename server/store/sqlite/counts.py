"""Job counts per (type, status, owner), kept up to date inside every write's own transaction.

``jobs.counts`` (the dashboard's and the CLI's totals, ``/metrics``, a producer waiting for its
batch) would otherwise scan every stored job: a million of them is a quarter of a second per
call. The usual filters — everything, a type, a status, an owner (a creator's own jobs) and
their conjunctions — are answered from this small table instead; any other filter still scans.
Deletes are counted by a trigger. Inserts (``added``) and updates (``moved``) are counted by the
store's batch: it adds up how the batch's writes moved jobs between groups and writes each
group once, just before the commit. A trigger per update cost a third of the write time of a
claim and a completion; a batch of ten of each moves two groups. Either way the count changes
in the write's own transaction, in every process sharing the file, so the table is never
behind.

Jobs always have text ``type``, ``status`` and ``owner`` (``livejobs.jobs.model``); a row that
somehow has not is left out of the table, as ``count_by`` leaves it out of its groups.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence

from livejobs.jobs.model import Job
from livejobs.store.base import Filter

COLUMNS = ("type", "status", "owner")

_TEXT = "typeof({r}.type) = 'text' AND typeof({r}.status) = 'text' AND typeof({r}.owner) = 'text'"
_ADD_GROUP = (
    "INSERT INTO job_counts VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n"
)
Group = tuple[str, str, str]
"""A job's ``(type, status, owner)``."""

_TAKE = (
    "UPDATE job_counts SET n = n - 1 "
    "WHERE type = OLD.type AND status = OLD.status AND owner = OLD.owner;"
)
SCHEMA = [
    """CREATE TABLE job_counts (
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        owner TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (type, status, owner)
    ) WITHOUT ROWID""",
    f"CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN {_TAKE} END",
]
_FILL = (
    "INSERT INTO job_counts SELECT type, status, owner, count(*) FROM jobs AS j WHERE "
    + _TEXT.format(r="j")
    + " GROUP BY type, status, owner"
)


def create(conn: sqlite3.Connection) -> None:
    """Create the table and its trigger, counting the jobs already stored (a database from
    before them); run by a schema migration, inside its write transaction, so that no
    concurrent write is missed. A database from before ``moved`` loses its update trigger,
    which would count its updates twice."""
    conn.execute("DROP TRIGGER IF EXISTS job_counts_update")
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'job_counts'"
    ).fetchone()
    if not exists:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(_FILL)


def tidy(conn: sqlite3.Connection) -> None:
    """Forget the groups that emptied (in a write transaction, at open)."""
    conn.execute("DELETE FROM job_counts WHERE n = 0")


def added(conn: sqlite3.Connection, docs: Sequence[Job]) -> None:
    """Count jobs just inserted (in the insert's transaction)."""
    groups = Counter(
        (doc["type"], doc["status"], doc["owner"])
        for doc in docs
        if type(doc["type"]) is str and type(doc["status"]) is str and type(doc["owner"]) is str
    )
    conn.executemany(_ADD_GROUP, [(*group, n) for group, n in groups.items()])


def group(values: Sequence[object]) -> Group | None:
    """The counted group of a row's ``(type, status, owner)``; None if one is not text."""
    job_type, status, owner = values
    if type(job_type) is str and type(status) is str and type(owner) is str:
        return job_type, status, owner
    return None


def moved(conn: sqlite3.Connection, moves: Sequence[tuple[Group | None, Group | None]]) -> None:
    """Count the batch's updates: each move takes a job from one group to another."""
    delta: Counter[Group] = Counter()
    for before, after in moves:
        if before is not None:
            delta[before] -= 1
        if after is not None:
            delta[after] += 1
    conn.executemany(_ADD_GROUP, [(*g, n) for g, n in delta.items() if n])


def equalities(filter: Filter) -> dict[str, str] | None:
    """``filter`` as ``{column: value}`` if it only asks for equality on the counted columns
    (possibly under ``$and``), else None (it needs a scan)."""
    wanted: dict[str, str] = {}
    for key, cond in filter.items():
        if key == "$and":
            for sub in cond:
                inner = equalities(sub)
                if inner is None or any(wanted.get(k, v) != v for k, v in inner.items()):
                    return None
                wanted.update(inner)
        elif key in COLUMNS and type(cond) is str:
            if wanted.get(key, cond) != cond:
                return None
            wanted[key] = cond
        else:
            return None
    return wanted


def count_by(conn: sqlite3.Connection, column: str, wanted: dict[str, str]) -> dict[str, int]:
    """Counts grouped by ``column`` (one of ``COLUMNS``) among the jobs matching ``wanted``."""
    sql = (
        f"SELECT {column}, sum(n) FROM job_counts WHERE {_where(wanted)} "
        f"GROUP BY {column} HAVING sum(n) > 0"
    )
    return {value: int(n) for value, n in conn.execute(sql, list(wanted.values()))}


def count(conn: sqlite3.Connection, wanted: dict[str, str]) -> int:
    sql = f"SELECT sum(n) FROM job_counts WHERE {_where(wanted)}"
    (total,) = conn.execute(sql, list(wanted.values())).fetchone()
    return int(total or 0)


def _where(wanted: dict[str, str]) -> str:
    return " AND ".join(f"{column} = ?" for column in wanted) or "1"
