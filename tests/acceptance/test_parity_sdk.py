"""Issue 24, item 13, through the SDK against a live server: the shared constants exported by
the SDK, ``get_jobs``, ``ready_jobs`` and ``get_work`` (a worker that pulls), and the sync
client's mirror of every method added for issue 24's worker items."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import livejobs_sdk
from livejobs.jobs.model import PRIORITIES, Status
from livejobs_sdk import SyncClient, SyncWorkerJob
from tests.helpers import wait_status
from tests.servers import InProcessServer, ProcessServer


def test_the_sdk_exports_the_servers_constants() -> None:
    from livejobs.jobs.model import BACKOFFS, LOG_LEVELS
    from livejobs_sdk import BACKOFF, LOG_LEVEL, PRIORITY, STATUS

    assert STATUS["COMPLETED"] == Status.COMPLETED and set(STATUS.values()) == set(Status)
    assert PRIORITY["CRITICAL"] == PRIORITIES["critical"] and len(PRIORITY) == len(PRIORITIES)
    assert tuple(LOG_LEVEL.values()) == LOG_LEVELS and tuple(BACKOFF.values()) == BACKOFFS
    assert {"STATUSES", "PRIORITIES", "LOG_LEVELS", "BACKOFFS"} <= set(livejobs_sdk.__all__)


async def test_get_jobs_ready_jobs_and_get_work(server: InProcessServer) -> None:
    async with server.client() as client:
        later = await client.job("pull", {"n": 1}).delay(3600).priority("high").save()
        now = await client.job("pull", {"n": 2}).save()
        other = await client.job("elsewhere").delay(3600).save()
        got = await client.get_jobs([now.id, "0" * 32, later.id, now.id])
        assert [d["id"] for d in got] == [now.id, later.id]  # in order, unknown ids left out
        assert got[1]["status"] == Status.WAITING

        readied = await client.ready_jobs(type="pull")
        assert readied == {"done": [later.id], "errors": {}}
        assert (await client.get_job(other.id))["status"] == Status.WAITING

        work = await client.get_work("pull", max_jobs=5)
        assert [job.data["n"] for job in work] == [1, 2]  # the high priority first
        assert all(job.doc["status"] == Status.RUNNING for job in work)
        for job in work:
            await job.done({"pulled": job.data["n"]})
        assert await client.get_work("pull") == []
        finished = await wait_status(client, later.id, Status.COMPLETED)
    assert finished["result"] == {"pulled": 1}


def test_the_sync_client_mirrors_the_new_methods(sync_server: ProcessServer) -> None:
    batches: list[int] = []
    successes: list[Any] = []
    updated = threading.Event()

    def batch(jobs: list[SyncWorkerJob]) -> list[Any]:
        batches.append(len(jobs))
        for job in jobs:
            job.update_data({"seen": True}, merge=True)
        updated.set()
        return [job.data for job in jobs]

    with SyncClient(sync_server.ws_url, sync_server.admin_token) as client:
        waiting = client.job("sync-pull").delay(3600).save()
        assert [d["id"] for d in client.get_jobs([waiting.id])] == [waiting.id]
        assert client.ready_jobs([waiting.id])["done"] == [waiting.id]
        [pulled] = client.get_work("sync-pull", 3)
        pulled.done(7)
        assert client.get_job(waiting.id)["result"] == 7

        hook = {"on_success": lambda job, result: successes.append(result)}
        with client.worker("sync-cargo", batch, payload=2, **hook) as worker:
            worker.pause()
            worker.resume()
            job = client.job("sync-cargo", {"n": 1}).save()
            assert job.result(timeout=10) == {"n": 1, "seen": True}
    assert updated.is_set() and batches == [1] and successes == [{"n": 1, "seen": True}]


async def test_job_builders_created_together_become_their_jobs(server: InProcessServer) -> None:
    """``create_many`` and ``fan_in`` fill in the ``Job`` builders they were given, as ``save``
    does, so that ``builder.result()`` works after a batch too."""
    async with server.client() as client:
        parts = [client.job("part", {"n": n}).priority("high") for n in range(3)]
        ids = await client.create_many([*parts, ("plain", None)])
        assert [part.id for part in parts] == ids[:3]
        assert {part.status for part in parts} == {"ready"} and parts[0].data == {"n": 0}
        then = client.job("sum", None)
        *_, then_id = await client.fan_in([client.job("part", {"n": 9})], then)
        assert (then.id, then.status) == (then_id, "waiting")

        async def handler(job: Any) -> int:
            return int(job.data["n"]) * 2

        worker = client.worker("part", handler)
        running = asyncio.create_task(worker.run())
        try:
            assert await parts[2].result(timeout=10) == 4
        finally:
            worker.stop()
            await running


def test_sync_job_builders_created_together_become_their_jobs(sync_server: ProcessServer) -> None:
    with SyncClient(sync_server.ws_url, token=sync_server.admin_token) as client:
        builders = [client.job("part", {"n": n}) for n in range(2)]
        ids = client.create_many(builders)
        assert [b.id for b in builders] == ids and builders[0].status == "ready"
