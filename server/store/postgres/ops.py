"""The PostgreSQL store's writes that take several statements: inserts (with keys and request
ids) and claims. Each runs inside the transaction ``PostgresStore._write`` opened, and notes
what it changed in ``changes`` for the log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from livejobs.errors import Conflict, Unavailable
from livejobs.jobs import lifecycle
from livejobs.jobs.model import Job
from livejobs.store.base import Change, ClaimRequest, CreateRequest
from livejobs.store.postgres import flow
from livejobs.store.postgres.sql import (
    CLAIM,
    INSERT,
    INSERT_MANY,
    LIVE_KEY,
    UPDATE_IF_VERSION,
    UPDATE_MANY,
    columns,
    row,
)


async def insert(conn: Any, changes: list[Change], docs: Sequence[Job]) -> list[Job]:
    """Insert each document, or answer with the unfinished job of its owner holding its key."""
    rows = [row(doc) for doc in docs]
    if len(rows) > 1 and all(values[LIVE_KEY] is None for values in rows):
        # no key that could be held already: every row goes in, in one statement
        try:
            async with conn.transaction():  # a savepoint
                await conn.execute(INSERT_MANY, *columns(rows))
        except asyncpg.UniqueViolationError:
            pass  # the loop below names the id that clashed
        else:
            changes.extend(Change("insert", doc["id"], doc) for doc in docs)
            return list(docs)
    stored: list[Job] = []
    for doc, values in zip(docs, rows, strict=True):
        for _ in range(3):  # the holder may finish between the insert and the read
            try:
                inserted = await conn.fetchval(INSERT, *values)
            except asyncpg.UniqueViolationError:
                raise Conflict(f"a job with id {doc['id']!r} already exists") from None
            if inserted is not None:
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


async def remembered(
    conn: Any, changes: list[Change], docs: Sequence[Job], request: CreateRequest
) -> list[Job]:
    """``insert``, answered from memory for a request already seen; a lock on the request
    makes two attempts racing on two servers take turns."""
    name = json.dumps([request.owner, request.id])
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", name)
    answer = await conn.fetchval(
        "SELECT answer FROM requests WHERE owner = $1 AND id = $2 AND expires > $3",
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
    await conn.execute("DELETE FROM requests WHERE expires <= $1", request.at)
    await conn.execute(
        "INSERT INTO requests (owner, id, expires, answer) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (owner, id) DO UPDATE "
        "SET expires = excluded.expires, answer = excluded.answer",
        request.owner,
        request.id,
        request.expires,
        [doc["id"] for doc in stored],
    )
    return stored


async def claim(conn: Any, changes: list[Change], request: ClaimRequest) -> list[Job]:
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
        rows = [(*row(new), old["version"]) for new, old in zip(claimed, candidates, strict=False)]
        await conn.execute(UPDATE_MANY, *columns(rows))
        changes.extend(Change("update", doc["id"], doc) for doc in claimed)
    await flow.record_claimed(conn, rules, claimed, request.now)
    return claimed


class Replace:
    """A write of ``doc`` over the stored version ``expected``; the replaces next to each other
    in a batch go in as one statement (``replace_all``): a worker's completions arrive so."""

    def __init__(self, doc: Job, expected: int) -> None:
        self.doc = doc
        self.expected = expected

    async def __call__(self, conn: Any, changes: list[Change]) -> bool:
        try:
            status = await conn.execute(UPDATE_IF_VERSION, *row(self.doc), self.expected)
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"cannot update job {self.doc['id']}: its key {self.doc.get('key')!r} is held "
                "by another unfinished job"
            ) from None
        if status != "UPDATE 1":
            return False
        changes.append(Change("update", self.doc["id"], self.doc))
        return True


async def replace_all(conn: Any, changes: list[Change], replaces: list[Replace]) -> list[bool]:
    """Each of ``replaces`` (of distinct jobs) in one UPDATE: whether each was applied."""
    values = columns([(*row(r.doc), r.expected) for r in replaces])
    try:
        updated = {r["id"] for r in await conn.fetch(UPDATE_MANY, *values)}
    except asyncpg.UniqueViolationError:
        raise Conflict("an update clashes with the key of another unfinished job") from None
    applied = [r.doc["id"] in updated for r in replaces]
    changes.extend(Change("update", r.doc["id"], r.doc) for r in replaces if r.doc["id"] in updated)
    return applied


async def run_all(conn: Any, changes: list[Change], works: Sequence[Any]) -> list[Any]:
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
