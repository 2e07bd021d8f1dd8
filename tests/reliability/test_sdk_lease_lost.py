"""A handler whose job's lease the server no longer honours (it lapsed, and the job went to a
retry) is stopped, as a cancel stops it: when its next heartbeat is refused, or when the retry
is pushed to the same worker. It ran on beside the retry until its report was refused, and a
retry pushed to it waited for it for ever."""

from __future__ import annotations

import asyncio

from tests.helpers import wait_for_doc
from tests.servers import InProcessServer


async def _lapse(server: InProcessServer, retry_wait: float) -> None:
    """A job whose handler runs until stopped; its lease lapses; the handler must stop."""
    started, stopped = asyncio.Event(), asyncio.Event()

    async def handler(job: object) -> None:
        if started.is_set():
            return  # the retry, pushed to this worker
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
            raise

    async with server.client() as client:
        worker = client.worker("slow", handler, lease=1)
        running = asyncio.create_task(worker.run())
        try:
            job = await client.job("slow").retry(retries=3, wait=retry_wait).save()
            await asyncio.wait_for(started.wait(), 10)
            server.clock.advance(5)  # the lease lapses: the job goes to a retry
            await wait_for_doc(
                client, job.id, lambda d: d["attempts"] == 2 or d["status"] == "waiting"
            )
            await asyncio.wait_for(stopped.wait(), 10)
        finally:
            worker.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_a_handler_is_stopped_when_its_heartbeat_is_refused(
    clocked_server: InProcessServer,
) -> None:
    await _lapse(clocked_server, retry_wait=600)  # the retry waits: the heartbeat is refused


async def test_a_handler_is_stopped_when_its_retry_is_pushed_to_the_same_worker(
    clocked_server: InProcessServer,
) -> None:
    await _lapse(clocked_server, retry_wait=0)
