"""A paused worker stays paused across a reconnect. The server starts a re-registered worker
unpaused (``worker.start`` has no pause), so between the SDK's ``worker.start`` and its
``worker.pause`` the server may push it jobs: the worker must hand those back at once (no
attempt counted), not run them while its user thinks it paused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from livejobs_sdk import Client, WorkerJob
from tests.helpers import wait_count
from tests.reliability.procs import Proxy
from tests.servers import InProcessServer

JOBS = 4


async def registered_paused(server: InProcessServer, worker_id: str, after: float = 0) -> float:
    """When the server lists ``worker_id`` registered after ``after`` and paused (the list is
    pushed at each change by ``workers.watch``): its registration's time."""
    async with connect(server.ws_url) as ws:
        auth = {"token": server.admin_token}
        await ws.send(json.dumps({"msg": "call", "id": 0, "method": "auth", "params": auth}))
        await ws.send(json.dumps({"msg": "call", "id": 1, "method": "workers.watch"}))
        while True:
            frame = json.loads(await ws.recv())
            workers = frame.get("workers") or (frame.get("result") if frame.get("id") == 1 else [])
            for worker in workers:
                if worker["worker_id"] == worker_id and worker["since"] > after:
                    if worker["paused"]:
                        return float(worker["since"])


async def test_a_paused_worker_runs_nothing_after_a_reconnect(server: InProcessServer) -> None:
    proxy = await Proxy(server.port).start()
    started: list[str] = []

    async def handler(job: WorkerJob) -> Any:
        started.append(job.id)
        await asyncio.Event().wait()

    try:
        async with server.client() as client, Client(proxy.ws_url, server.admin_token) as cut_off:
            worker = cut_off.worker("paused-across", handler, concurrency=JOBS, worker_id="p")
            working = asyncio.create_task(worker.run())
            await worker.pause()
            since = await asyncio.wait_for(registered_paused(server, "admin/p"), 10)
            ids = await client.create_many([("paused-across", n) for n in range(JOBS)])
            proxy.cut()
            await asyncio.wait_for(registered_paused(server, "admin/p", after=since), 10)
            ready = await wait_count(client, {"type": "paused-across", "status": "ready"}, JOBS)
            assert started == []
            assert sorted(doc["id"] for doc in ready) == sorted(ids)
            assert all(doc["attempts"] == 0 and not doc["failures"] for doc in ready), ready
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
    finally:
        await proxy.close()
