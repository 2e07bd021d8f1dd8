"""A paused worker stays paused across a reconnect: the SDK registers it again with
``worker.start``'s ``paused``, so the server pushes it nothing until it resumes (a server
without that param starts it unpaused, and a job pushed before the SDK's ``worker.pause`` is
handed back at once, no attempt counted)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect

from livejobs.methods import METHODS
from livejobs.params import Params, WorkerStart
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


async def test_a_worker_may_start_paused(server: InProcessServer) -> None:
    """``worker.start`` with ``paused``: registered paused, so nothing is pushed before the
    client says so; ``worker.resume`` then pushes the waiting job as a first attempt."""
    async with server.client() as client:
        [job_id] = await client.create_many([("starts-paused", 1)])
    async with connect(server.ws_url) as ws:

        async def call(call_id: int, method: str, params: dict[str, Any]) -> Any:
            frame = {"msg": "call", "id": call_id, "method": method, "params": params}
            await ws.send(json.dumps(frame))
            while True:
                reply = json.loads(await ws.recv())
                assert reply.get("msg") != "job" or method == "worker.resume", reply
                if reply.get("id") == call_id:
                    assert "error" not in reply, reply
                    return reply.get("result")

        await call(0, "auth", {"token": server.admin_token})
        params = {"types": ["starts-paused"], "worker_id": "sp", "paused": True}
        await call(1, "worker.start", params)
        [listed] = await call(2, "workers.list", {})
        assert listed["paused"] and listed["jobs"] == []
        await call(3, "worker.resume", {})
        while (frame := json.loads(await ws.recv())).get("msg") != "job":
            pass
        assert frame["job"]["id"] == job_id and frame["job"]["attempts"] == 1


class WorkerStartBeforePaused(Params):
    """``worker.start``'s params on a server from before ``paused``."""

    types: list[str]
    concurrency: int = 1
    prefetch: int = 0
    worker_id: str | None = None
    lease: float | None = None


async def test_a_paused_worker_on_a_server_without_the_param(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a server refuses ``paused`` with ``invalid``: the SDK starts the worker without it
    and pauses it right after, as before."""
    _, handler = METHODS["worker.start"]

    async def start_before_paused(ctx: Any, params: WorkerStartBeforePaused) -> Any:
        return await handler(ctx, WorkerStart(**msgspec.structs.asdict(params)))

    monkeypatch.setitem(METHODS, "worker.start", (WorkerStartBeforePaused, start_before_paused))
    async with server.client() as client:
        worker = client.worker("old-server", lambda job: None, worker_id="old")
        await worker.pause()
        working = asyncio.create_task(worker.run())
        try:
            since = await asyncio.wait_for(registered_paused(server, "admin/old"), 10)
            assert since > 0
            listed = {w["worker_id"]: w for w in await client.call("workers.list")}
            assert listed["admin/old"]["paused"] is True and listed["admin/old"]["running"] == []
        finally:
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
