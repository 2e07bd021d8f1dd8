"""The MongoDB store's claim (``livejobs.store.mongo.claim``) on mongomock behind the few async
collection calls it makes, each yielding as a network round trip does: racing claims
interleave between reading candidates and writing them, and the compare-and-set on the
version must keep every job with one worker. (The contract suites run the real thing when a
replica set is at hand.)"""

from __future__ import annotations

import asyncio
from typing import Any

import mongomock

from livejobs.jobs.model import Job, blank_job
from livejobs.jobs.rules import TypeRules
from livejobs.store.base import ClaimRequest
from livejobs.store.mongo import claim as claiming
from livejobs.store.mongo.shapes import doc_to_mongo, record_key


class Cursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    async def to_list(self) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return self.docs


class Collection:
    """mongomock's collection behind the async calls the claim makes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def find(self, query: dict[str, Any], **options: Any) -> Cursor:
        return Cursor(list(self.inner.find(query, **options)))

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        found: dict[str, Any] | None = self.inner.find_one(query)
        return found

    async def replace_one(self, query: dict[str, Any], doc: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return self.inner.replace_one(query, doc)

    async def insert_one(self, doc: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return self.inner.insert_one(doc)

    async def update_one(self, query: dict[str, Any], update: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return self.inner.update_one(query, update)

    async def count_documents(self, query: dict[str, Any]) -> int:
        await asyncio.sleep(0)
        return int(self.inner.count_documents(query))


class Database:
    def __init__(self) -> None:
        db = mongomock.MongoClient().db
        self.jobs, self.flow, self.records = (Collection(db[n]) for n in ("jobs", "flow", "rec"))

    def add(self, *docs: Job) -> None:
        for doc in docs:
            self.jobs.inner.insert_one(doc_to_mongo(doc))

    def rules(self, job_type: str, rules: TypeRules) -> None:
        key = record_key("types", job_type)
        self.records.inner.insert_one({"_id": key, "rid": job_type, "doc": rules.to_dict(job_type)})

    async def claim(self, *types: str, worker: str = "w1", limit: int = 1) -> list[Job]:
        request = ClaimRequest(
            types=types, worker_id=worker, user="ann", now=500.0, lease_seconds=30.0,
            limit=limit, rules="types",
        )  # fmt: skip
        return await claiming.claim(self.jobs, self.flow, self.records, request)


def job(job_type: str = "a", created: float = 100.0, priority: int = 0) -> Job:
    doc = blank_job(job_type, None, owner="ann", now=created)
    doc["priority"] = priority
    return doc


async def test_the_best_candidates_are_claimed_as_lifecycle_decides() -> None:
    db = Database()
    late, early, urgent = job(created=3.0), job(created=1.0), job(created=9.0, priority=-1)
    db.add(late, early, urgent, job("b"))
    got = await db.claim("a", limit=2)
    assert [d["id"] for d in got] == [urgent["id"], early["id"]]
    stored = db.jobs.inner.find_one({"_id": urgent["id"]})
    assert stored["status"] == "running" and stored["attempts"] == 1
    assert stored["lease"]["token"] == got[0]["lease"]["token"]
    assert stored["log"][-1]["message"] == "started by worker w1 (attempt 1)"


async def test_racing_claims_never_hand_out_one_job_twice() -> None:
    db = Database()
    db.add(*(job(created=float(i)) for i in range(6)))
    answers = await asyncio.gather(*(db.claim("a", worker=f"w{i}", limit=2) for i in range(5)))
    ids = [d["id"] for docs in answers for d in docs]
    assert len(ids) == len(set(ids)) == 6  # a candidate lost to another claim is skipped
    owners = {d["_id"]: d["lease"]["worker"] for d in db.jobs.inner.find({})}
    assert all(owners[d["id"]] == d["lease"]["worker"] for docs in answers for d in docs)


async def test_racing_claims_stay_within_the_concurrency_rule() -> None:
    db = Database()
    db.add(*(job(created=float(i)) for i in range(8)))
    db.rules("a", TypeRules(concurrency=3))
    answers = await asyncio.gather(*(db.claim("a", worker=f"w{i}", limit=2) for i in range(4)))
    # a reservation still held while its jobs already run counts twice: never over, maybe under
    racing = sum(len(docs) for docs in answers)
    assert 1 <= racing <= 3
    assert len(await db.claim("a", worker="w9", limit=5)) == 3 - racing
    assert db.jobs.inner.count_documents({"status": "running"}) == 3


async def test_a_paused_type_is_left_and_others_claimed() -> None:
    db = Database()
    db.add(job("a"), job("b"))
    db.rules("a", TypeRules(paused=True))
    assert [d["type"] for d in await db.claim("a", "b", limit=5)] == ["b"]
