"""``jobs.set_delay``: a queued job runs later, or now, instead (BullMQ's ``changeDelay``),
against a server whose clock the test drives."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from livejobs_sdk import SyncClient
from livejobs_sdk.errors import LivejobsError
from tests.helpers import wait_status
from tests.servers import InProcessServer, ProcessServer


async def test_a_ready_job_delayed_waits_then_runs(clocked_server: InProcessServer) -> None:
    clock = clocked_server.clock
    async with clocked_server.client() as client:
        job = await client.job("mail").save()
        await job.set_delay(60)
        assert job.doc is not None and job.doc["status"] == "waiting"
        assert job.doc["after"] == pytest.approx(clock.now() + 60)
        assert job.doc["log"][-1]["message"] == "to run in 60 s"
        assert await client.call("jobs.claim", {"types": ["mail"], "limit": 1}) == []
        clock.advance(60)
        await wait_status(client, job.id, "ready")


async def test_a_delayed_job_runs_now_or_at_a_time(clocked_server: InProcessServer) -> None:
    clock = clocked_server.clock
    async with clocked_server.client() as client:
        soon = await client.job("mail").delay(3600).save()
        await soon.set_delay(0)
        assert soon.doc is not None and soon.doc["status"] == "ready"
        at = datetime.fromtimestamp(clock.now() + 120, UTC)
        later = await client.job("mail").delay(3600).save()
        await later.set_delay(at=at)
        assert later.doc is not None and later.doc["after"] == pytest.approx(at.timestamp())
        past = datetime.fromtimestamp(clock.now() - 5, UTC)
        assert (await later.set_delay(at=past)).doc["status"] == "ready"  # type: ignore[index]


async def test_a_paused_job_keeps_its_pause_and_a_running_one_refuses(
    clocked_server: InProcessServer,
) -> None:
    async with clocked_server.client() as client:
        paused = await client.job("mail").save()
        await paused.pause()
        await paused.set_delay(30)
        assert paused.doc is not None and paused.doc["status"] == "paused"
        await paused.resume()
        assert paused.doc is not None and paused.doc["status"] == "waiting"  # 30 s still to go
        running = await client.job("sms").save()
        await client.call("jobs.claim", {"types": ["sms"], "limit": 1})
        with pytest.raises(LivejobsError) as refused:
            await running.set_delay(10)
        assert refused.value.code == "conflict" and "running" in refused.value.message
        for bad in ({}, {"delay": 5, "after": 1}, {"delay": -1}):
            with pytest.raises(LivejobsError) as invalid:
                await client.call("jobs.set_delay", {"id": "nope", **bad})
            assert invalid.value.code == "invalid", bad


async def test_bulk_for_managers_and_over_http(server: InProcessServer) -> None:
    async with server.client() as admin:
        ids = [(await admin.job("mail").save()).id for _ in range(2)]
        creator = await server.token("creator", "c1")
        async with server.client(creator) as client:
            with pytest.raises(LivejobsError) as bulk:
                await client.set_delay(ids, 60)
            assert bulk.value.code == "forbidden"
        answer = await admin.set_delay(ids, 60)
        assert answer["done"] == ids
        assert {d["status"] for d in await admin.get_jobs(ids)} == {"waiting"}
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        answer = await http.post(f"/api/jobs/{ids[0]}/set_delay", json={"delay": 0})
        assert answer.status_code == 200 and answer.json()["result"]["status"] == "ready"
        bad = await http.post(f"/api/jobs/{ids[0]}/set_delay", json={"delay": "soon"})
        assert bad.status_code == 400


def test_from_sync_code(sync_server: ProcessServer) -> None:
    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        job = client.job("mail").save()
        assert job.set_delay(3600).doc["status"] == "waiting"
        assert client.set_delay([job.id], 0)["done"] == [job.id]
        assert client.get_job(job.id)["status"] == "ready"
