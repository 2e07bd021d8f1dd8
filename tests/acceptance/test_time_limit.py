"""Per-job time limits on the server's (driven) clock: an attempt past its ``time_limit`` is
stopped and failed however its worker heart-beats, retried per its policy; the SDK's handler
is cancelled; a worker that keeps going is refused, saying why."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from livejobs.clock import ManualClock
from livejobs_sdk import WorkerJob
from livejobs_sdk.errors import LivejobsError
from tests.servers import InProcessServer


async def _until(check: Any, timeout: float = 10) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_the_sdk_handler_is_stopped_at_the_limit_and_retried(
    clocked_server: InProcessServer,
) -> None:
    clock = clocked_server.clock
    assert isinstance(clock, ManualClock)
    started: list[int] = []
    stopped = asyncio.Event()

    async def handler(job: WorkerJob) -> str:
        started.append(job.attempt)
        if job.attempt == 1:
            try:
                await asyncio.Event().wait()  # runs on, heart-beating, until stopped
            except asyncio.CancelledError:
                stopped.set()
                raise
        return "second time lucky"

    async with clocked_server.client() as client:
        job = await client.job("slow").time_limit(10).retry(retries=1).save()
        worker = client.worker("slow", handler)
        running = asyncio.create_task(worker.run())
        try:
            await _until(lambda: _true(started))
            clock.advance(9)  # within the limit: nothing happens
            await clocked_server.settle()
            assert not stopped.is_set()
            clock.advance(2)
            await asyncio.wait_for(stopped.wait(), 10)
            done = await client.wait_finished(job.id, timeout=10)
        finally:
            worker.stop()
            await asyncio.wait_for(running, 10)
    assert done["status"] == "completed" and done["result"] == "second time lucky"
    assert started == [1, 2]
    [failure] = done["failures"]
    assert failure["error"] == "time limit exceeded: ran past 10s" and failure["attempt"] == 1
    assert done["time_limit"] == 10


async def _true(items: list[int]) -> bool:
    return bool(items)


async def test_a_worker_that_heartbeats_on_is_failed_and_refused(
    clocked_server: InProcessServer,
) -> None:
    clock = clocked_server.clock
    assert isinstance(clock, ManualClock)
    async with clocked_server.client() as client:
        job = await client.job("slow").time_limit(20).save()
        [claimed] = await client.call("jobs.claim", {"types": ["slow"]})
        lease = {"id": job.id, "lease": claimed["lease"]["token"]}
        assert claimed["lease"]["deadline"] == claimed["started"] + 20
        clock.advance(15)
        await client.call("jobs.heartbeat", lease)  # the lease now runs past the deadline
        clock.advance(6)
        failed = await client.wait_finished(job.id, timeout=10)
        assert failed["status"] == "failed" and failed["reason"] == "time limit"
        for method, extra in (("jobs.heartbeat", {}), ("jobs.done", {"result": 1})):
            with pytest.raises(LivejobsError) as refused:
                await client.call(method, {**lease, **extra})
            assert "time limit exceeded" in str(refused.value), str(refused.value)
    headers = {"Authorization": f"Bearer {clocked_server.admin_token}"}
    async with httpx.AsyncClient(base_url=clocked_server.http_url, headers=headers) as http:
        answer = await http.post(f"/api/jobs/{job.id}/heartbeat", json={"lease": lease["lease"]})
    assert answer.status_code == 409 and "time limit exceeded" in answer.json()["detail"]


async def test_time_limit_is_checked(server: InProcessServer) -> None:
    async with server.client() as client:
        with pytest.raises(LivejobsError) as refused:
            await client.call("jobs.create", {"type": "t", "time_limit": 0})
    assert refused.value.code == "invalid"


async def test_a_type_time_limit_applies_to_jobs_created_without_one(
    clocked_server: InProcessServer,
) -> None:
    clock = clocked_server.clock
    assert isinstance(clock, ManualClock)
    async with clocked_server.client() as client:
        rules = await client.set_type_time_limit("slow", 10)
        assert rules["time_limit"] == 10
        listed = {t["type"]: t for t in await client.call("types.list")}
        assert listed["slow"]["time_limit"] == 10
        plain = await client.job("slow").save()
        own = await client.job("slow").time_limit(3).save()
        other = await client.job("fast").save()
        assert (plain.doc["time_limit"], own.doc["time_limit"]) == (10, 3)  # its own wins
        assert other.doc["time_limit"] is None
        [many] = await client.create_many([("slow", {})])
        assert (await client.get_job(many))["time_limit"] == 10
        [claimed] = await client.call("jobs.claim", {"types": ["slow"], "limit": 1})
        assert claimed["id"] == plain.id
        assert claimed["lease"]["deadline"] == claimed["started"] + 10
        clock.advance(11)
        failed = await client.wait_finished(plain.id, timeout=10)
        assert failed["status"] == "failed" and failed["reason"] == "time limit"
        rules = await client.set_type_time_limit("slow", None)
        assert "time_limit" not in rules
        assert (await client.job("slow").save()).doc["time_limit"] is None
        assert (await client.get_job(many))["time_limit"] == 10  # set at create, kept


async def test_a_type_time_limit_is_checked_and_needs_the_types_right(
    server: InProcessServer,
) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        for bad in (0, -1, 86400 * 31 + 1, "10"):
            body = {"type": "slow", "time_limit": bad}
            answer = await http.post("/api/call/types.set_time_limit", json=body)
            assert answer.status_code == 400, (bad, answer.text)
        body = {"type": "slow", "time_limit": 2.5}
        answer = await http.post("/api/call/types.set_time_limit", json=body)
        assert answer.status_code == 200 and answer.json()["result"]["time_limit"] == 2.5
    worker = await server.token("worker", "w1", types=["slow"])
    async with server.client(worker) as client:
        with pytest.raises(LivejobsError) as refused:
            await client.set_type_time_limit("slow", 5)
    assert refused.value.code == "forbidden"
