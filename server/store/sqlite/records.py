"""Operations on the ``records`` table (types' flow rules, users, tokens): the small keyed
documents beside the jobs, run in the writer's batches like the jobs' own."""

from __future__ import annotations

import sqlite3
from typing import Any

from livejobs.jobs.rules import rev_of
from livejobs.store.sqlite.ops import Changes
from livejobs.store.sqlite.sql import decode, encode


def put_record(
    conn: sqlite3.Connection, changes: Changes, kind: str, record_id: str, doc: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO records (kind, id, doc) VALUES (?, ?, ?) "
        "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc",
        (kind, record_id, encode(doc).decode()),
    )
    changes.append(("record", f"{kind}/{record_id}", None))


def get_record(
    conn: sqlite3.Connection, changes: Changes, kind: str, record_id: str
) -> dict[str, Any] | None:
    found = conn.execute(
        "SELECT doc FROM records WHERE kind = ? AND id = ?", (kind, record_id)
    ).fetchone()
    return decode(found[0]) if found else None


def list_records(conn: sqlite3.Connection, changes: Changes, kind: str) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT doc FROM records WHERE kind = ? ORDER BY id", (kind,))
    return [decode(text) for (text,) in cursor]


def delete_record(conn: sqlite3.Connection, changes: Changes, kind: str, record_id: str) -> bool:
    cursor = conn.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))
    if cursor.rowcount != 1:
        return False
    changes.append(("record", f"{kind}/{record_id}", None))
    return True


def swap_record(
    conn: sqlite3.Connection,
    changes: Changes,
    kind: str,
    record_id: str,
    doc: dict[str, Any],
    rev: int,
) -> bool:
    """``put_record`` if the stored record is at ``rev``: the batch's transaction holds the
    file's write lock from the read to the write, so no other process writes between."""
    if rev_of(get_record(conn, changes, kind, record_id)) != rev:
        return False
    put_record(conn, changes, kind, record_id, doc)
    return True
