"""``jobs.set_priority``: a queued job moves to a new priority (BullMQ's ``changePriority``)
and the next claim follows it; its owner may, one job at a time, and managers in bulk."""

from __future__ import annotations

import httpx
import pytest

from livejobs_sdk import SyncClient
from livejobs_sdk.errors import LivejobsError
from tests.servers import InProcessServer, ProcessServer


async def test_a_raised_priority_is_claimed_first_and_logged(server: InProcessServer) -> None:
    creator = await server.token("creator", "c1")
    async with server.client(creator) as client:
        jobs = [await client.job("mail", {"n": n}).save() for n in range(3)]
        async with client.subscribe({"type": "mail"}) as watched:
            await watched.start()
            await jobs[2].set_priority("high")
            event = await watched.next(10)
            while event.kind != "changed":
                event = await watched.next(10)
        assert jobs[2].doc is not None and jobs[2].doc["priority"] < 0
        assert event.doc is not None and event.doc["priority"] == jobs[2].doc["priority"]
        assert jobs[2].doc["log"][-1]["message"] == f"priority 0 → {jobs[2].doc['priority']}"
        await jobs[0].set_priority(5)  # lower runs first: 5 goes last
    async with server.client() as admin:
        claimed = await admin.call("jobs.claim", {"types": ["mail"], "limit": 3})
    assert [d["id"] for d in claimed] == [jobs[2].id, jobs[1].id, jobs[0].id]


async def test_only_queued_jobs_and_known_levels(server: InProcessServer) -> None:
    async with server.client() as client:
        job = await client.job("mail").save()
        with pytest.raises(LivejobsError) as unknown:
            await client.call("jobs.set_priority", {"id": "nope", "priority": "urgent"})
        assert unknown.value.code == "invalid" and "unknown priority" in unknown.value.message
        await client.call("jobs.claim", {"types": ["mail"], "limit": 1})
        with pytest.raises(LivejobsError) as running:
            await job.set_priority("high")
        assert running.value.code == "conflict" and "running" in running.value.message


async def test_bulk_for_managers_and_others_jobs_unseen(server: InProcessServer) -> None:
    async with server.client() as admin:
        ids = [(await admin.job("mail").save()).id for _ in range(2)]
    creator = await server.token("creator", "c1")
    async with server.client(creator) as client:
        with pytest.raises(LivejobsError) as bulk:
            await client.set_priority(ids, "high")
        assert bulk.value.code == "forbidden"
        with pytest.raises(LivejobsError) as others:
            await client.call("jobs.set_priority", {"id": ids[0], "priority": "high"})
        assert others.value.code == "not_found"  # not its job: never heard of it
    manager = await server.token("manager", "m1")
    async with server.client(manager) as client:
        answer = await client.set_priority([*ids, "nope"], -3)
        docs = await client.get_jobs(ids)
    assert answer["done"] == ids and answer["errors"]["nope"]["code"] == "not_found"
    assert [d["priority"] for d in docs] == [-3, -3]


async def test_over_http(server: InProcessServer) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        job = (await http.post("/api/jobs", json={"type": "mail"})).json()["result"]
        url = f"/api/jobs/{job['id']}/set_priority"
        for bad in ({}, {"priority": True}, {"priority": "urgent"}, {"priority": 1.5}):
            answer = await http.post(url, json=bad)
            assert answer.status_code == 400, (bad, answer.text)
        answer = await http.post(url, json={"priority": "critical"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["priority"] == -15


def test_from_sync_code(sync_server: ProcessServer) -> None:
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        job = client.job("mail").save()
        assert job.set_priority("low").doc["priority"] == 10
        assert client.set_priority([job.id], 0)["done"] == [job.id]
        assert client.get_job(job.id)["priority"] == 0
