"""The SQLite store's operations and batch runner: plain functions over one connection.

Everything here runs on the store's single thread, inside the batch transaction opened by
``run_batch``. An operation returns its result and appends what it changed to ``changes`` as
``(op, id, doc)``; the async shell publishes those only once the batch has committed. The
document is the very dict the caller handed in or gets back (no copy: decoding a copy per
change cost ~20% of throughput), so stored documents are treated as immutable everywhere.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Literal

from livejobs.errors import Conflict, Unavailable
from livejobs.jobs import lifecycle
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import ClaimRequest, Filter, Sort
from livejobs.store.sqlite import counts, flow, search
from livejobs.store.sqlite.counts import Group
from livejobs.store.sqlite.sql import (
    CLAIM,
    GROUP_COLUMNS,
    INSERT,
    LIVE_KEY,
    STORED,
    columns,
    decode,
    encode,
    order_by,
    row,
    update,
    update_if_version,
    where,
)

ChangeOp = Literal["insert", "update", "delete", "record"]
Operation = Callable[..., Any]


class Changes(list[tuple[ChangeOp, str, Job | None]]):
    """What a batch changed, as ``(op, id, doc)`` in order, and how its updates moved jobs
    between counted groups (``counts.moved`` writes those just before the commit).
    ``before``: for a job updated from a document the writer held, that document as it was
    stored before the batch (the search index compares texts in memory instead of reading
    what it holds)."""

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[Group | None, Group | None]] = []
        self.before: dict[str, Job] = {}
        #: how many jobs the batch left to the search index's next pass (``search.flush``)
        self.search_deferred = 0


class BatchFailed(Exception):
    """The batch's transaction is gone (commit failed, or SQLite rolled it back)."""


# Primary result codes after which SQLite asks for a ROLLBACK of the whole transaction (the
# disk, memory or file is in trouble): BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL,
# CANTOPEN, PROTOCOL, NOTADB.
_FATAL_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})


def _fatal(exc: Exception) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _FATAL_CODES


# -- batch runner ----------------------------------------------------------------------------


