"""Search (``livejobs.search``) on SQLite: an FTS5 table of each job's searchable text
(``livejobs.search.text``, the function the live matcher reads too), written in the writes'
own transactions from the documents the batch already holds (``index``, run with the count
table's moves just before the commit). FTS5 rows written by a trigger per job cost about four
times the insert itself; in one call per batch, from text made in Python, a fraction of it. An
update whose text is unchanged (a claim, a heartbeat, an audit line) leaves the index alone;
a deleted job's row goes with it (a trigger: the row id is gone by the time the batch ends).

The index is written after the batch, not in it: FTS5 writes a segment of several pages per
transaction however few rows it holds (a third of a lone create's commit), and indexing a
thousand jobs costs as much as inserting them. A batch notes the row ids and texts to
index in ``jobs_search_pending`` (a small page), and ``flush`` indexes them all at once:
right after a large batch, a moment after a small one (the store's timers), and before any
``$search`` read (the store's own check), whichever process asks: the rows are in the file,
so a crash loses none."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from livejobs import search
from livejobs.store.sqlite.sql import decode

_ROWID = "SELECT rowid FROM jobs WHERE id = ?"
_PENDING = "INSERT OR REPLACE INTO jobs_search_pending (rowid, body, fresh) VALUES (?, ?, ?)"
_ADD = "INSERT INTO jobs_search (rowid, body) VALUES (?, ?)"


SCHEMA = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS jobs_search"
    " USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')",
    "DROP TRIGGER IF EXISTS jobs_search_insert",
    "DROP TRIGGER IF EXISTS jobs_search_update",
    "CREATE TRIGGER IF NOT EXISTS jobs_search_delete AFTER DELETE ON jobs BEGIN"
    " DELETE FROM jobs_search WHERE rowid = OLD.rowid; END",
]


DEFERRED = [
    "CREATE TABLE IF NOT EXISTS jobs_search_pending"
    " (rowid INTEGER PRIMARY KEY, body TEXT NOT NULL, fresh INT NOT NULL)",
    "DROP TRIGGER IF EXISTS jobs_search_delete",
    "CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs BEGIN"
    " DELETE FROM jobs_search WHERE rowid = OLD.rowid;"
    " DELETE FROM jobs_search_pending WHERE rowid = OLD.rowid; END",
]


def defer(conn: sqlite3.Connection) -> None:
    """Migration 7: the pending table, and the delete trigger that clears it too."""
    for statement in DEFERRED:
        conn.execute(statement)


def create(conn: sqlite3.Connection) -> None:
    """The table and its delete trigger, filled from the stored jobs (running it again
    changes nothing)."""
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute("DELETE FROM jobs_search")
    rows = conn.execute("SELECT rowid, doc FROM jobs").fetchall()
    conn.executemany(
        "INSERT INTO jobs_search (rowid, body) VALUES (?, ?)",
        [(rowid, search.text(decode(doc))) for rowid, doc in rows],
    )


def index(
    conn: sqlite3.Connection,
    changes: Iterable[tuple[str, str, Any]],
    before: Mapping[str, Any] | None = None,
) -> int:
    """Leave to ``flush`` what a batch inserted, and what it updated if its words changed; a
    job written several times in the batch counts once, as it ends. ``before``: documents as
    stored before the batch, compared in memory. Returns how many jobs were left."""
    latest: dict[str, tuple[bool, Any]] = {}
    for op, job_id, doc in changes:
        if op == "insert":
            latest[job_id] = (True, doc)
        elif op == "update":
            latest[job_id] = (latest.get(job_id, (False, None))[0], doc)
        elif op == "delete":
            latest.pop(job_id, None)  # its trigger removed its rows
    return _defer(conn, latest, before or {}) if latest else 0


def _defer(
    conn: sqlite3.Connection, latest: dict[str, tuple[bool, Any]], before: Mapping[str, Any]
) -> int:
    """The text is made now, from the document in hand (small: long values are left out), so
    that the pass reads no document back."""
    pending = []
    for job_id, (inserted, doc) in latest.items():
        earlier = before.get(job_id)
        if not inserted and earlier is not None and search.same_text(earlier, doc):
            continue  # a claim, a heartbeat, an audit line: the index already holds it
        rowid = conn.execute(_ROWID, (job_id,)).fetchone()[0]
        pending.append((rowid, search.text(doc), int(inserted)))
    conn.executemany(_PENDING, pending)
    return len(pending)


def flush(conn: sqlite3.Connection, changes: Any) -> int:
    """Index every job left pending, by any process; returns how many. A job indexed before
    (an update that changed its words) has its old row replaced."""
    pending = conn.execute("SELECT rowid, body, fresh FROM jobs_search_pending").fetchall()
    if not pending:
        return 0
    for rowid, _, fresh in pending:
        if not fresh:
            conn.execute("DELETE FROM jobs_search WHERE rowid = ?", (rowid,))
    # one VALUES insert: an INSERT ... SELECT into FTS5 costs several times more per row
    conn.executemany(_ADD, [(rowid, body) for rowid, body, _ in pending])
    conn.execute("DELETE FROM jobs_search_pending")
    return len(pending)
