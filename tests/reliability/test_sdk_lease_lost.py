"""A handler whose job's lease the server no longer honours (it lapsed, and the job went to a
retry) is stopped, as a cancel stops it: when its next heartbeat is refused, or when the retry
is pushed to the same worker. It ran on beside the retry until its report was refused, and a
retry pushed to it waited for it for ever."""

from __future__ import annotations

import asyncio
from typing import Any

from livejobs_sdk import WorkerJob
from tests.helpers import wait_for_doc
from tests.servers import InProcessServer


async def _lapse(
    server: InProcessServer, retry_wait: float, *statuses: str
) -> tuple[list[int], list[bool], dict[str, Any]]:
    """A job whose first run waits until stopped; its lease lapses. Returns the attempts the
    handler began, whether the first run was told (``job.cancelled``) and cancelled, and the
    job once it reached one of ``statuses``."""
    began: list[int] = []
    first_run: list[bool] = []
    stopped = asyncio.Event()

    async def handler(job: WorkerJob) -> str:
        began.append(job.attempt)
        if len(began) > 1:
            return "retried"  # the retry, pushed to this worker
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            first_run.extend([job.cancelled.is_set(), True])
            stopped.set()
            raise
        return "never"

    async with server.client() as client:
        worker = client.worker("slow", handler, lease=1)
        running = asyncio.create_task(worker.run())
        try:
            job = await client.job("slow").retry(retries=3, wait=retry_wait).save()
            await wait_for_doc(client, job.id, lambda d: d["status"] == "running")
            while not began:
                await asyncio.sleep(0.01)  # the handler has the job
            server.clock.advance(5)  # the lease lapses: the job goes to a retry
            await asyncio.wait_for(stopped.wait(), 10)
            doc = await wait_for_doc(client, job.id, lambda d: d["status"] in statuses)
        finally:
            worker.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    return began, first_run, doc


async def test_a_handler_is_stopped_when_its_heartbeat_is_refused(
    clocked_server: InProcessServer,
) -> None:
    # the retry waits ten minutes of the server's clock: the next heartbeat is refused
    began, first_run, doc = await _lapse(clocked_server, 600, "waiting")
    assert began == [1] and first_run == [True, True]  # told, then cancelled
    assert [f["error"] for f in doc["failures"]] == ["lease expired: worker lost"]


async def test_a_handler_is_stopped_when_its_retry_is_pushed_to_the_same_worker(
    clocked_server: InProcessServer,
) -> None:
    began, first_run, doc = await _lapse(clocked_server, 0, "completed")
    assert began == [1, 2] and first_run == [True, True]
    assert (doc["attempts"], doc["result"]) == (2, "retried")  # it waited for the ended run
