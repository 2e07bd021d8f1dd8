"""One ``Client`` used as applications use it: several ``process_jobs`` at once, thousands of
concurrent calls, and data the SDK cannot encode."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from tests.helpers import running_worker, wait_status

SAVES = 5000


async def test_two_process_jobs_for_two_types_on_one_client_all_complete(server):
    async def handler(job):
        return {"type": job.doc["type"]}

    async with server.client() as client:
        async with (
            running_worker(client, "alpha", handler, concurrency=2),
            running_worker(client, "beta", handler, concurrency=2),
        ):
            jobs = [
                await client.job(t, {"n": n}).save() for n in range(4) for t in ("alpha", "beta")
            ]
            for job in jobs:  # on the old code the second worker replaced the first's handler
                done = await wait_status(client, job.id, "completed", timeout=10)
                assert done["result"] == {"type": done["type"]}


async def test_two_process_jobs_for_one_type_on_one_client_run_side_by_side(server):
    both_running = asyncio.Barrier(2)

    async def handler(job):
        await asyncio.wait_for(both_running.wait(), 10)  # one slot each: needs both workers
        return {"worker": job.doc["lease"]["worker"]}

    async with server.client() as client:
        async with (
            running_worker(client, "same", handler, worker_id="one"),
            running_worker(client, "same", handler, worker_id="two"),
        ):
            jobs = [await client.job("same", {"n": n}).save() for n in range(8)]
            done = [await wait_status(client, j.id, "completed", timeout=15) for j in jobs]
    assert {d["result"]["worker"] for d in done} == {"admin/one", "admin/two"}  # bound to the user


async def test_a_gather_of_5000_saves_all_succeed_within_the_servers_limit(server):
    async with server.client() as client:
        assert client.identity["max_pending_calls"] == 1000
        saved = await asyncio.gather(*(client.job("bulk", {"n": n}).save() for n in range(SAVES)))
        assert len({job.id for job in saved}) == SAVES
        counts = await client.call("jobs.counts", {"filter": {"type": "bulk"}})
    assert counts["type"] == {"bulk": SAVES}


async def test_unencodable_data_raises_and_an_unencodable_result_fails_the_job_no_leak(server):
    leaked: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: leaked.append(context))
    try:
        async with server.client() as client:
            try:
                await client.job("enc", {"bad": object()}).save()
            except TypeError as exc:
                assert "unsupported" in str(exc)
            else:
                raise AssertionError("saving unencodable data must raise")

            async def handler(job):
                return {"not json": object()}

            async with running_worker(client, "enc", handler):
                job = await client.job("enc", {}).save()
                failed = await wait_status(client, job.id, "failed", timeout=10)
            assert "unsupported" in failed["failures"][0]["error"]["message"]
            assert failed["failures"][0]["worker"] is not None
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert leaked == []
