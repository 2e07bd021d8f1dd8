"""The PostgreSQL store's writes that take several statements: inserts (with keys and request
ids) and claims. Each runs inside the transaction ``PostgresStore._write`` opened, and notes
what it changed in ``changes`` (a ``Log``) for the log; the statements that write jobs in bulk
log their own changes, and those noted before them, in the same statement (``sql.*_LOGGED``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from livejobs.errors import Conflict, Unavailable
from livejobs.jobs import lifecycle
from livejobs.jobs.model import Job
from livejobs.store.base import Change, ClaimRequest, CreateRequest
from livejobs.store.postgres import feed, flow
from livejobs.store.postgres.sql import (
    CLAIM,
    INSERT,
    INSERT_LOGGED,
    LIVE_KEY,
    UPDATE_LOGGED,
    WORDS,
    row,
    texts,
    words_of,
)

# A request's answer, and the expired requests dropped in the same statement; its own row is
# left to ON CONFLICT (a statement's parts cannot both touch one row), expired or not.
_REMEMBER = """
WITH expired AS (DELETE FROM requests WHERE expires <= $5 AND NOT (owner = $1 AND id = $2))
INSERT INTO requests (owner, id, expires, answer) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (owner, id) DO UPDATE SET expires = excluded.expires, answer = excluded.answer
"""


class Log(list[Change]):
    """The changes a transaction made and has not logged yet, and how many it logged;
    ``written``: where the documents logged are remembered for this server's follower."""

    logged = 0

    def __init__(self, written: feed.Written | None = None) -> None:
        super().__init__()
        self.written = written

    def take(self) -> tuple[list[str], list[str], list[bytes | None]]:
        """These changes as ``feed.APPEND``'s parameters, for a statement that logs them."""
        args = feed.append_args(self, self.written)
        self.logged += len(self)
        self.clear()
        return args

    def note(self, n: int) -> None:
        """``n`` changes were logged by the statement that made them."""
        self.logged += n


async def insert(conn: Any, changes: Log, docs: Sequence[Job]) -> list[Job]:
    """Insert each document, or answer with the unfinished job of its owner holding its key."""
    rows = [row(doc) for doc in docs]
    if all(values[LIVE_KEY] is None for values in rows):
        # no key that could be held already: every row goes in, logged, in one statement
        pending = changes.take()
        words = [words_of(doc) for doc in docs]
        found = await conn.fetch(INSERT_LOGGED, *texts(rows, changes.written), *pending, words)
        inserted = {r["id"] for r in found}
        if len(inserted) < len(rows):  # an id stored already, or twice in docs: rolled back
            raise Conflict(f"a job with id {_clashing(docs, inserted)!r} already exists")
        changes.note(len(rows))
        return list(docs)
    stored: list[Job] = []
    for doc, values in zip(docs, rows, strict=True):
        for _ in range(3):  # the holder may finish between the insert and the read
            try:
                inserted = await conn.fetchval(INSERT, *values)
            except asyncpg.UniqueViolationError:
                raise Conflict(f"a job with id {doc['id']!r} already exists") from None
            if inserted is not None:
                await conn.execute(WORDS, doc["id"], words_of(doc))
                stored.append(doc)
                changes.append(Change("insert", doc["id"], doc))
                break
            sql = "SELECT doc FROM jobs WHERE live_key = $1"
            held = await conn.fetchval(sql, values[LIVE_KEY])
            if held is not None:
                stored.append(held)
                break
        else:
            raise Unavailable(f"could not insert job {doc['id']}: its key kept changing hands")
    return stored


def _clashing(docs: Sequence[Job], inserted: set[str]) -> str:
    seen: set[str] = set()
    for doc in docs:
        if doc["id"] not in inserted or doc["id"] in seen:
            return str(doc["id"])
        seen.add(doc["id"])
    raise AssertionError("no clashing id")


