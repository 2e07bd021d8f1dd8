"""Search (``livejobs.search``) on SQLite: an FTS5 table of each job's searchable text
(``livejobs.search.text``, the function the live matcher reads too), written in the writes'
own transactions from the documents the batch already holds (``index``, run with the count
table's moves just before the commit). FTS5 rows written by a trigger per job cost about four
times the insert itself; in one call per batch, from text made in Python, a fraction of it. An
update whose text is unchanged (a claim, a heartbeat, an audit line) leaves the index alone;
a deleted job's row goes with it (a trigger: the row id is gone by the time the batch ends).

FTS5 writes a segment of several pages per transaction however few rows it holds, a third of
a lone create's commit: a batch of at most ``DEFER_AT_MOST`` jobs to index notes their row
ids in ``jobs_search_pending`` instead (one small page), and ``flush`` indexes them all at
once, a moment later (the store's timer) or before any ``$search`` read (the store's own
check), whichever process asks: the pending rows are in the file, so a crash loses none."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from livejobs import search
from livejobs.store.sqlite.sql import decode

_ROWID = "SELECT rowid FROM jobs WHERE id = ?"
_PENDING = "INSERT OR IGNORE INTO jobs_search_pending (rowid) VALUES (?)"
#: a batch with more jobs to index than this indexes them itself (a segment per thousand
#: jobs is cheap); a smaller one leaves them to ``flush``
DEFER_AT_MOST = 32
_ADD = "INSERT INTO jobs_search (rowid, body) VALUES (?, ?)"
_HELD = (
    "SELECT j.rowid, s.body FROM jobs AS j LEFT JOIN jobs_search AS s ON s.rowid = j.rowid"
    " WHERE j.id = ?"
)

SCHEMA = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS jobs_search"
    " USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')",
    "DROP TRIGGER IF EXISTS jobs_search_insert",
    "DROP TRIGGER IF EXISTS jobs_search_update",
    "CREATE TRIGGER IF NOT EXISTS jobs_search_delete AFTER DELETE ON jobs BEGIN"
    " DELETE FROM jobs_search WHERE rowid = OLD.rowid; END",
]


DEFERRED = [
    "CREATE TABLE IF NOT EXISTS jobs_search_pending (rowid INTEGER PRIMARY KEY)",
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
) -> bool:
    """Index what a batch inserted and re-index what it updated, if its text changed; a job
    written several times in the batch counts once, as it ends. ``before``: documents as
    stored before the batch (what the index holds for them): their text is compared in
    memory, without reading the index. True when it left jobs to ``flush``."""
    before = before or {}
    latest: dict[str, tuple[bool, Any]] = {}
    for op, job_id, doc in changes:
        if op == "insert":
            latest[job_id] = (True, doc)
        elif op == "update":
            latest[job_id] = (latest.get(job_id, (False, None))[0], doc)
        elif op == "delete":
            latest.pop(job_id, None)  # its trigger removed the row it had
    if not latest:
        return False
    if len(latest) <= DEFER_AT_MOST:
        return _defer(conn, latest, before)
    added: list[tuple[int, str]] = []
    for job_id, (inserted, doc) in latest.items():
        if inserted:  # the row id looked up, then one VALUES insert for the batch: an
            # INSERT ... SELECT into FTS5 costs several times as much per row
            added.append((conn.execute(_ROWID, (job_id,)).fetchone()[0], search.text(doc)))
            continue
        earlier = before.get(job_id)
        if earlier is not None and search.same_text(earlier, doc):
            continue  # a claim, a heartbeat, an audit line: the index already holds it
        body = search.text(doc)
        held = conn.execute(_HELD, (job_id,)).fetchone()
        if held is not None and held[1] != body:
            conn.execute("DELETE FROM jobs_search WHERE rowid = ?", (held[0],))
            conn.execute(_ADD, (held[0], body))
    if added:
        conn.executemany(_ADD, added)
    return False


def _defer(
    conn: sqlite3.Connection, latest: dict[str, tuple[bool, Any]], before: Mapping[str, Any]
) -> bool:
    deferred = False
    for job_id, (inserted, doc) in latest.items():
        earlier = before.get(job_id)
        if not inserted and earlier is not None and search.same_text(earlier, doc):
            continue
        conn.execute(_PENDING, (conn.execute(_ROWID, (job_id,)).fetchone()[0],))
        deferred = True
    return deferred


def flush(conn: sqlite3.Connection, changes: Any) -> int:
    """Index every job left pending, by any process; returns how many."""
    pending = conn.execute(
        "SELECT p.rowid, j.doc, s.body FROM jobs_search_pending AS p"
        " JOIN jobs AS j ON j.rowid = p.rowid LEFT JOIN jobs_search AS s ON s.rowid = p.rowid"
    ).fetchall()
    if not pending:
        return 0
    for rowid, doc, held in pending:
        body = search.text(decode(doc))
        if held != body:
            if held is not None:
                conn.execute("DELETE FROM jobs_search WHERE rowid = ?", (rowid,))
            conn.execute(_ADD, (rowid, body))
    conn.execute("DELETE FROM jobs_search_pending")
    return len(pending)
