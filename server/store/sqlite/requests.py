"""Creates safe to retry on SQLite: the answer of a ``request_id`` kept beside the insert.

The answer (the ids returned) is written in the insert's own savepoint, so a create is either
stored with its answer or not at all. Expired answers are deleted by the next remembered create
(an index range scan that finds nothing most of the time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from livejobs.jobs.model import Job
from livejobs.store.base import CreateRequest
from livejobs.store.sqlite import ops
from livejobs.store.sqlite.sql import decode, encode

RECALL = "SELECT answer FROM requests WHERE owner = ? AND id = ? AND expires > ?"
AMEND = "UPDATE requests SET answer = ? WHERE owner = ? AND id = ?"
REMEMBER = "INSERT OR REPLACE INTO requests (owner, id, expires, answer) VALUES (?, ?, ?, ?)"


def insert(
    conn: sqlite3.Connection,
    changes: ops.Changes,
    docs: Sequence[Job],
    request: CreateRequest | None,
) -> list[Job]:
    """``ops.insert``, answered from memory for a request already seen."""
    if request is None:
        return ops.insert(conn, changes, docs)
    found = conn.execute(RECALL, (request.owner, request.id, request.at)).fetchone()
    if found is not None:
        request.replayed = True
        return ops.get_many(conn, changes, decode(found[0]))
    stored = ops.insert(conn, changes, docs)
    conn.execute("DELETE FROM requests WHERE expires <= ?", (request.at,))
    answer = encode([doc["id"] for doc in stored]).decode()
    conn.execute(REMEMBER, (request.owner, request.id, request.expires, answer))
    return stored


def amend(
    conn: sqlite3.Connection, changes: ops.Changes, request: CreateRequest, job_ids: list[str]
) -> None:
    answer = encode(job_ids).decode()
    conn.execute(AMEND, (answer, request.owner, request.id))
