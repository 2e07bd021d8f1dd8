"""The MongoDB store: one collection per queue, atomic claims, and a change stream as the feed.

Because the feed is MongoDB's change stream, every server on the same replica set sees every
commit, whichever server made it: N servers behave like one. Claims are one atomic
``find_one_and_update`` per job, so racing servers never hand out the same job.

The translation between job documents/filters and MongoDB's shapes is in ``shapes``
(plain functions, tested without a server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from bson.errors import InvalidDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    PyMongoError,
)

from livejobs.errors import Conflict, Invalid, StoreRefused, Unavailable
from livejobs.jobs.model import Job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import ClaimRequest, CreateRequest, Filter, Sort
from livejobs.store.feed import Feed, Watcher
from livejobs.store.mongo import claim as claiming
from livejobs.store.mongo import flow, migrations
from livejobs.store.mongo.feed import follow
from livejobs.store.mongo.rollups import MongoRollups
from livejobs.store.mongo.shapes import (
    database_name,
    doc_from_mongo,
    doc_to_mongo,
    filter_to_mongo,
    hosts_of,
    live_key_filter,
    record_key,
    record_swap_filter,
    sort_to_mongo,
)

log = logging.getLogger(__name__)

COUNT_BY_FIELDS = ("status", "type", "owner")
DUPLICATE_KEY = 11000
# What BSON cannot hold though JSON and SQLite can: integers of 2**63 and more, NUL in keys,
# documents over 16 MB.
UNSTORABLE = (DocumentTooLarge, InvalidDocument, OverflowError)
HOW_TO_REPLICA_SET = (
    "livejobs follows changes with MongoDB change streams, which need a replica set (a single "
    "member is enough) or a sharded cluster. Start one with: "
    "mongod --replSet rs0 --dbpath /path/to/data  then once: mongosh --eval 'rs.initiate()'"
)


# -- the store -------------------------------------------------------------------------------


class MongoStore(MongoRollups):
    """Jobs in collection ``queue`` (default ``jobs``) and small records in ``records``."""

    ordered_writes = False  # concurrent calls run concurrently on the server

    def __init__(self, url: str, *, queue: str = "jobs") -> None:
        if not queue or queue == "records" or queue.startswith("system.") or "$" in queue:
            raise ValueError(f"bad queue name {queue!r}")
        self.url = url
        self.queue = queue
        self.database = database_name(url)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._jobs: AsyncCollection[dict[str, Any]]
        self._records: AsyncCollection[dict[str, Any]]
        self._flow: AsyncCollection[dict[str, Any]]
        self._requests: AsyncCollection[dict[str, Any]]
        self._feed = Feed()
        self._follower: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        options: dict[str, Any] = {"tz_aware": False}
        if "serverselectiontimeoutms" not in self.url.lower():
            options["serverSelectionTimeoutMS"] = 10_000  # fail fast at start-up, not after 30s
        try:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.url, **options)
        except (PyMongoError, ValueError) as exc:  # e.g. InvalidURI, a port out of range
            raise StoreRefused(f"bad MongoDB URL {hosts_of(self.url)!r}: {exc}") from exc
        try:
            hello = await client.admin.command("hello")
            if not hello.get("setName") and hello.get("msg") != "isdbgrid":
                raise StoreRefused(
                    f"MongoDB at {hosts_of(self.url)} is a standalone server. {HOW_TO_REPLICA_SET}"
                )
            db = client[self.database]
            self._jobs, self._records = db[self.queue], db["records"]
            self._flow = db[f"{self.queue}.flow"]
            await migrations.migrate(db, self.queue)
            self._requests = migrations.requests_of(db, self.queue)
            # Open the stream now, so that it covers every change made after open() returns.
            stream = await self._watch_changes()
        except PyMongoError as exc:
            await client.close()
            raise StoreRefused(f"cannot use MongoDB at {hosts_of(self.url)}: {exc}") from exc
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._follower = asyncio.create_task(self._follow(stream), name="livejobs-mongo-feed")

    async def _create_indexes(self) -> None:  # every migration again: they are idempotent
        await migrations.recreate(self._jobs.database, self.queue)

    async def close(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await follower
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        self._feed.close()

    async def ping(self) -> None:
        with _reachable():
            await self._connected().admin.command("ping")

    async def store_time(self) -> float:
        """The primary's clock, as ``hello`` reports it (milliseconds, UTC)."""
        with _reachable():
            reply = await self._connected().admin.command("hello")
        local: datetime = reply["localTime"]
        return local.replace(tzinfo=UTC).timestamp()

    def _connected(self) -> AsyncMongoClient[dict[str, Any]]:
        if self._client is None:
            raise Unavailable("the MongoDB store is not open")
        return self._client

    # -- change feed -------------------------------------------------------------------------

    def watch(self) -> Watcher:
        """Changes committed by any server from now on, in commit order."""
        return self._feed.watch()

    async def _watch_changes(
        self, token: Mapping[str, Any] | None = None
    ) -> AsyncChangeStream[dict[str, Any]]:
        """One stream over the jobs and the records (rules, users, tokens) of the database."""
        database = self._jobs.database
        ours = {"ns.coll": {"$in": [self.queue, self._records.name]}}
        ending = {"operationType": {"$in": ["dropDatabase", "invalidate"]}}  # no ns.coll
        return await database.watch(
            [{"$match": {"$or": [ours, ending]}}],
            full_document="updateLookup",
            resume_after=token,
        )

    async def _follow(self, stream: AsyncChangeStream[dict[str, Any]] | None) -> None:
        """Pump the change stream into the feed, recovering as ``stream.follow`` says."""
        await follow(
            stream,
            reopen=self._watch_changes,
            repair=self._create_indexes,
            publish=self._feed.publish,
            jobs=self.queue,
        )

    # -- jobs --------------------------------------------------------------------------------

    async def insert(self, docs: Sequence[Job], request: CreateRequest | None = None) -> list[Job]:
        """Insert, then remember the answer of ``request``: a crash between the two writes
        makes a retry insert again, never answer with jobs that were not stored."""
        if request is None:
            return await self._insert(docs)
        key = {"_id": {"owner": request.owner, "id": request.id}}  # _id cannot be an array
        with _reachable():
            found = await self._requests.find_one({**key, "expires": {"$gt": request.at}})
        if found is not None:
            request.replayed = True
            return await self.get_many(found["answer"])
        stored = await self._insert(docs)
        answer = migrations.request_answer([doc["id"] for doc in stored], request.expires)
        with _reachable():  # replaces an expired entry the TTL monitor has not deleted yet
            await self._requests.replace_one(key, answer, upsert=True)
        return stored

    async def amend_answer(self, request: CreateRequest, job_ids: Sequence[str]) -> None:
        key = {"_id": {"owner": request.owner, "id": request.id}}
        with _reachable():
            await self._requests.update_one(key, {"$set": {"answer": list(job_ids)}})

    async def _insert(self, docs: Sequence[Job]) -> list[Job]:
        """Insert all at once; a document whose key is held gets the holder instead. If the
        holder finishes between the refusal and the lookup, the insert is tried again."""
        stored: list[Job] = list(docs)
        pending = list(range(len(docs)))
        for _attempt in range(5):
            if not pending:
                break
            refused = await self._insert_some([docs[i] for i in pending])
            retry = []
            for local in refused:
                i = pending[local]
                with _reachable():
                    holder = await self._jobs.find_one(live_key_filter(docs[i]))
                if holder is None:
                    retry.append(i)
                else:
                    stored[i] = doc_from_mongo(holder)
            pending = retry
        if pending:
            raise Conflict(f"job key {docs[pending[0]].get('key')!r} is changing hands; try again")
        return stored

    async def _insert_some(self, docs: list[Job]) -> set[int]:
        """Insert; return the indexes of the documents refused because their key is held."""
        try:
            with _reachable():
                await self._jobs.insert_many([doc_to_mongo(d) for d in docs], ordered=False)
            return set()
        except UNSTORABLE as exc:
            raise Invalid(f"MongoDB cannot store this job: {exc}") from exc
        except BulkWriteError as exc:
            refused = set()
            for error in (exc.details or {}).get("writeErrors", []):
                job_id, message = docs[error["index"]]["id"], error.get("errmsg", "")
                if error.get("code") != DUPLICATE_KEY:
                    raise Invalid(f"MongoDB refused job {job_id}: {message}") from exc
                if "_live_key" in error.get("keyPattern", {}) or "_live_key" in message:
                    refused.add(error["index"])
                else:
                    raise Conflict(f"a job with id {job_id!r} already exists") from exc
            return refused

    async def get(self, job_id: str) -> Job | None:
        with _reachable():
            found = await self._jobs.find_one({"_id": job_id})
        return None if found is None else doc_from_mongo(found)

    async def get_many(self, job_ids: Sequence[str]) -> list[Job]:
        """The stored jobs among ``job_ids``, in that order (unknown ids are left out)."""
        if not job_ids:
            return []
        with _reachable():
            found = await self._jobs.find({"_id": {"$in": list(job_ids)}}).to_list()
        by_id = {d["_id"]: d for d in found}
        return [doc_from_mongo(by_id[i]) for i in job_ids if i in by_id]

    async def find(
        self,
        filter: Filter,
        sort: Sort = (("created", 1),),
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Job]:
        if limit is not None and limit <= 0:
            return []
        with _reachable():
            cursor = self._jobs.find(
                filter_to_mongo(filter),
                sort=sort_to_mongo(sort),
                skip=max(skip, 0),
                limit=limit or 0,
            )
            return [doc_from_mongo(d) for d in await cursor.to_list()]

    async def count(self, filter: Filter) -> int:
        with _reachable():
            return await self._jobs.count_documents(filter_to_mongo(filter))

    async def count_by(self, field: str, filter: Filter) -> dict[str, int]:
        if field not in COUNT_BY_FIELDS:
            raise Invalid(f"counts can be grouped by {', '.join(COUNT_BY_FIELDS)}, not {field!r}")
        pipeline = [
            {"$match": filter_to_mongo(filter)},
            {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
        ]
        with _reachable():
            groups = await (await self._jobs.aggregate(pipeline)).to_list()
        return {g["_id"]: int(g["n"]) for g in groups if isinstance(g["_id"], str)}

    async def replace(self, doc: Job, expected_version: int, previous: Job | None = None) -> bool:
        if doc.get("version") != expected_version + 1:
            raise ValueError("replace: doc['version'] must be expected_version + 1")
        try:
            with _reachable():
                result = await self._jobs.replace_one(
                    {"_id": doc["id"], "version": expected_version}, doc_to_mongo(doc)
                )
        except DuplicateKeyError:
            raise Conflict(
                f"cannot update job {doc['id']}: its key {doc.get('key')!r} is held by another "
                "unfinished job"
            ) from None
        except UNSTORABLE as exc:
            raise Invalid(f"MongoDB cannot store job {doc['id']}: {exc}") from exc
        return result.matched_count == 1

    async def delete(self, job_id: str, expected_version: int) -> bool:
        with _reachable():
            result = await self._jobs.delete_one({"_id": job_id, "version": expected_version})
        return result.deleted_count == 1

    async def delete_many(self, jobs: Sequence[tuple[str, int]]) -> int:
        if not jobs:
            return 0
        either = [{"_id": job_id, "version": version} for job_id, version in jobs]
        with _reachable():
            result = await self._jobs.delete_many({"$or": either})
        return int(result.deleted_count)

    async def claim(self, request: ClaimRequest) -> list[Job]:
        """Best candidates first, each claimed by compare-and-set (``claim``)."""
        if request.limit <= 0 or not request.types:
            return []
        with _reachable():
            return await claiming.claim(self._jobs, self._flow, self._records, request)

    async def rate_opening(self, job_type: str, limit: TypeRules, now: float) -> float | None:
        with _reachable():
            return await flow.opening(self._flow, job_type, limit, now)

    async def due(self, now: float, limit: int = 500) -> list[Job]:
        with _reachable():
            cursor = self._jobs.find(
                {"due": {"$lte": now}}, sort=[("due", 1), ("_id", 1)], limit=limit
            )
            return [doc_from_mongo(d) for d in await cursor.to_list()]

    async def next_due(self) -> float | None:
        with _reachable():
            found = await self._jobs.find_one(
                {"due": {"$type": "number"}}, sort=[("due", 1)], projection={"due": True}
            )
        return None if found is None else float(found["due"])

    # -- records -----------------------------------------------------------------------------

    async def put_record(self, kind: str, record_id: str, doc: dict[str, Any]) -> None:
        with _reachable():
            await self._records.replace_one(
                {"_id": record_key(kind, record_id)},
                {"kind": kind, "rid": record_id, "doc": doc},
                upsert=True,
            )

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        with _reachable():
            found = await self._records.find_one({"_id": record_key(kind, record_id)})
        return None if found is None else dict(found["doc"])

    async def list_records(self, kind: str) -> list[dict[str, Any]]:
        with _reachable():
            found = await self._records.find({"kind": kind}, sort=[("rid", 1)]).to_list()
        return [dict(r["doc"]) for r in found]

    async def delete_record(self, kind: str, record_id: str) -> bool:
        with _reachable():
            result = await self._records.delete_one({"_id": record_key(kind, record_id)})
        return result.deleted_count == 1

    async def swap_record(self, kind: str, record_id: str, doc: dict[str, Any], rev: int) -> bool:
        """A replace of the record at ``rev``; at 0 an upsert, which a record at another
        revision turns into a duplicate ``_id``."""
        body = {"kind": kind, "rid": record_id, "doc": doc}
        with _reachable():
            try:
                result = await self._records.replace_one(
                    record_swap_filter(kind, record_id, rev), body, upsert=rev == 0
                )
            except DuplicateKeyError:
                return False
        return result.matched_count == 1 or result.upserted_id is not None


@contextmanager
def _reachable() -> Iterator[None]:
    """Losing MongoDB is ``Unavailable`` (retry later), not an internal error."""
    try:
        yield
    except ConnectionFailure as exc:
        raise Unavailable(f"MongoDB is unreachable: {exc}") from exc
