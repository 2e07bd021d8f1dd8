"""A claim that waits for work (``jobs.claim`` with ``wait``): over HTTP and through the SDK,
woken by the push path the moment a job is created, and bounded when none comes."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from livejobs_sdk import CallError
from tests.servers import InProcessServer


async def _claim_http(server: InProcessServer, body: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as http:
        return await http.post("/api/claim", json=body)


async def test_http_claim_waits_and_is_woken_by_a_new_job(server: InProcessServer) -> None:
    waiting = asyncio.create_task(_claim_http(server, {"types": ["pull"], "wait": 20}))
    async with server.client() as admin:
        while not server.services.dispatcher._waiting:  # the claim is parked, watching
            await asyncio.sleep(0.01)
        assert not waiting.done()
        started = time.monotonic()
        job = await admin.job("pull", {"n": 1}).save()
        answer = await asyncio.wait_for(waiting, 10)
    assert time.monotonic() - started < 5  # woken, not timed out
    [claimed] = answer.json()["result"]
    assert claimed["id"] == job.id and claimed["status"] == "running"
    assert claimed["lease"]["token"]


async def test_sdk_claim_waits_and_a_bounded_wait_returns_empty(server: InProcessServer) -> None:
    async with server.client() as worker, server.client() as admin:
        started = time.monotonic()
        assert await worker.call("jobs.claim", {"types": ["pull"], "wait": 0.3}) == []
        assert time.monotonic() - started >= 0.3
        waiting = asyncio.create_task(worker.call("jobs.claim", {"types": ["pull"], "wait": 20}))
        while not server.services.dispatcher._waiting:
            await asyncio.sleep(0.01)
        job = await admin.job("pull").save()
        [claimed] = await asyncio.wait_for(waiting, 10)
        assert claimed["id"] == job.id
    assert not server.services.dispatcher._waiting  # nothing left watching


async def test_wait_is_bounded(server: InProcessServer) -> None:
    answer = await _claim_http(server, {"types": ["pull"], "wait": 3600})
    assert answer.status_code == 400 and answer.json()["code"] == "invalid"


async def test_a_draining_server_answers_waiting_claims_at_once(server: InProcessServer) -> None:
    async with server.client() as worker:
        waiting = asyncio.create_task(worker.call("jobs.claim", {"types": ["pull"], "wait": 50}))
        while not server.services.dispatcher._waiting:
            await asyncio.sleep(0.01)
        server.services.dispatcher.drain()
        with pytest.raises(CallError) as refused:
            await asyncio.wait_for(waiting, 5)
    assert refused.value.code == "unavailable" and "draining" in refused.value.message


async def _park(server: InProcessServer, client, claims: int) -> list[asyncio.Task]:
    """``claims`` waiting claims of one job each, parked before this returns."""
    waiting = [
        asyncio.create_task(client.call("jobs.claim", {"types": ["pull"], "wait": 30}))
        for _ in range(claims)
    ]
    while len(server.services.dispatcher._waiting) < claims:
        await asyncio.sleep(0.01)
    return waiting


def _count_claims(server: InProcessServer) -> list[int]:
    """Counts the store claims made from now on (the first item)."""
    service, made = server.services.jobs, [0]
    claim = service.claim

    async def counted(*args, **kwargs):
        made[0] += 1
        return await claim(*args, **kwargs)

    service.claim = counted
    return made


async def test_a_new_job_wakes_one_waiting_claim_not_every_one(server: InProcessServer) -> None:
    """Each waiting claim woken runs a claim in the store: waking all of them for one job made
    a job's creation cost as many claims as there were claims waiting (a herd)."""
    async with server.client() as worker, server.client() as admin:
        waiting = await _park(server, worker, 40)
        made = _count_claims(server)
        job = await admin.job("pull").save()
        done, _ = await asyncio.wait(waiting, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert [task.result()[0]["id"] for task in done] == [job.id]
        for _ in range(3):
            await asyncio.sleep(0)  # claims that a herd would have run get their turn
        assert made[0] <= 2, f"{made[0]} claims in the store for one new job"
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


async def test_a_batch_of_ready_jobs_wakes_as_many_waiting_claims(server: InProcessServer) -> None:
    async with server.client() as worker, server.client() as admin:
        waiting = await _park(server, worker, 20)
        ids = await admin.create_many([("pull", {"n": n}) for n in range(20)])
        claimed = await asyncio.wait_for(asyncio.gather(*waiting), 10)
    assert sorted(job["id"] for [job] in claimed) == sorted(ids)
