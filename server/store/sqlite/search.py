"""Search (``livejobs.search``) on SQLite: an FTS5 table of each job's searchable text
(``livejobs.search.text``, the function the live matcher reads too), written in the writes'
own transactions from the documents the batch already holds (``index``, run with the count
table's moves just before the commit). FTS5 rows written by a trigger per job cost about four
times the insert itself; in one call per batch, from text made in Python, a fraction of it. An
update whose text is unchanged (a claim, a heartbeat, an audit line) leaves the index alone;
a deleted job's row goes with it (a trigger: the row id is gone by the time the batch ends)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from livejobs import search
from livejobs.store.sqlite.sql import decode

_ROWID = "SELECT rowid FROM jobs WHERE id = ?"
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
) -> None:
    """Index what a batch inserted and re-index what it updated, if its text changed; a job
    written several times in the batch counts once, as it ends. ``before``: documents as
    stored before the batch (what the index holds for them): their text is compared in
    memory, without reading the index."""
    before = before or {}
    latest: dict[str, tuple[bool, Any]] = {}
    for op, job_id, doc in changes:
        if op == "insert":
            latest[job_id] = (True, doc)
        elif op == "update":
            latest[job_id] = (latest.get(job_id, (False, None))[0], doc)
        elif op == "delete":
            latest.pop(job_id, None)  # its trigger removed the row it had
    added: list[tuple[int, str]] = []
    for job_id, (inserted, doc) in latest.items():
        body = search.text(doc)
        if inserted:  # the row id looked up, then one VALUES insert for the batch: an
            # INSERT ... SELECT into FTS5 costs several times as much per row
            added.append((conn.execute(_ROWID, (job_id,)).fetchone()[0], body))
            continue
        earlier = before.get(job_id)
        if earlier is not None and search.text(earlier) == body:
            continue  # a claim, a heartbeat, an audit line: the index already holds it
        held = conn.execute(_HELD, (job_id,)).fetchone()
        if held is not None and held[1] != body:
            conn.execute("DELETE FROM jobs_search WHERE rowid = ?", (held[0],))
            conn.execute(_ADD, (held[0], body))
    if added:
        conn.executemany(_ADD, added)
