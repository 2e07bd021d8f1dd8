"""Deleting many finished jobs in one transaction (``jobs.clean``), kept apart from ``ops``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from livejobs.store.sqlite.ops import Changes

DELETE = "DELETE FROM jobs WHERE id = ? AND version = ?"


def delete_many(conn: sqlite3.Connection, changes: Changes, jobs: Sequence[tuple[str, int]]) -> int:
    """Each job still at its expected version is deleted and noted as a ``delete`` change."""
    deleted = 0
    for job_id, version in jobs:
        if conn.execute(DELETE, (job_id, version)).rowcount == 1:
            changes.append(("delete", job_id, None))
            deleted += 1
    return deleted
