"""Job counts per (type, status, owner), kept up to date inside every write's own transaction.

``jobs.counts`` (the dashboard's and the CLI's totals, ``/metrics``, a producer waiting for its
batch) would otherwise scan every stored job: a million of them is a quarter of a second per
call. The usual filters — everything, a type, a status, an owner (a creator's own jobs) and
their conjunctions — are answered from this small table instead; any other filter still scans.
Updates and deletes are counted by triggers; inserts by ``added``, called by the store's insert
with the jobs it stored, one row per group (a batch of a thousand jobs of one type is one row
to update, not a thousand trigger runs). Either way the count changes in the write's own
transaction, in every process sharing the file, so the table is never behind.

Jobs always have text ``type``, ``status`` and ``owner`` (``server.jobs.model``); a row that
somehow has not is left out of the table, as ``count_by`` leaves it out of its groups.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence

from server.jobs.model import Job
from server.store.base import Filter

COLUMNS = ("type", "status", "owner")

_TEXT = "typeof({r}.type) = 'text' AND typeof({r}.status) = 'text' AND typeof({r}.owner) = 'text'"
_ADD = (
    "INSERT INTO job_counts SELECT NEW.type, NEW.status, NEW.owner, 1 WHERE "
    + _TEXT.format(r="NEW")
    + " ON CONFLICT DO UPDATE SET n = n + 1;"
)
_ADD_GROUP = (
    "INSERT INTO job_counts VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n"
)
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
    "CREATE TRIGGER job_counts_update AFTER UPDATE OF type, status, owner ON jobs "
    "WHEN OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status "
    f"OR OLD.owner IS NOT NEW.owner BEGIN {_TAKE} {_ADD} END",
]
_FILL = (
    "INSERT INTO job_counts SELECT type, status, owner, count(*) FROM jobs AS j WHERE "
    + _TEXT.format(r="j")
    + " GROUP BY type, status, owner"
)


def prepare(conn: sqlite3.Connection) -> None:
    """Create the table and its triggers once, counting the jobs already stored (a database
    from before them), in one write transaction so that no concurrent write is missed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'job_counts'"
        ).fetchone()
        if exists:
            conn.execute("DELETE FROM job_counts WHERE n = 0")  # groups that emptied
        else:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(_FILL)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def added(conn: sqlite3.Connection, docs: Sequence[Job]) -> None:
    """Count jobs just inserted (in the insert's transaction)."""
    groups = Counter(
        (doc["type"], doc["status"], doc["owner"])
        for doc in docs
        if type(doc["type"]) is str and type(doc["status"]) is str and type(doc["owner"]) is str
    )
    conn.executemany(_ADD_GROUP, [(*group, n) for group, n in groups.items()])


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
