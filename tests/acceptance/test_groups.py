"""Groups within a type (a job's ``group``, a tenant say), through the SDK on live servers:
at most ``group_concurrency`` running per group across two server processes sharing one
store, pushed workers held to it too; and ``group_rate_limit`` per group on a driven clock,
a starved worker woken when the group's window opens."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from livejobs.clock import ManualClock
from livejobs_sdk import WorkerJob
from tests.servers import InProcessServer, ProcessServer, started


def groups_of(docs: list[dict[str, Any]]) -> list[str | None]:
    return [d.get("group") for d in docs]


async def test_one_running_job_per_group_across_two_server_processes(tmp_path: Path) -> None:
    one = ProcessServer(tmp_path / "jobs.db")
    two = ProcessServer(tmp_path / "jobs.db")
    async with started(one, two), one.client() as c1, two.client() as c2:
        limits = await c1.call("types.set_limits", {"type": "t", "group_concurrency": 1})
        assert limits["group_concurrency"] == 1
        jobs = [await c1.job("t", i).group("a" if i < 3 else "b").save() for i in range(5)]
        first = await c1.call("jobs.claim", {"types": ["t"], "limit": 10})
        assert groups_of(first) == ["a", "b"]
        assert await c2.call("jobs.claim", {"types": ["t"], "limit": 10}) == []
        await c1.call("jobs.done", {"id": first[0]["id"], "lease": first[0]["lease"]["token"]})
        [second] = await c2.call("jobs.claim", {"types": ["t"], "limit": 10})
        assert second["id"] == jobs[1].id
        for doc in (first[1], second):
            await c2.call("jobs.done", {"id": doc["id"], "lease": doc["lease"]["token"]})
        # a pushed worker on each server, four slots each: still one per group at a time
        active: Counter[str] = Counter()
        most: Counter[str] = Counter()

        async def handler(job: WorkerJob) -> None:
            group = job.doc["group"]
            active[group] += 1
            most[group] = max(most[group], active[group])
            await asyncio.sleep(0.05)
            active[group] -= 1

        more = [await c1.job("t").group(g).save() for g in "aaabbb"]
        workers = [c.worker("t", handler, concurrency=4) for c in (c1, c2)]
        runs = [asyncio.create_task(w.run()) for w in workers]
        try:
            for job in more:
                assert (await c1.wait_finished(job.id, timeout=30))["status"] == "completed"
        finally:
            for w in workers:
                w.stop()
            await asyncio.wait_for(asyncio.gather(*runs), 10)
    assert most == {"a": 1, "b": 1}


async def test_group_rate_limit_on_a_driven_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    server = InProcessServer(tmp_path / "jobs.db", clock=clock)
    async with started(server), server.client() as client:
        await client.call(
            "types.set_limits", {"type": "t", "group_rate_limit": 1, "group_rate_per": 60}
        )
        a1, a2, b1 = [await client.job("t").group(g).save() for g in ("a", "a", "b")]
        claimed = await client.call("jobs.claim", {"types": ["t"], "limit": 10})
        # the first of each group: their creation times tie on the driven clock, and ids
        # made in turn are in order (jobs.model.new_id)
        assert [d["id"] for d in claimed] == [a1.id, b1.id]
        for doc in claimed:
            await client.call("jobs.done", {"id": doc["id"], "lease": doc["lease"]["token"]})
        assert await client.call("jobs.claim", {"types": ["t"], "limit": 10}) == []
        ran: list[str] = []
        worker = client.worker(["t", "probe"], lambda job: _record(ran, job))
        run = asyncio.create_task(worker.run())
        try:
            # the probe done shows the worker has claimed since, and found no "t" it may start
            probe = await client.job("probe").save()
            assert (await client.wait_finished(probe.id, timeout=10))["status"] == "completed"
            assert ran == [probe.id]
            clock.advance(61)  # the group's window opens: the timer wakes the dispatcher
            assert (await client.wait_finished(a2.id, timeout=10))["status"] == "completed"
        finally:
            worker.stop()
            await asyncio.wait_for(run, 10)
    assert ran == [probe.id, a2.id]


async def _record(ran: list[str], job: WorkerJob) -> None:
    ran.append(job.id)
