"""Dependencies beyond "wait for": results flow to dependants, a fan-in is one call, and the
dependency options of job-collection (restart dependents, cancel antecedents, force ready)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from livejobs_sdk import CallError, Client, Fatal, SyncClient, SyncWorkerJob, WorkerJob
from tests.helpers import running_worker, wait_status
from tests.servers import ADMIN_TOKEN, InProcessServer


async def _doubling(job: WorkerJob) -> Any:
    return job.data * 2


async def test_a_fan_in_gets_its_dependencies_results_with_its_work(server: InProcessServer):
    seen: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def total(job: WorkerJob) -> Any:
        seen.set_result(job.dependency_results)
        return sum(job.dependency_results.values())

    async with server.client() as client:
        ids = await client.fan_in([client.job("part", n) for n in (1, 2, 3)], ("total", None))
        parts, then = ids[:-1], ids[-1]
        assert len(parts) == 3 and (await client.get_job(then))["depends"] == parts
        worker_token = await server.token("worker", "reader", types=["total"])
        async with server.client(worker_token) as reader:  # not its holder: no results
            assert "results" not in await reader.get_job(then)
        async with running_worker(client, "part", _doubling):
            assert (await wait_status(client, then, "ready"))["results"] == dict(
                zip(parts, [2, 4, 6], strict=True)
            )
        async with running_worker(client, "total", total):
            assert await (await client.job_handle(then)).result(timeout=10) == 12
        assert await seen == dict(zip(parts, [2, 4, 6], strict=True))


async def test_a_dependency_already_completed_passes_its_result_too(server: InProcessServer):
    async with server.client() as client:
        first = await client.job("part", 5).save()
        async with running_worker(client, "part", _doubling):
            assert await first.result(timeout=10) == 10
        later = await client.job("later").depends(first).save()
        assert later.status == "ready" and later.doc["results"] == {first.id: 10}


async def test_a_fan_in_over_http_and_its_results_in_an_http_claim(server: InProcessServer):
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        body = {"jobs": [{"type": "part", "data": 1}], "then": {"type": "sum", "data": None}}
        reply = await http.post("/api/jobs/batch", json=body)
        assert reply.status_code == 201, reply.text
        part, then = reply.json()["result"]["ids"]
        claimed = (await http.post("/api/claim", json={"types": ["part"]})).json()["result"]
        lease = claimed[0]["lease"]["token"]
        done = await http.post(f"/api/jobs/{part}/done", json={"lease": lease, "result": "x"})
        assert done.status_code == 200, done.text
        async with server.client() as client:
            await wait_status(client, then, "ready")
        claimed = (await http.post("/api/claim", json={"types": ["sum"]})).json()["result"]
        assert claimed[0]["id"] == then and claimed[0]["results"] == {part: "x"}


async def test_a_fan_in_refuses_keyed_jobs(server: InProcessServer):
    async with server.client() as client:
        with pytest.raises(CallError) as info:
            await client.fan_in([client.job("part", 1).key("k")], ("sum", None))
        assert info.value.code == "invalid"


async def _failing_chain(client: Client) -> tuple[Any, Any, Any]:
    """first ← second ← third, with ``first`` failed fatally (so both others cancelled)."""
    first = await client.job("step", "first").save()
    second = await client.job("step", "second").depends(first).save()
    third = await client.job("step", "third").depends(second).save()

    async def fatal(job: WorkerJob) -> Any:
        raise Fatal("no")

    async with running_worker(client, "step", fatal):
        await wait_status(client, first.id, "failed")
    doc = await wait_status(client, third.id, "cancelled")
    assert doc["reason"] == f"dependency {second.id} cancelled"
    return first, second, third


async def test_restart_with_dependents_brings_back_what_its_failure_cancelled(
    server: InProcessServer,
):
    async with server.client() as client:
        first, second, third = await _failing_chain(client)
        await first.restart(dependents=True)
        assert (await client.get_job(second.id))["status"] == "waiting"
        assert (await client.get_job(third.id))["status"] == "waiting"

        async def step(job: WorkerJob) -> Any:
            return job.data

        async with running_worker(client, "step", step):
            assert await third.result(timeout=10) == "third"


async def test_restart_without_dependents_leaves_them_cancelled(server: InProcessServer):
    async with server.client() as client:
        first, second, _ = await _failing_chain(client)
        await first.restart()
        assert (await client.get_job(second.id))["status"] == "cancelled"


async def test_cancel_with_antecedents_cancels_what_it_waits_for(server: InProcessServer):
    async with server.client() as client:
        root = await client.job("step").delay(3600).save()
        middle = await client.job("step").depends(root).save()
        leaf = await client.job("step").depends(middle).save()
        other = await client.job("step").delay(3600).save()
        await leaf.cancel(antecedents=True)
        assert leaf.status == "cancelled"
        for job in (middle, root):
            assert (await client.get_job(job.id))["status"] == "cancelled"
        assert (await client.get_job(other.id))["status"] == "waiting"


async def test_ready_force_runs_a_job_despite_unfinished_dependencies(server: InProcessServer):
    async with server.client() as client:
        blocker = await client.job("step").delay(3600).save()
        held = await client.job("held").depends(blocker).save()
        await held.ready()
        assert held.status == "waiting"  # without force, its dependency still holds it
        await held.ready(force=True)
        assert held.status == "ready" and held.doc["depends"] == []
        assert (await client.get_job(blocker.id))["status"] == "waiting"


async def test_dependency_options_over_http(server: InProcessServer):
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with server.client() as client:
        blocker = await client.job("step").delay(3600).save()
        held = await client.job("held").depends(blocker).save()
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        reply = await http.post(f"/api/jobs/{held.id}/ready", json={"force": True})
        assert reply.status_code == 200 and reply.json()["result"]["status"] == "ready"
        reply = await http.post(f"/api/jobs/{held.id}/cancel", json={"antecedents": True})
        assert reply.json()["result"]["status"] == "cancelled"
        reply = await http.post(f"/api/jobs/{blocker.id}/pause", json={"force": True})
        assert reply.status_code == 400  # an option of another action is refused


def test_the_sync_client_mirrors_fan_in_results_and_dependency_options(sync_server):
    def part(job: SyncWorkerJob) -> Any:
        return job.data + 1

    def total(job: SyncWorkerJob) -> Any:
        return sorted(job.dependency_results.values())

    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        ids = client.fan_in([client.job("part", 1), ("part", 2)], client.job("total"))
        with client.worker("part", part), client.worker("total", total):
            assert client.wait_finished(ids[-1], timeout=10)["result"] == [2, 3]
        blocker = client.job("step").delay(3600).save()
        held = client.job("held").depends(blocker).save().ready(force=True)
        assert held.status == "ready"
        leaf = client.job("step").depends(client.job("step").delay(3600).save()).save()
        assert leaf.cancel(antecedents=True).status == "cancelled"
        assert client.set_type_retry("mail", {"retries": 2})["retry"] == {"retries": 2}
        assert client.job("mail").save().doc["retry"]["retries"] == 2  # type: ignore[index]
        until = client.job("x").retry(retries=1, until=time.time() + 60).save()
        assert until.doc["retry"]["until"] > time.time()  # type: ignore[index]
