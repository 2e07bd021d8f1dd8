"""``workers.watch``: the workers of a server with the jobs they hold and their leases, pushed
whenever they change (a worker starts or leaves, a job starts or ends, a heartbeat), not
polled; managers and admins only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from livejobs_sdk import CallError
from tests.helpers import running_worker


class Watcher:
    """A raw WebSocket client that called ``workers.watch``: its pushed lists, in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def call(self, call_id: int, method: str, params: dict[str, Any]) -> Any:
        await self.ws.send(
            json.dumps({"msg": "call", "id": call_id, "method": method, "params": params})
        )
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if frame.get("id") == call_id:
                return frame["result"]

    async def until(self, check) -> list[dict[str, Any]]:
        """The next pushed list for which ``check`` holds."""
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if frame.get("msg") == "workers" and check(frame["workers"]):
                return frame["workers"]


async def test_workers_and_their_jobs_are_pushed_as_they_change(clocked_server):
    server = clocked_server
    beat, release = asyncio.Event(), asyncio.Event()

    async def handler(job):
        await beat.wait()
        await job.heartbeat()
        await release.wait()
        return "ok"

    async with websockets.connect(server.ws_url) as ws, server.client() as admin:
        watcher = Watcher(ws)
        await watcher.call(1, "auth", {"token": server.admin_token})
        assert await watcher.call(2, "workers.watch", {}) == []
        async with (
            server.client() as worker,
            running_worker(worker, "mail", handler, concurrency=2),
        ):
            [started] = await watcher.until(lambda ws: len(ws) == 1)
            assert started["types"] == ["mail"] and started["jobs"] == []
            job = await admin.job("mail", {"n": 1}).save()
            [busy] = await watcher.until(lambda ws: ws and ws[0]["jobs"])
            [held] = busy["jobs"]
            assert (held["id"], held["type"]) == (job.id, "mail")
            assert held["expires"] > held["started"]
            assert busy["running"] == [job.id]
            server.clock.advance(5)
            beat.set()  # a heartbeat moves the lease: pushed too
            await watcher.until(lambda ws: ws and ws[0]["jobs"][0]["expires"] > held["expires"])
            release.set()
            await watcher.until(lambda ws: ws and not ws[0]["jobs"])
        await watcher.until(lambda ws: ws == [])


async def test_only_observers_may_watch_workers(server):
    token = await server.token("creator", "ann")
    async with server.client(token) as creator:
        with pytest.raises(CallError) as info:
            await creator.call("workers.watch", {})
    assert info.value.code == "forbidden"