async def remembered(
    conn: Any, changes: Log, docs: Sequence[Job], request: CreateRequest
) -> list[Job]:
    """``insert``, answered from memory for a request already seen; a lock on the request
    makes two attempts racing on two servers take turns."""
    name = json.dumps([request.owner, request.id])
    answer = await conn.fetchval(
        "SELECT livejobs_request_answer($1, $2, $3, $4)",
        name,
        request.owner,
        request.id,
        request.at,
    )
    if answer is not None:
        request.replayed = True
        rows = await conn.fetch("SELECT id, doc FROM jobs WHERE id = ANY($1::text[])", answer)
        by_id = {r["id"]: r["doc"] for r in rows}
        return [by_id[i] for i in answer if i in by_id]
    stored = await insert(conn, changes, docs)
    ids = [doc["id"] for doc in stored]
    await conn.execute(_REMEMBER, request.owner, request.id, request.expires, ids, request.at)
    return stored


async def claim(conn: Any, changes: Log, request: ClaimRequest) -> list[Job]:
    """The best ``limit`` ready candidates across types, locked, then moved to running."""
    types = list(dict.fromkeys(request.types))
    rules = await flow.rules_of(conn, request.rules, types) if request.rules else {}
    candidates: list[Job] = []
    for job_type in types:
        limit = rules.get(job_type)
        room = await flow.room(conn, job_type, limit, request.now, request.limit)
        if room <= 0:
            continue
        worker = request.worker_id
        if limit is not None and limit.grouped:
            candidates += await flow.grouped_candidates(
                conn, job_type, limit, worker, room, request.now
            )
            continue
        rows = await conn.fetch(CLAIM, job_type, worker, room)
        candidates.extend(r["doc"] for r in rows)
    if len(types) > 1:
        candidates.sort(key=lifecycle.claim_order)
    claimed = [request.claim(doc) for doc in candidates[: request.limit]]
    if claimed:  # the rows are locked: each is still at the version read
        pairs = list(zip(claimed, candidates, strict=False))
        rows = [(*row(new), old["version"]) for new, old in pairs]
        words = [words_of(new, old) for new, old in pairs]
        await conn.execute(UPDATE_LOGGED, *texts(rows, changes.written), *changes.take(), words)
        changes.note(len(claimed))
    await flow.record_claimed(conn, rules, claimed, request.now)
    return claimed


class Replace:
    """A write of ``doc`` over the stored version ``expected``; the replaces next to each other
    in a batch go in as one statement (``replace_all``): a worker's completions arrive so."""

    def __init__(self, doc: Job, expected: int, previous: Job | None = None) -> None:
        self.doc = doc
        self.expected = expected
        #: the job as stored at ``expected``, when the caller had it (its words are compared)
        self.previous = previous

    async def __call__(self, conn: Any, changes: Log) -> bool:
        message = (
            f"cannot update job {self.doc['id']}: its key {self.doc.get('key')!r} is held "
            "by another unfinished job"
        )
        return (await replace_all(conn, changes, [self], message))[0]


async def replace_all(
    conn: Any,
    changes: Log,
    replaces: list[Replace],
    clash: str = "an update clashes with the key of another unfinished job",
) -> list[bool]:
    """Each of ``replaces`` (of distinct jobs) in one UPDATE: whether each was applied."""
    values = texts([(*row(r.doc), r.expected) for r in replaces], changes.written)
    words = [words_of(r.doc, r.previous) for r in replaces]
    try:
        found = await conn.fetch(UPDATE_LOGGED, *values, *changes.take(), words)
        updated = {r["id"] for r in found}
    except asyncpg.UniqueViolationError:
        raise Conflict(clash) from None
    changes.note(len(updated))
    return [r.doc["id"] in updated for r in replaces]


def one_statement(works: Sequence[Any]) -> bool:
    """Whether ``run_all`` makes ``works`` one statement: replaces of distinct jobs alone."""
    ids = {w.doc["id"] for w in works if isinstance(w, Replace)}
    return len(ids) == len(works)


async def run_all(conn: Any, changes: Log, works: Sequence[Any]) -> list[Any]:
    """A batch's writes in order, each run of replaces of distinct jobs as one statement."""
    results: list[Any] = []
    run: list[Replace] = []

    async def flush() -> None:
        if len(run) > 1:
            results.extend(await replace_all(conn, changes, run))
        elif run:
            results.append(await run[0](conn, changes))
        run.clear()

    for work in works:
        if isinstance(work, Replace) and all(r.doc["id"] != work.doc["id"] for r in run):
            run.append(work)
            continue
        await flush()
        if isinstance(work, Replace):
            run.append(work)
        else:
            results.append(await work(conn, changes))
    await flush()
    return results
