"""The MongoDB store's schema (its indexes), as numbered migrations.

The version of a queue is one small document, ``{_id: <queue>, version: n}`` in the collection
``livejobs.schema``. Every step is idempotent (creating an index that exists is a no-op), and
the version only moves forward (``$max``), so two servers migrating at once both end at the
newest version whatever the order. As in SQLite, a store of 0.1.0 records no version: step 1
creates what it had.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from livejobs.store.migrations import Migration, newest, plan

Collection = AsyncCollection[dict[str, Any]]
SCHEMA_COLLECTION = "livejobs.schema"
#: the unfinished jobs' keys, one per owner (``_live_key`` is set while a job is unfinished)
LIVE_KEY = {"_live_key": {"$type": "string"}}


def requests_of(db: AsyncDatabase[dict[str, Any]], queue: str) -> Collection:
    """The remembered create requests of ``queue``: ``{_id: {owner, id}, **request_answer}``."""
    return db[f"{queue}.requests"]


def request_answer(ids: list[str], expires: float) -> dict[str, Any]:
    """What ``requests_of`` keeps of a create: ``expires`` (a time, as the store's clock
    gives it) decides, ``purge_at`` (the same as a BSON date) is for the TTL monitor."""
    purge_at = datetime.fromtimestamp(expires, UTC).replace(tzinfo=None)
    return {"answer": ids, "expires": expires, "purge_at": purge_at}


async def _schema_0_1_0(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    jobs = db[queue]
    await jobs.create_indexes(
        [
            IndexModel(
                [("status", 1), ("type", 1), ("priority", 1), ("created", 1), ("_id", 1)],
                name="claim",
            ),
            IndexModel([("due", 1), ("_id", 1)], name="due_id"),
            IndexModel([("owner", 1)], name="owner"),
            IndexModel([("updated", 1)], name="updated"),
            IndexModel(
                [("_live_key", 1)], name="live_key", unique=True, partialFilterExpression=LIVE_KEY
            ),
        ]
    )
    await db["records"].create_index([("kind", 1), ("rid", 1)], unique=True, name="kind_id")
    with suppress(OperationFailure):  # replaced by due_id, which also covers the sort
        await jobs.drop_index("due")


async def _keys_per_owner(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    """The new index first, so that there is never a moment without one."""
    jobs = db[queue]
    await jobs.create_index(
        [("owner", 1), ("_live_key", 1)],
        name="owner_live_key",
        unique=True,
        partialFilterExpression=LIVE_KEY,
    )
    with suppress(OperationFailure):  # gone already
        await jobs.drop_index("live_key")


async def _requests(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    await requests_of(db, queue).create_index("purge_at", name="purge_at", expireAfterSeconds=0)


async def _lifo_rank(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    """The claim sorts by ``_rank`` (``lifecycle.claim_rank``): every stored job is FIFO."""
    jobs = db[queue]
    await jobs.update_many({"_rank": {"$exists": False}}, [{"$set": {"_rank": "$created"}}])
    keys = [("status", 1), ("type", 1), ("priority", 1), ("_rank", 1), ("_id", 1)]
    await jobs.create_index(keys, name="claim_rank")
    with suppress(OperationFailure):  # gone already
        await jobs.drop_index("claim")


async def _rollups(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    await db[f"{queue}.rollups"].create_index([("res", 1), ("start", 1)], name="res_start")


async def _windows(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    """The live windows' default order (newest first), filtered by nothing, status or type;
    search (``livejobs.search``) by a text index of every string (whole words only)."""
    newest = [("created", -1), ("_id", 1)]
    await db[queue].create_indexes(
        [
            IndexModel(newest, name="window"),
            IndexModel([("status", 1), *newest], name="window_status"),
            IndexModel([("type", 1), *newest], name="window_type"),
            IndexModel([("$**", "text")], name="search", default_language="none"),
        ]
    )


async def _nothing(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    """The numbers stay the same on every store; MongoDB's indexes need no change."""


Step = Callable[[AsyncDatabase[dict[str, Any]], str], Awaitable[None]]
STEPS: list[tuple[Migration, Step]] = [
    (Migration(1, "the 0.1.0 indexes (claim, due, owner, updated, key, records)"), _schema_0_1_0),
    (Migration(2, "job keys unique per owner, not across owners"), _keys_per_owner),
    (Migration(3, "remembered create requests (request_id), expiring"), _requests),
    (Migration(4, "lifo: the claim sorts by _rank (created, negated for LIFO)"), _lifo_rank),
    (Migration(5, "history rollups per type, minute and hour"), _rollups),
    (Migration(6, "indexes for live windows (newest first) and search (text)"), _windows),
    (Migration(7, "nothing on MongoDB (SQLite's deferred search index)"), _nothing),
    (Migration(8, "nothing on MongoDB (SQLite's window indexes, ascending)"), _nothing),
]
MIGRATIONS = [migration for migration, _ in STEPS]
NEWEST = newest(MIGRATIONS)


async def version(db: AsyncDatabase[dict[str, Any]], queue: str) -> int:
    found = await db[SCHEMA_COLLECTION].find_one({"_id": queue})
    return int(found["version"]) if found else 0


async def pending(db: AsyncDatabase[dict[str, Any]], queue: str) -> list[Migration]:
    return plan(await version(db, queue), MIGRATIONS, _where(db, queue))


async def migrate(db: AsyncDatabase[dict[str, Any]], queue: str) -> list[Migration]:
    """Apply the pending migrations in order, recording each once done; return them."""
    todo = await pending(db, queue)
    steps = dict((m.version, step) for m, step in STEPS)
    for migration in todo:
        await steps[migration.version](db, queue)
        await db[SCHEMA_COLLECTION].update_one(
            {"_id": queue}, {"$max": {"version": migration.version}}, upsert=True
        )
    return todo


async def recreate(db: AsyncDatabase[dict[str, Any]], queue: str) -> None:
    """Every step again, after the jobs collection was dropped (and its indexes with it)."""
    for _, step in STEPS:
        await step(db, queue)


async def pending_at(url: str, queue: str = "jobs") -> list[Migration]:
    """``pending`` for ``livejobs migrate --check``: read-only, without opening the store."""
    from pymongo import AsyncMongoClient

    from livejobs.store.mongo.shapes import database_name

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=10_000, tz_aware=False
    )
    try:
        return await pending(client[database_name(url)], queue)
    finally:
        await client.close()


def _where(db: AsyncDatabase[dict[str, Any]], queue: str) -> str:
    return f"the MongoDB queue {db.name}.{queue}"
