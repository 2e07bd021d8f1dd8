"""The SQLite store's schema, as numbered migrations; the version is ``PRAGMA user_version``.

``migrate`` runs at every open, in one write transaction (``BEGIN IMMEDIATE``): two servers
opening the same file at once take turns, and the second finds the work done. A step, once
released, never changes: a new schema is a new step at the end. Release 0.1.0 recorded no
version; its schema is step 1's, which creates only what is missing, so a 0.1.0 file is simply
stamped (and its ad-hoc additions of later 0.1 builds made).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from livejobs.store.migrations import Migration, newest, plan
from livejobs.store.sqlite import counts, flow, peers, rollups, search
from livejobs.store.sqlite.sql import decode, live_key

JOBS_0_1_0 = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    type TEXT,
    status TEXT,
    priority INT,
    created REAL,
    updated REAL,
    after REAL,
    due REAL,
    owner TEXT,
    live_key TEXT UNIQUE,
    version INT,
    target TEXT,
    exclude TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (status, type, priority, created, id);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (due, id) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
"""

REQUESTS = """
CREATE TABLE IF NOT EXISTS requests (
    owner TEXT NOT NULL,
    id TEXT NOT NULL,
    expires REAL NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (owner, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS requests_expires ON requests (expires);
"""


WINDOWS = """
CREATE INDEX IF NOT EXISTS jobs_window ON jobs (created DESC, id);
CREATE INDEX IF NOT EXISTS jobs_window_status ON jobs (status, created DESC, id);
CREATE INDEX IF NOT EXISTS jobs_window_type ON jobs (type, created DESC, id);
"""
"""The live windows' default order (newest first, ``ORDER BY created DESC, id``), filtered by
nothing, a status or a type, read from an index instead of sorting every matching job."""


WINDOWS_APPENDING = """
DROP INDEX IF EXISTS jobs_window;
DROP INDEX IF EXISTS jobs_window_status;
DROP INDEX IF EXISTS jobs_window_type;
CREATE INDEX jobs_window ON jobs (created, id DESC);
CREATE INDEX jobs_window_status ON jobs (status, created, id DESC);
CREATE INDEX jobs_window_type ON jobs (type, created, id DESC);
"""
"""The same order read backwards: a new job (the latest ``created``) goes at the right edge,
where SQLite appends to the last page, instead of the left edge of a ``created DESC`` index,
which rewrites more pages per insert (bench/README.md, "December 7, fifth round")."""


def _script(conn: sqlite3.Connection, script: str) -> None:
    """``executescript`` without its implicit COMMIT: these run inside the migration's
    transaction (no statement here holds a semicolon of its own)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _schema_0_1_0(conn: sqlite3.Connection) -> None:
    _script(conn, JOBS_0_1_0 + flow.SCHEMA + peers.SCHEMA)
    columns = {name for _, name, *_ in conn.execute("PRAGMA table_info(jobs)")}
    if "target" not in columns:  # a file of the first 0.1 builds: worker affinity columns
        conn.execute("ALTER TABLE jobs ADD COLUMN target TEXT")
        conn.execute("ALTER TABLE jobs ADD COLUMN exclude TEXT")
        conn.execute(
            "UPDATE jobs SET target = json_extract(doc, '$.target'), exclude = CASE WHEN "
            "json_array_length(doc, '$.exclude') > 0 THEN json_extract(doc, '$.exclude') END "
            "WHERE json_extract(doc, '$.target') IS NOT NULL "
            "OR json_array_length(doc, '$.exclude') > 0"
        )
    counts.create(conn)


def _keys_per_owner(conn: sqlite3.Connection) -> None:
    """``live_key`` held the bare key, one job per key across all owners; it becomes the key
    scoped to its owner (recomputed from the documents, so running twice changes nothing)."""
    held = conn.execute("SELECT rowid, owner, doc FROM jobs WHERE live_key IS NOT NULL").fetchall()
    conn.executemany(
        "UPDATE jobs SET live_key = ? WHERE rowid = ?",
        [(live_key(owner, decode(doc).get("key")), rowid) for rowid, owner, doc in held],
    )


def _requests(conn: sqlite3.Connection) -> None:
    _script(conn, REQUESTS)


def _lifo_rank(conn: sqlite3.Connection) -> None:
    """The claim orders by ``rank`` (``lifecycle.claim_rank``), recomputed from the documents
    (so running twice changes nothing)."""
    columns = {name for _, name, *_ in conn.execute("PRAGMA table_info(jobs)")}
    if "rank" not in columns:
        conn.execute("ALTER TABLE jobs ADD COLUMN rank REAL")
    conn.execute(
        "UPDATE jobs SET rank = CASE WHEN json_extract(doc, '$.lifo') = 1 THEN -created "
        "ELSE created END"
    )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS jobs_claim_rank ON jobs (status, type, priority, rank, id)"
    )
    conn.execute("DROP INDEX IF EXISTS jobs_claim")


def _windows(conn: sqlite3.Connection) -> None:
    _script(conn, WINDOWS)
    search.create(conn)


def _appending_windows(conn: sqlite3.Connection) -> None:
    _script(conn, WINDOWS_APPENDING)


STEPS: list[tuple[Migration, Callable[[sqlite3.Connection], None]]] = [
    (Migration(1, "the 0.1.0 schema (jobs, records, counts, flow, peers)"), _schema_0_1_0),
    (Migration(2, "job keys unique per owner, not across owners"), _keys_per_owner),
    (Migration(3, "remembered create requests (request_id)"), _requests),
    (Migration(4, "lifo: the claim orders by rank (created, negated for a LIFO job)"), _lifo_rank),
    (Migration(5, "history rollups per type, minute and hour"), rollups.create),
    (Migration(6, "indexes for live windows (newest first) and search (FTS5)"), _windows),
    (Migration(7, "search: small batches leave their jobs to the index's next pass"), search.defer),
    (Migration(8, "window indexes in ascending order, read backwards"), _appending_windows),
]
MIGRATIONS = [migration for migration, _ in STEPS]
NEWEST = newest(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, where: str) -> list[Migration]:
    """Apply the pending migrations in one write transaction; return them. Refuses (and
    changes nothing in) a file of a newer livejobs."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        pending = plan(version(conn), MIGRATIONS, where)
        steps = dict((m.version, step) for m, step in STEPS)
        for migration in pending:
            steps[migration.version](conn)
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
        counts.tidy(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return pending


def pending(path: str) -> list[Migration]:
    """What ``migrate`` would apply to the file at ``path``, opened read-only (a file that
    does not exist yet needs them all)."""
    if path == ":memory:" or not Path(path).exists():
        return list(MIGRATIONS)
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return plan(version(conn), MIGRATIONS, f"the SQLite database {path!r}")
    finally:
        conn.close()
