"""The store contract for issue 24 (items 4 and 9), against every backend: ``delete_many``
(``jobs.clean``'s chunks) and the claim's LIFO order (``lifecycle.claim_rank``)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from livejobs.jobs.model import Job, blank_job
from livejobs.store.base import ClaimRequest, Store

_times = itertools.count(1000)


def job(job_type: str = "echo", **fields: Any) -> Job:
    """A job created a second after the previous one."""
    doc = blank_job(job_type, None, owner="ann", now=float(next(_times)))
    doc.update(fields)
    return doc


async def test_delete_many_deletes_each_job_still_at_its_version(store: Store) -> None:
    a, b, c, d = (job(status="cancelled") for _ in range(4))
    feed = store.watch()
    await store.insert([a, b, c, d])
    try:
        stale = (b["id"], b["version"] - 1)
        jobs = [(a["id"], a["version"]), stale, (c["id"], c["version"]), ("nope", 1)]
        assert await store.delete_many(jobs) == 2
        assert await store.delete_many([]) == 0
        seen = [await asyncio.wait_for(anext(feed), 10) for _ in range(6)][4:]  # after inserts
    finally:
        await feed.aclose()
    assert {(ch.op, ch.id) for ch in seen} == {("delete", a["id"]), ("delete", c["id"])}
    assert [doc["id"] for doc in await store.find({})] == [b["id"], d["id"]]
    assert await store.count({"status": "cancelled"}) == 2


async def test_claim_takes_lifo_jobs_first_newest_first_within_their_priority(
    store: Store,
) -> None:
    a, b, c, d = job("o"), job("o", lifo=True), job("o", lifo=True), job("o")
    e, f = job("o", priority=-10), job("o", priority=10, lifo=True)
    await store.insert([a, b, c, d, e, f])
    order = []
    for _ in range(6):
        request = ClaimRequest(
            types=("o",), worker_id="w", user="ann", now=5000.0, lease_seconds=30.0
        )
        [claimed] = await store.claim(request)
        order.append(claimed["id"])
    assert order == [e["id"], c["id"], b["id"], a["id"], d["id"], f["id"]]