def run_batch(
    conn: sqlite3.Connection, batch: Sequence[tuple[Operation, tuple[Any, ...], bool]]
) -> tuple[list[tuple[bool, Any]], Changes]:
    """Run every ``(function, args, several)`` in one transaction and commit once.

    A failing operation fails alone: SQLite undoes a failed statement by itself, and an
    operation of ``several`` statements runs inside a savepoint that is rolled back. If the
    transaction itself is lost (the commit fails, or an I/O error made SQLite roll it back),
    nothing in the batch was saved: raise ``BatchFailed`` so that every caller is told so.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise BatchFailed(str(exc)) from exc
    try:
        return _run_in_transaction(conn, batch)
    except BaseException:
        _rollback(conn)  # never leave a transaction open behind a failed batch
        raise


def checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the WAL back into the database without blocking writers or readers."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # the next one will catch up


def run_read(conn: sqlite3.Connection, function: Operation, args: tuple[Any, ...]) -> Any:
    """One read on the reader connection (autocommit: it sees the latest commit)."""
    try:
        return function(conn, Changes(), *args)
    except sqlite3.Error as exc:
        raise Unavailable(f"the SQLite database could not be read: {exc}") from exc


def _run_in_transaction(
    conn: sqlite3.Connection, batch: Sequence[tuple[Operation, tuple[Any, ...], bool]]
) -> tuple[list[tuple[bool, Any]], Changes]:
    outcomes: list[tuple[bool, Any]] = []
    changes = Changes()
    moves = changes.moves
    for function, args, several in batch:
        mark, moves_mark = len(changes), len(moves)
        try:
            if several:
                conn.execute("SAVEPOINT op")
            result = function(conn, changes, *args)
            if several:
                conn.execute("RELEASE op")
        except Exception as exc:  # noqa: BLE001 - any failure belongs to this caller only
            del changes[mark:]
            del moves[moves_mark:]
            _undo(conn, several, exc)
            outcomes.append((False, _translate(exc)))
        else:
            outcomes.append((True, result))
    try:
        counts.moved(conn, moves)
        changes.search_deferred = search.index(conn, changes, changes.before)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise BatchFailed(str(exc)) from exc
    return outcomes, changes


def _undo(conn: sqlite3.Connection, several: bool, exc: Exception) -> None:
    if _fatal(exc) or not conn.in_transaction:
        _rollback(conn)
        raise BatchFailed(str(exc)) from exc
    if several:
        try:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        except sqlite3.Error as undo_exc:
            _rollback(conn)
            raise BatchFailed(str(undo_exc)) from exc


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is unusable now; the next BEGIN reports it


def _translate(exc: Exception) -> Exception:
    """A constraint the operation did not expect is still a conflict, not a crash."""
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(f"the write conflicts with a stored job: {exc}")
    return exc


# -- jobs ------------------------------------------------------------------------------------


def insert(conn: sqlite3.Connection, changes: Changes, docs: Sequence[Job]) -> list[Job]:
    rows = [row(doc) for doc in docs]
    if len(rows) > 1 and all(values[LIVE_KEY] is None for values in rows):
        # no key that could be held already: every row goes in, in one call
        conn.execute("SAVEPOINT bulk")
        try:
            conn.executemany(INSERT, rows)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO bulk")  # the loop below finds the id that clashed
        else:
            changes.extend(("insert", doc["id"], doc) for doc in docs)
            counts.added(conn, docs)
            return list(docs)
        finally:
            conn.execute("RELEASE bulk")
    stored: list[Job] = []
    inserted: list[Job] = []
    for doc, values in zip(docs, rows, strict=True):
        try:
            cursor = conn.execute(INSERT, values)
        except sqlite3.IntegrityError:
            raise Conflict(f"a job with id {doc['id']!r} already exists") from None
        if cursor.rowcount == 1:
            stored.append(doc)
            inserted.append(doc)
            changes.append(("insert", doc["id"], doc))
        else:  # the key is held by an unfinished job: that job is the answer
            held = conn.execute("SELECT doc FROM jobs WHERE live_key = ?", (values[LIVE_KEY],))
            stored.append(decode(held.fetchone()[0]))
    counts.added(conn, inserted)
    return stored


def get(conn: sqlite3.Connection, changes: Changes, job_id: str) -> Job | None:
    found = conn.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return decode(found[0]) if found else None


def get_many(conn: sqlite3.Connection, changes: Changes, job_ids: Sequence[str]) -> list[Job]:
    cursor = conn.execute(
        "SELECT id, doc FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
        (encode(list(job_ids)).decode(),),
    )
    by_id = dict(cursor.fetchall())
    return [decode(by_id[i]) for i in job_ids if i in by_id]


def find(
    conn: sqlite3.Connection,
    changes: Changes,
    filter: Filter,
    sort: Sort,
    limit: int | None,
    skip: int,
) -> list[Job]:
    params: list[Any] = []
    sql = f"SELECT doc FROM jobs WHERE {where(filter, params)} {order_by(sort)} LIMIT ? OFFSET ?"
    params += [-1 if limit is None else limit, max(skip, 0)]
    return [decode(text) for (text,) in conn.execute(sql, params)]


def count(conn: sqlite3.Connection, changes: Changes, filter: Filter) -> int:
    if (wanted := counts.equalities(filter)) is not None:
        return counts.count(conn, wanted)
    params: list[Any] = []
    sql = f"SELECT count(*) FROM jobs WHERE {where(filter, params)}"
    return int(conn.execute(sql, params).fetchone()[0])


def count_by(
    conn: sqlite3.Connection, changes: Changes, column: str, filter: Filter
) -> dict[str, int]:
    if (wanted := counts.equalities(filter)) is not None:
        return counts.count_by(conn, column, wanted)
    params: list[Any] = []
    sql = (
        f"SELECT {column}, count(*) FROM jobs WHERE {where(filter, params)} "
        f"AND typeof({column}) = 'text' GROUP BY {column}"
    )
    return {value: int(n) for value, n in conn.execute(sql, params)}


def replace(
    conn: sqlite3.Connection,
    changes: Changes,
    doc: Job,
    expected_version: int,
    previous: Job | None = None,
) -> bool:
    """``previous`` (the job at ``expected_version``) spares reading the row first: the row
    was written from that very document, so its columns are ``columns(previous)``."""
    try:
        if previous is not None:
            old = columns(previous)[1:]
            sql, params = update_if_version(expected_version, old, doc)
            if conn.execute(sql, params).rowcount != 1:
                return False
            _noted(changes, old, doc, previous)
            return True
        stored = conn.execute(STORED, (doc["id"], expected_version)).fetchone()
        if stored is None:
            return False
        _update(conn, changes, stored[0], stored[1:], doc)
    except sqlite3.IntegrityError:
        raise Conflict(
            f"cannot update job {doc['id']}: its key {doc.get('key')!r} is held by another "
            "unfinished job"
        ) from None
    return True


def _update(
    conn: sqlite3.Connection,
    changes: Changes,
    rowid: int,
    old: Sequence[Any],
    new: Job,
    previous: Job | None = None,
) -> None:
    """Write ``new`` over the row ``rowid`` whose columns are ``old`` (``sql.STORED``'s
    order, without the id); ``previous``: the stored document, if the caller read it."""
    sql, params = update(rowid, old, new)
    conn.execute(sql, params)
    _noted(changes, old, new, previous)


def _noted(changes: Changes, old: Sequence[Any], new: Job, previous: Job | None) -> None:
    """Note a written change, and its move between counted groups if it made one."""
    changes.append(("update", new["id"], new))
    if previous is not None:
        changes.before.setdefault(new["id"], previous)
    before = counts.group([old[i] for i in GROUP_COLUMNS])
    after = counts.group((new.get("type"), new.get("status"), new.get("owner")))
    if before != after:
        changes.moves.append((before, after))


def delete(conn: sqlite3.Connection, changes: Changes, job_id: str, expected_version: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM jobs WHERE id = ? AND version = ?", (job_id, expected_version)
    )
    if cursor.rowcount != 1:
        return False
    changes.append(("delete", job_id, None))
    return True


def claim(conn: sqlite3.Connection, changes: Changes, request: ClaimRequest) -> list[Job]:
    """Take the best ``limit`` candidates across types: each type's query walks the claim
    index in order, so only ``limit`` rows per type are read, then the few are merged."""
    candidates: list[tuple[int, Job]] = []
    types = list(dict.fromkeys(request.types))
    rules = flow.rules_of(conn, request.rules, types) if request.rules else {}
    for job_type in types:
        limit = rules.get(job_type)
        room = flow.room(conn, job_type, limit, request.now, request.limit)
        if room <= 0:
            continue
        worker = request.worker_id
        if limit is not None and limit.grouped:
            candidates += flow.grouped_candidates(conn, job_type, limit, worker, room, request.now)
            continue
        for rowid, text in conn.execute(CLAIM, (job_type, worker, worker, room)):
            candidates.append((rowid, decode(text)))
    if len(types) > 1:  # each type's candidates come in order already
        candidates.sort(key=lambda c: lifecycle.claim_order(c[1]))
    claimed: list[Job] = []
    for rowid, doc in candidates[: max(request.limit, 0)]:
        new = request.claim(doc)
        _update(conn, changes, rowid, columns(doc)[1:], new, doc)
        claimed.append(new)
    flow.record_claimed(conn, rules, claimed, request.now)
    return claimed


def rate_opening(
    conn: sqlite3.Connection, changes: Changes, job_type: str, limit: TypeRules, now: float
) -> float | None:
    return flow.next_opening(conn, job_type, limit, now)


def due(conn: sqlite3.Connection, changes: Changes, now: float, limit: int) -> list[Job]:
    cursor = conn.execute(
        "SELECT doc FROM jobs WHERE due <= ? ORDER BY due, id LIMIT ?", (now, limit)
    )
    return [decode(text) for (text,) in cursor]


def next_due(conn: sqlite3.Connection, changes: Changes) -> float | None:
    (earliest,) = conn.execute("SELECT min(due) FROM jobs WHERE due IS NOT NULL").fetchone()
    return None if earliest is None else float(earliest)


def ping(conn: sqlite3.Connection, changes: Changes) -> None:
    conn.execute("SELECT 1").fetchone()


def store_time(conn: sqlite3.Connection, changes: Changes) -> float:
    """SQLite's clock: the clock of the host holding the file, read by SQLite itself."""
    return float(conn.execute("SELECT (julianday('now') - 2440587.5) * 86400.0").fetchone()[0])
