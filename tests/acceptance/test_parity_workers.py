"""Issue 24, items 7 and 8, through the SDK against a live server: a worker paused and resumed
locally, success and failure hooks, cargo mode (``payload``), and a handler changing its
running job's data (also over HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from livejobs_sdk import CallError, Worker, WorkerJob
from tests.helpers import running_worker, wait_count, wait_for_doc, wait_status
from tests.servers import InProcessServer


@contextlib.asynccontextmanager
async def working(worker: Worker) -> AsyncIterator[Worker]:
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_paused_worker_keeps_its_running_job_and_is_pushed_nothing_until_resumed(
    server: InProcessServer,
) -> None:
    release = asyncio.Event()

    async def slow(job: WorkerJob) -> Any:
        if job.data["n"] == 0:
            await release.wait()
        return job.data["n"]

    async def other(job: WorkerJob) -> Any:
        return "other"

    async with server.client() as client, server.client() as second:
        one = client.worker("pausable", slow, concurrency=2, worker_id="one")
        async with working(one):
            first = await client.job("pausable", {"n": 0}).save()
            await wait_status(client, first.id, "running")
            await one.pause()
            listed = await client.call("workers.list")
            assert [w["paused"] for w in listed if w["worker_id"] == "admin/one"] == [True]
            waiting = await client.job("pausable", {"n": 1}).save()
            # the paused worker has a free slot, yet the job goes to the other worker
            async with running_worker(second, "pausable", other, worker_id="two"):
                done = await wait_status(client, waiting.id, "completed")
            assert done["worker"] == "admin/two" and done["result"] == "other"
            release.set()  # the job it held while paused completes on it
            assert (await wait_status(client, first.id, "completed"))["worker"] == "admin/one"
            await one.resume()
            later = await client.job("pausable", {"n": 2}).save()
            resumed = await wait_status(client, later.id, "completed")
    assert resumed["worker"] == "admin/one" and resumed["result"] == 2


async def test_success_and_failure_hooks_run_after_each_report(server: InProcessServer) -> None:
    seen: list[tuple[str, Any]] = []
    both = asyncio.Event()

    async def handler(job: WorkerJob) -> Any:
        if job.data["ok"]:
            return {"doubled": 2}
        raise ValueError("no good")

    def on_success(job: WorkerJob, result: Any) -> None:
        seen.append(("success", result))

    async def on_failure(job: WorkerJob, exc: BaseException) -> None:
        seen.append(("failure", repr(exc)))
        both.set()

    async with server.client() as client:
        options = {"on_success": on_success, "on_failure": on_failure}
        async with running_worker(client, "hooked", handler, **options):
            good = await client.job("hooked", {"ok": True}).save()
            await wait_status(client, good.id, "completed")
            await client.job("hooked", {"ok": False}).save()
            await asyncio.wait_for(both.wait(), 10)
    assert seen == [("success", {"doubled": 2}), ("failure", "ValueError('no good')")]


async def test_payload_hands_the_handler_up_to_n_jobs_and_reports_each(
    server: InProcessServer,
) -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def cargo(jobs: list[WorkerJob]) -> list[Any]:
        batches.append([job.data["n"] for job in jobs])
        if len(batches) == 1:
            await release.wait()  # the rest are pushed meanwhile and wait for one call
        return [{"n": job.data["n"] * 10} for job in jobs]

    async def broken(jobs: list[WorkerJob]) -> list[Any]:
        raise RuntimeError("the whole load fell off")

    async with server.client() as client:
        ids = await client.create_many([("cargo", {"n": n}) for n in range(3)])
        async with running_worker(client, "cargo", cargo, payload=3):
            await wait_count(client, {"type": "cargo", "status": "running"}, 3)
            release.set()
            done = [await wait_status(client, i, "completed") for i in ids]
        assert [d["result"] for d in done] == [{"n": 0}, {"n": 10}, {"n": 20}]
        assert sorted(n for batch in batches for n in batch) == [0, 1, 2]
        assert len(batches) < 3 and all(len(batch) <= 3 for batch in batches)

        bad = await client.create_many([("lost", {"n": n}) for n in range(2)])
        async with running_worker(client, "lost", broken, payload=5):
            failed = [await wait_status(client, i, "failed") for i in bad]
    assert all("fell off" in f["failures"][0]["error"]["message"] for f in failed)


async def test_a_handler_updates_its_jobs_data_and_subscribers_see_it(
    server: InProcessServer,
) -> None:
    go_on = asyncio.Event()

    async def handler(job: WorkerJob) -> Any:
        await job.update_data({"step": "fetched"}, merge=True)
        await go_on.wait()
        await job.update_data({"replaced": True})
        return job.data

    async with server.client() as client:
        async with running_worker(client, "evolving", handler):
            job = await client.job("evolving", {"url": "x"}).save()
            seen = await wait_for_doc(client, job.id, lambda d: d["data"].get("step") == "fetched")
            assert seen["status"] == "running" and seen["data"] == {"url": "x", "step": "fetched"}
            go_on.set()
            done = await wait_status(client, job.id, "completed")
        assert done["data"] == {"replaced": True} and done["result"] == {"replaced": True}
        with pytest.raises(CallError) as refused:  # no lease, no change
            await client.call("jobs.update_data", {"id": job.id, "lease": "x", "data": 1})
        assert refused.value.code == "conflict"


async def test_update_data_over_http_is_lease_checked(server: InProcessServer) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as http:
        job = (await http.post("/api/jobs", json={"type": "h", "data": [1]})).json()["result"]
        [claimed] = (await http.post("/api/claim", json={"types": ["h"]})).json()["result"]
        path = f"/api/jobs/{job['id']}/update_data"
        wrong = await http.post(path, json={"lease": "nope", "data": [2]})
        merged = await http.post(path, json={"lease": claimed["lease"]["token"], "data": [2]})
        bad_merge = await http.post(
            path, json={"lease": claimed["lease"]["token"], "data": {}, "merge": True}
        )
    assert wrong.status_code == 403
    assert merged.json()["result"]["data"] == [2]
    assert bad_merge.status_code == 400 and "merge" in bad_merge.json()["detail"]
