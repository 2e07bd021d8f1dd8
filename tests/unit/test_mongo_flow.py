"""The MongoDB flow reservations (``livejobs.store.mongo.flow``) on an in-memory stand-in for the
few collection calls they make, which yields between calls the way a network round trip does:
racing reservations interleave, and the compare-and-set must keep them within the rules. (The
contract suite runs the real thing when a replica set is at hand.)"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from pymongo.errors import DuplicateKeyError

from livejobs.jobs.rules import TypeRules
from livejobs.store.mongo import flow as mongo_flow


class _Result:
    def __init__(self, modified: int) -> None:
        self.modified_count = modified


class FakeCollection:
    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs = {d["_id"]: d for d in docs or []}

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        found = self.docs.get(query["_id"])
        return copy.deepcopy(found)

    async def insert_one(self, doc: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def update_one(self, query: dict[str, Any], update: dict[str, Any]) -> _Result:
        await asyncio.sleep(0)
        doc = self.docs.get(query["_id"])
        if doc is None or any(doc.get(k) != v for k, v in query.items()):
            return _Result(0)
        doc.update(copy.deepcopy(update["$set"]))
        return _Result(1)

    async def count_documents(self, query: dict[str, Any]) -> int:
        await asyncio.sleep(0)
        return sum(all(d.get(k) == v for k, v in query.items()) for d in self.docs.values())


def running(n: int, job_type: str = "a") -> FakeCollection:
    return FakeCollection(
        [{"_id": f"r{i}", "type": job_type, "status": "running"} for i in range(n)]
    )


async def test_concurrency_counts_running_jobs_and_claims_in_progress() -> None:
    flow, jobs = FakeCollection(), running(1)
    rules = TypeRules(concurrency=3)
    held = await mongo_flow.reserve(flow, jobs, "a", rules, 5, now=100.0)
    assert held is not None and held.count == 2  # one runs already
    assert await mongo_flow.reserve(flow, jobs, "a", rules, 5, now=100.0) is None
    await mongo_flow.settle(flow, held, used=1)  # the claim found one job: one place frees
    again = await mongo_flow.reserve(flow, jobs, "a", rules, 5, now=100.0)
    assert again is not None and again.count == 2


async def test_rate_window_keeps_used_starts_and_gives_back_the_rest() -> None:
    flow, jobs = FakeCollection(), running(0)
    rules = TypeRules(rate_limit=4, rate_per=10.0)
    held = await mongo_flow.reserve(flow, jobs, "a", rules, 3, now=100.0)
    assert held is not None and held.count == 3
    await mongo_flow.settle(flow, held, used=2)
    assert flow.docs["a"]["starts"] == [100.0, 100.0] and flow.docs["a"]["pending"] == []
    second = await mongo_flow.reserve(flow, jobs, "a", rules, 5, now=105.0)
    assert second is not None and second.count == 2
    await mongo_flow.settle(flow, second, used=2)
    assert await mongo_flow.reserve(flow, jobs, "a", rules, 5, now=109.0) is None
    assert await mongo_flow.opening(flow, "a", rules, 109.0) == 110.0
    later = await mongo_flow.reserve(flow, jobs, "a", rules, 5, now=110.5)
    assert later is not None and later.count == 2  # the two starts at 100 left the window


async def test_a_dead_claims_reservation_expires() -> None:
    flow, jobs = FakeCollection(), running(0)
    rules = TypeRules(concurrency=2)
    assert await mongo_flow.reserve(flow, jobs, "a", rules, 2, now=100.0) is not None
    assert await mongo_flow.reserve(flow, jobs, "a", rules, 2, now=101.0) is None
    late = mongo_flow.RESERVATION_SECONDS + 100.5
    assert (await mongo_flow.reserve(flow, jobs, "a", rules, 2, now=late)) is not None


async def test_racing_reservations_never_exceed_the_rules() -> None:
    flow, jobs = FakeCollection(), running(0)
    rules = TypeRules(rate_limit=7, rate_per=60.0, concurrency=5)
    held = await asyncio.gather(
        *(mongo_flow.reserve(flow, jobs, "a", rules, 2, now=100.0) for _ in range(12))
    )
    assert sum(h.count for h in held if h is not None) == 5
