"""Groups within a type in the MongoDB claim, on mongomock (``test_mongo_claim``'s stand-in):
one reservation per group, racing claims never over a group's limit, a full group's backlog
left out of the next read."""

from __future__ import annotations

import asyncio
from collections import Counter

from livejobs.jobs.rules import TypeRules
from tests.unit.test_mongo_claim import Database, job


def grouped(group: str | None, created: float) -> dict[str, object]:
    doc = job(created=created)
    doc["group"] = group
    return doc


async def test_one_per_group_past_a_full_groups_backlog() -> None:
    db = Database()
    db.add(*(grouped("a", float(i)) for i in range(6)), grouped("b", 10.0), grouped(None, 11.0))
    db.rules("a", TypeRules(group_concurrency=1))
    got = await db.claim("a", limit=5)
    assert [d["group"] for d in got] == ["a", "b", None]
    assert await db.claim("a", worker="w2", limit=5) == []


async def test_racing_claims_stay_within_each_groups_limit() -> None:
    db = Database()
    db.add(*(grouped(f"g{i % 2}", float(i)) for i in range(10)))
    db.rules("a", TypeRules(group_concurrency=2))
    answers = await asyncio.gather(*(db.claim("a", worker=f"w{i}", limit=3) for i in range(4)))
    counts = Counter(d["group"] for docs in answers for d in docs)
    assert all(n <= 2 for n in counts.values()), counts
    await db.claim("a", worker="w9", limit=10)
    running = Counter(d["group"] for d in db.jobs.inner.find({"status": "running"}))
    assert running == {"g0": 2, "g1": 2}
