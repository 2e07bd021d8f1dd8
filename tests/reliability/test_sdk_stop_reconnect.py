"""A worker told to stop stays stopped when its connection comes back while it drains: the
reconnect must not register it again, or the server pushes it new jobs that its ``run()``,
about to return, neither waits for nor hands back."""

from __future__ import annotations

import asyncio
from typing import Any

from livejobs_sdk import Client, WorkerJob
from tests.helpers import running_worker, wait_status
from tests.reliability.procs import Proxy
from tests.servers import InProcessServer


async def test_a_stopping_worker_takes_no_job_after_a_reconnect(server: InProcessServer) -> None:
    proxy = await Proxy(server.port).start()
    started = asyncio.Event()
    cleaning = asyncio.Event()
    cleaned = asyncio.Event()

    async def draining(job: WorkerJob) -> Any:
        if job.data == "long":
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cleaning.set()
                await cleaned.wait()  # a slow cleanup, while the connection comes back
                raise
        return "the stopped worker"

    async def other(job: WorkerJob) -> Any:
        return "another worker"

    try:
        async with server.client() as client, Client(proxy.ws_url, server.admin_token) as cut_off:
            worker = cut_off.worker("stopping", draining)
            working = asyncio.create_task(worker.run())
            await client.job("stopping", "long").save()
            await asyncio.wait_for(started.wait(), 10)
            worker.stop()  # graceful: waits for the running handler
            proxy.cut()
            await asyncio.wait_for(cleaning.wait(), 10)
            assert await cut_off.counts() is not None  # connected again
            later = await client.job("stopping", "later").save()
            cleaned.set()
            await asyncio.wait_for(working, 10)
            async with running_worker(client, "stopping", other):
                done = await wait_status(client, later.id, "completed")
            assert done["result"] == "another worker"
    finally:
        await proxy.close()
